package failover

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestTLSFilesRefusals: a TLS setting that cannot work is a config error
// saying which.
func TestTLSFilesRefusals(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]TLSFiles{
		"missing CA":      {CAFile: filepath.Join(dir, "none.pem")},
		"CA not PEM":      {CAFile: notPEM},
		"cert, no key":    {CertFile: notPEM},
		"unreadable pair": {CertFile: notPEM, KeyFile: notPEM},
	} {
		if _, err := f.Load(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	cfg, err := TLSFiles{}.Load()
	if err != nil || cfg.RootCAs != nil || len(cfg.Certificates) != 0 || cfg.ClientSessionCache == nil {
		t.Fatalf("no files: %+v, %v; want the system roots, no certificate, a session cache", cfg, err)
	}
}
