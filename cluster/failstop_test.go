package cluster

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// nopSM applies nothing; enough for a node whose log is under test.
type nopSM struct{}

func (nopSM) ApplyBatch(indexes []uint64, _ [][]byte) []any { return make([]any, len(indexes)) }
func (nopSM) Snapshot() (io.ReadCloser, error)              { return io.NopCloser(bytes.NewReader(nil)), nil }
func (nopSM) Restore(rc io.ReadCloser) error                { return rc.Close() }

// TestLogStoreFailureStopsRaft (FAULTS.md scenario 12): when a log write
// fails, the node shuts Raft down instead of carrying on.
func TestLogStoreFailureStopsRaft(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ID, cfg.Dir, cfg.BindAddr, cfg.Bootstrap = "n1", t.TempDir(), "127.0.0.1:0", true
	c, err := Open(cfg, nopSM{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for !c.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := c.Apply(context.Background(), []byte("ok")); err != nil {
		t.Fatal(err)
	}
	c.logStore.wmu.Lock()
	c.logStore.tail.f.Close() // the next write fails
	c.logStore.wmu.Unlock()
	if _, err := c.Apply(context.Background(), []byte("lost")); err == nil {
		t.Fatal("Apply succeeded on a failed log store")
	} else {
		t.Logf("apply: %v", err)
	}
	// Raft shuts down asynchronously (from the leadership watcher). Each
	// try is bounded on its own, so that one Apply queued just before the
	// shutdown cannot use up the bound of the whole wait, which only keeps
	// a hung test from hanging forever.
	deadline = time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Apply(ctx, []byte("after"))
		cancel()
		if errors.Is(err, ErrClosed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Apply still gets %v after the log store failed, want ErrClosed", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := c.Status().Role; r != RoleShutdown {
		t.Fatalf("role %s after the log store failed, want %s", r, RoleShutdown)
	}
	if err := c.Close(); err != nil {
		t.Logf("close: %v", err)
	}
}
