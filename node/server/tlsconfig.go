package server

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/tillgate/tillgate/internal/tlsconf"
)

// TLSFiles is the register listener's TLS, as files: with a certificate
// the register port speaks TLS only.
type TLSFiles struct {
	// CertFile and KeyFile are the node's certificate (with its chain)
	// and key, PEM. Empty: the listener is plain TCP.
	CertFile, KeyFile string
	// ClientCAFile holds the CA(s) that register certificates chain to.
	// Without it no client certificate is asked for.
	ClientCAFile string
	// RequireClientCert refuses, at the handshake, a register without a
	// certificate of ClientCAFile. Without it a certificate is verified
	// if one is given (its CommonName then names the register's store).
	RequireClientCert bool
}

// Enabled reports whether the listener speaks TLS.
func (f TLSFiles) Enabled() bool { return f.CertFile != "" || f.KeyFile != "" }

// Validate says which setting to fix, without reading the files.
func (f TLSFiles) Validate() error {
	switch {
	case !f.Enabled() && (f.ClientCAFile != "" || f.RequireClientCert):
		return errors.New("register_tls: client_ca_file and require_client_cert need cert_file and key_file")
	case f.Enabled() && (f.CertFile == "" || f.KeyFile == ""):
		return errors.New("register_tls: cert_file and key_file go together")
	case f.RequireClientCert && f.ClientCAFile == "":
		return errors.New("register_tls: require_client_cert needs client_ca_file, the CA register certificates chain to")
	}
	return nil
}

// Load reads the files into the listener's tls.Config, with tlsconf's
// policy (TLS 1.2 at least, 1.3 preferred, modern suites).
func (f TLSFiles) Load() (*tls.Config, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	cfg, err := tlsconf.Server{CertFile: f.CertFile, KeyFile: f.KeyFile, ClientCAFile: f.ClientCAFile}.Config()
	if err != nil {
		return nil, fmt.Errorf("register_tls: %w", err)
	}
	if f.ClientCAFile != "" && !f.RequireClientCert {
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}
