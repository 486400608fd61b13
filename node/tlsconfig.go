package node

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/tillgate/tillgate/internal/tlsconf"
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

// load reads the files into cluster.Config.TLS's form: the cluster CA as
// both the roots and the client CAs.
func (r RaftTLSConfig) load() (*tls.Config, error) {
	cfg, err := tlsconf.Client{CAFile: r.CAFile, CertFile: r.CertFile, KeyFile: r.KeyFile}.Config()
	if err != nil {
		return nil, fmt.Errorf("raft.tls: %w", err)
	}
	cfg.ClientCAs = cfg.RootCAs
	return cfg, nil
}

// relayTLS is how a standby dials the active's register port when it
// speaks TLS: with this node's register certificate (a node is a client
// of its peers' listeners, which may require one), verifying the active's
// against the register client CA, so the nodes' register certificates
// chain to it. nil when the listener is plain TCP.
func relayTLS(f RegisterTLSConfig) *tlsconf.Client {
	if !f.Enabled() {
		return nil
	}
	return &tlsconf.Client{CAFile: f.ClientCAFile, CertFile: f.CertFile, KeyFile: f.KeyFile}
}
