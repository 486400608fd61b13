// Package tlsconf builds the crypto/tls configs of tillgate's links from
// PEM files, with one policy for all of them: TLS 1.2 at least, TLS 1.3
// preferred (Go offers and picks it first), and for TLS 1.2 only ECDHE
// key exchange with AEAD ciphers (forward secrecy, no CBC, no RSA key
// transport). It also tells a failed handshake's cause, so that an error
// can say which setting to fix and a metric can count it by reason.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Suites are the TLS 1.2 cipher suites allowed (TLS 1.3's are fixed by
// Go and all modern).
var Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// base is the policy every config starts from.
func base() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: Suites}
}

// Client is the client side of a link: whom to trust and who we are.
type Client struct {
	// CAFile holds the CA certificates (PEM) the server's certificate
	// must chain to. Empty: the system's roots.
	CAFile string
	// CertFile and KeyFile are our client certificate and key (PEM), for
	// a server that requires one; both or neither.
	CertFile, KeyFile string
	// ServerName is the name the server's certificate must carry; empty:
	// the host of the address dialled.
	ServerName string
}

// Config reads the files. Errors name the file and what is wrong with it.
func (c Client) Config() (*tls.Config, error) {
	cfg := base()
	cfg.ServerName = c.ServerName
	if c.CAFile != "" {
		pool, err := LoadPool(c.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, fmt.Errorf("tls: cert_file %q and key_file %q: give both or neither", c.CertFile, c.KeyFile)
	}
	if c.CertFile != "" {
		cert, err := LoadKeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Server is the server side of a link.
type Server struct {
	// CertFile and KeyFile are the server's certificate (chain) and key.
	CertFile, KeyFile string
	// ClientCAFile, if set, holds the CAs a client certificate must chain
	// to, and makes one required: a client without it fails the
	// handshake.
	ClientCAFile string
}

// Config reads the files. Errors name the file and what is wrong with it.
func (s Server) Config() (*tls.Config, error) {
	if s.CertFile == "" || s.KeyFile == "" {
		return nil, fmt.Errorf("tls: cert_file %q and key_file %q: a TLS server needs both", s.CertFile, s.KeyFile)
	}
	cert, err := LoadKeyPair(s.CertFile, s.KeyFile)
	if err != nil {
		return nil, err
	}
	cfg := base()
	cfg.Certificates = []tls.Certificate{cert}
	if s.ClientCAFile != "" {
		pool, err := LoadPool(s.ClientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// LoadPool reads a PEM file of CA certificates.
func LoadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls: ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tls: ca_file %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// LoadKeyPair reads a certificate and its key.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: cert_file %s, key_file %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}
