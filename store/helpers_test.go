package store

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

const (
	testPAN      = "4111111111111111"
	testTerminal = "TERM0001"
	testMerchant = "MERCHANT0000001"
	testDE7      = "1122120000"
	testDay      = "20251122"
	// testEpoch is 2025-11-22 12:00:00 UTC in unix nanos.
	testEpoch = int64(1763812800) * int64(time.Second)
)

// mustOpen opens a store in a fresh directory; fsync stays on, as in
// production, unless noSync.
func mustOpen(tb testing.TB, noSync bool) *Store {
	tb.Helper()
	return mustOpenPath(tb, filepath.Join(tb.TempDir(), "state.db"), noSync)
}

func mustOpenPath(tb testing.TB, path string, noSync bool) *Store {
	tb.Helper()
	s, err := Open(path, Options{NoSync: noSync})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func mustVault(tb testing.TB) *Vault {
	tb.Helper()
	v, err := NewVault(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func stanOf(n int) string { return fmt.Sprintf("%06d", n) }

func idOf(n int) string { return testTerminal + stanOf(n) + testDE7 }

// newTxn is an INTENT as the node builds it: STAN n, sealed card.
func newTxn(tb testing.TB, v *Vault, n int, typ TxnType, amount int64) *Txn {
	tb.Helper()
	enc, bin, last4, hash, err := v.Seal(testPAN, idOf(n))
	if err != nil {
		tb.Fatal(err)
	}
	mti, proc := "0200", "000000"
	switch typ {
	case TypeRefund:
		proc = "200000"
	case TypeCashback:
		proc = "090000"
	case TypeBalance:
		proc = "310000"
	case TypePreAuth:
		mti = "0100"
	case TypeCompletion:
		mti = "0220"
	case TypeReversal:
		mti = "0400"
	}
	return &Txn{
		ID: idOf(n), Type: typ, MTI: mti, ProcCode: proc, Amount: amount, Currency: "978",
		TerminalID: testTerminal, MerchantID: testMerchant, STAN: stanOf(n), TransmissionTime: testDE7,
		LocalTime: "120000", LocalDate: "1122",
		PANEnc: enc, BIN: bin, Last4: last4, PANHash: hash,
		Acquirer: "acq1", AcqSTAN: stanOf(n), AcqTime: "1122120001", RRN: fmt.Sprintf("0001%08d", n),
		CreatedAt: testEpoch + int64(n),
	}
}

// linkedTxn is a reversal or completion of transaction orig.
func linkedTxn(tb testing.TB, v *Vault, n int, typ TxnType, amount int64, orig int) *Txn {
	tb.Helper()
	t := newTxn(tb, v, n, typ, amount)
	t.OriginalID = idOf(orig)
	return t
}

// applier applies commands one entry at a time with increasing indexes.
type logApplier struct {
	tb   testing.TB
	s    *Store
	next uint64
}

func newLog(tb testing.TB, s *Store) *logApplier {
	return &logApplier{tb: tb, s: s, next: s.AppliedIndex() + 1}
}

// apply applies one command and returns its Result.
func (l *logApplier) apply(cmd []byte) Result {
	l.tb.Helper()
	res := l.s.ApplyBatch([]uint64{l.next}, [][]byte{cmd})
	l.next++
	r, ok := res[0].(Result)
	if !ok {
		l.tb.Fatalf("index %d: result %#v, want a Result", l.next-1, res[0])
	}
	return r
}

// ok applies a command that must succeed.
func (l *logApplier) ok(cmd []byte) *Txn {
	l.tb.Helper()
	r := l.apply(cmd)
	if r.Err != nil {
		l.tb.Fatalf("index %d: %v", l.next-1, r.Err)
	}
	return r.Txn
}

// txn records an INTENT and its OUTCOME.
func (l *logApplier) txn(t *Txn, st Status) *Txn {
	l.tb.Helper()
	l.ok(IntentCmd(t))
	rc := "00"
	if st != StatusApproved {
		rc = "05"
	}
	return l.ok(OutcomeCmd(Outcome{ID: t.ID, Status: st, RC: rc, AuthCode: "AUTH01", StandIn: false, At: t.CreatedAt + 1000}))
}

func mustHash(tb testing.TB, s *Store) []byte {
	tb.Helper()
	h, err := s.Hash()
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func mustGet(tb testing.TB, s *Store, id string) *Txn {
	tb.Helper()
	t, ok, err := s.Get(id)
	if err != nil || !ok {
		tb.Fatalf("get %s: found %v, %v", id, ok, err)
	}
	return t
}

// within fails the test if fn does not return in d: the hangs this guards
// against (an open read transaction) would otherwise only show as a test
// binary timeout.
func within(tb testing.TB, d time.Duration, what string, fn func()) {
	tb.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		tb.Fatalf("%s did not return within %v", what, d)
	}
}
