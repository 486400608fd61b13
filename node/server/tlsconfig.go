package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
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

// Load reads the files into the listener's tls.Config: TLS 1.2 at least
// (1.3 is preferred: Go picks the highest both sides have), and for 1.2
// only ECDHE key exchange with AEAD ciphers (1.3's suites are all of that
// kind and not configurable).
func (f TLSFiles) Load() (*tls.Config, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("register_tls: certificate %s, key %s: %w", f.CertFile, f.KeyFile, err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: ModernSuites(),
		ClientAuth:   tls.NoClientCert,
	}
	if f.ClientCAFile != "" {
		if cfg.ClientCAs, err = LoadCAs(f.ClientCAFile); err != nil {
			return nil, fmt.Errorf("register_tls: client_ca_file: %w", err)
		}
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if f.RequireClientCert {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return cfg, nil
}

// ModernSuites are the TLS 1.2 cipher suites tillgate accepts: forward
// secret (ECDHE) and authenticated encryption (GCM, ChaCha20-Poly1305).
func ModernSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// LoadCAs reads a PEM file of CA certificates into a pool.
func LoadCAs(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}
