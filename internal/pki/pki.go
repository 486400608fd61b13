// Package pki makes the certificates that tillgate's TLS links use, for
// the demo, tillbench and tests, and for `tillgate certs` on a first
// install: a cluster CA, and certificates it issues to nodes, registers,
// acquirer hosts and operators. ECDSA P-256, ten years for the CA, two
// for the rest. Production keys may come from any CA: tillgate only
// reads PEM files.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority that can issue certificates.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	key     *ecdsa.PrivateKey
}

// NewCA makes a self-signed CA named name.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: ca key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"tillgate"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: ca: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: ca: %w", err)
	}
	return &CA{Cert: cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), key: key}, nil
}

// Pool is a pool holding the CA alone: what a peer's certificate must
// chain to.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Leaf is an issued certificate and its key, as PEM.
type Leaf struct {
	CertPEM, KeyPEM []byte
}

// TLS is the leaf as a certificate for a tls.Config.
func (l Leaf) TLS() (tls.Certificate, error) {
	c, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: %w", err)
	}
	return c, nil
}

// Issue makes a certificate for name, valid for the hosts given (DNS
// names or IP addresses, for the server side), usable as both a TLS server
// and a TLS client (a node is both, to its peers).
func (ca *CA) Issue(name string, hosts ...string) (Leaf, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Leaf{}, fmt.Errorf("pki: key of %s: %w", name, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"tillgate"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return Leaf{}, fmt.Errorf("pki: certificate of %s: %w", name, err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return Leaf{}, fmt.Errorf("pki: key of %s: %w", name, err)
	}
	return Leaf{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
	}, nil
}

// WriteFiles writes dir/name.crt and dir/name.key (0600).
func (l Leaf) WriteFiles(dir, name string) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	err = errors.Join(os.WriteFile(certFile, l.CertPEM, 0o644), os.WriteFile(keyFile, l.KeyPEM, 0o600))
	if err != nil {
		return "", "", fmt.Errorf("pki: write %s: %w", name, err)
	}
	return certFile, keyFile, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// Files are where WriteCluster put a local cluster's TLS files.
type Files struct {
	Dir string
	CA  string // ca.pem: the CA every certificate below chains to
	// Register is the registers' certificate (register.pem,
	// register-key.pem), its CommonName the store they are in.
	Register Pair
	// Nodes are the nodes' certificates (NODE.pem, NODE-key.pem), by node
	// id: each node's register listener and Raft (and admin API).
	Nodes map[string]Pair
}

// Pair is a certificate file and its key file.
type Pair struct{ Cert, Key string }

// LocalHosts are the names of a cluster on loopback.
var LocalHosts = []string{"localhost", "127.0.0.1"}

// WriteCluster makes a CA and writes, into dir, its certificate, a
// register certificate naming store and one certificate per node, all
// for LocalHosts. The CA's key is not written: nothing more can be
// issued, and nothing that could is left on disk.
func WriteCluster(dir, store string, nodes []string) (*Files, error) {
	// Others may read the directory: the keys are 0600, and the nodes may
	// run as users of their own (tillbench), each owning its key.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	ca, err := NewCA("tillgate local CA")
	if err != nil {
		return nil, err
	}
	f := &Files{Dir: dir, CA: filepath.Join(dir, "ca.pem"), Nodes: map[string]Pair{}}
	if err := os.WriteFile(f.CA, ca.CertPEM, 0o644); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	write := func(cn, name string) (Pair, error) {
		leaf, err := ca.Issue(cn, LocalHosts...)
		if err != nil {
			return Pair{}, err
		}
		return leaf.WritePEM(dir, name)
	}
	if f.Register, err = write(store, "register"); err != nil {
		return nil, err
	}
	for _, id := range nodes {
		if f.Nodes[id], err = write(id, id); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// WritePEM writes dir/name.pem and dir/name-key.pem (0600).
func (l Leaf) WritePEM(dir, name string) (Pair, error) {
	p := Pair{Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}
	if err := errors.Join(os.WriteFile(p.Cert, l.CertPEM, 0o644), os.WriteFile(p.Key, l.KeyPEM, 0o600)); err != nil {
		return Pair{}, fmt.Errorf("pki: write %s: %w", name, err)
	}
	return p, nil
}

// WriteFile writes the CA's certificate (not its key) to dir/name.crt,
// for the peers that must trust it.
func (ca *CA) WriteFile(dir, name string) (string, error) {
	file := filepath.Join(dir, name+".crt")
	if err := os.WriteFile(file, ca.CertPEM, 0o644); err != nil {
		return "", fmt.Errorf("pki: write %s: %w", name, err)
	}
	return file, nil
}

// IssueFiles issues a certificate (see Issue) and writes it to
// dir/name.crt and dir/name.key.
func (ca *CA) IssueFiles(dir, name string, hosts ...string) (certFile, keyFile string, err error) {
	leaf, err := ca.Issue(name, hosts...)
	if err != nil {
		return "", "", err
	}
	return leaf.WriteFiles(dir, name)
}
