package node

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/tillgate/tillgate/node/server"
)

// RegisterTLSConfig is the register listener's TLS, as files: with a
// certificate the register port speaks TLS only.
type RegisterTLSConfig = server.TLSFiles

// RaftTLSConfig carries Raft over mutual TLS when its three files are
// set: every connection, in and out, presents CertFile and must be
// answered by a certificate of CAFile. The node's certificate must name
// its Raft address (an IP address or a DNS name) and allow both server
// and client use.
type RaftTLSConfig struct {
	CAFile, CertFile, KeyFile string
}

// Enabled reports whether Raft runs over TLS.
func (r RaftTLSConfig) Enabled() bool { return r.CAFile != "" || r.CertFile != "" || r.KeyFile != "" }

// Validate says which setting to fix, without reading the files.
func (r RaftTLSConfig) Validate() error {
	if r.Enabled() && (r.CAFile == "" || r.CertFile == "" || r.KeyFile == "") {
		return errors.New("raft.tls: ca_file, cert_file and key_file go together: Raft is either all mutual TLS or plain")
	}
	return nil
}

// load reads the files into cluster.Config.TLS's form.
func (r RaftTLSConfig) load() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(r.CertFile, r.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("raft.tls: certificate %s, key %s: %w", r.CertFile, r.KeyFile, err)
	}
	pool, err := server.LoadCAs(r.CAFile)
	if err != nil {
		return nil, fmt.Errorf("raft.tls: ca_file: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: pool, ClientCAs: pool,
		MinVersion: tls.VersionTLS12, CipherSuites: server.ModernSuites(),
	}, nil
}

// relayTLS is how a standby dials the active's register port when it
// speaks TLS: with this node's register certificate (a node is a client
// of its peers' listeners, which may require one), verifying the active's
// against the register client CA, so the nodes' register certificates
// chain to it. nil when the listener is plain TCP.
func relayTLS(listener *tls.Config, f RegisterTLSConfig) (*tls.Config, error) {
	if listener == nil {
		return nil, nil
	}
	cfg := &tls.Config{Certificates: listener.Certificates, MinVersion: tls.VersionTLS12, CipherSuites: server.ModernSuites()}
	if f.ClientCAFile != "" {
		var err error
		if cfg.RootCAs, err = server.LoadCAs(f.ClientCAFile); err != nil {
			return nil, fmt.Errorf("register_tls: client_ca_file: %w", err)
		}
	}
	return cfg, nil
}
