package systemtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/internal/pki"
	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/wire"
)

// startCNPCluster starts, in dir, acqsim (acq, with its address, data directory,
// dialect and logger filled in) and three nodes serving the payments API
// beside it (every link over TLS with certs, if not nil), at Raft timings
// a loaded 2-core box does not mistake for a dead leader, and returns them
// with the leader's index.
func startCNPCluster(t *testing.T, dir string, acq sim.Config, certs *pki.Files) (*sim.Sim, *localcluster.Cluster, int) {
	t.Helper()
	acq.Addr, acq.DataDir, acq.Dialect, acq.Logger = "127.0.0.1:0", filepath.Join(dir, "acqsim"), wire.DefaultDialect(), testLogger(t)
	s, err := sim.Open(acq)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cl, err := localcluster.Start(localcluster.Options{Dir: dir, AcquirerAddr: s.Addr(), APIBase: -1, TLS: certs, Logger: testLogger(t),
		Tune: func(c *node.Config) {
			c.Raft.HeartbeatTimeout, c.Raft.ElectionTimeout, c.Raft.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	leader, err := cl.WaitLeader(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s, cl, leader
}

// cnpMerchant is the merchant id (named name) with the tests' API key,
// cnpKey.
func cnpMerchant(id, name string) adminapi.MerchantAdd {
	h := sha256.Sum256([]byte(cnpKey))
	return adminapi.MerchantAdd{ID: id, Name: name, KeyName: "k", KeyHash: hex.EncodeToString(h[:])}
}

// acqsimExport is a day close's export from acqsim s: its settlement
// file of the window, as the acquirer would send it.
func acqsimExport(s *sim.Sim) func(context.Context, string, time.Time, time.Time) ([]byte, error) {
	return func(_ context.Context, _ string, from, to time.Time) ([]byte, error) {
		rows, err := s.Settlement(from, to)
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		err = sim.WriteSettlementCSV(&b, rows, from, to)
		return b.Bytes(), err
	}
}
