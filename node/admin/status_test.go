package admin

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/tillgate/tillgate/store"
)

// TestOwedToAnUnconfiguredAcquirerShows: entries owed to an acquirer no
// longer in the config cannot be sent; they stay visible in /status (by
// the names in the state, not the config) instead of vanishing.
func TestOwedToAnUnconfiguredAcquirerShows(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tx := &store.Txn{ID: "TERM0001000001" + "1122120000", Type: store.TypePurchase, MTI: "0200", ProcCode: "000000",
		Amount: 100, Currency: "978", TerminalID: "TERM0001", STAN: "000001", TransmissionTime: "1122120000",
		PANEnc: []byte{1}, Acquirer: "acq1", AcqSTAN: "000001", AcqTime: "1122120001", CreatedAt: 1}
	owed := store.OutcomeSAFCmd(store.Outcome{ID: tx.ID, Status: store.StatusUnknown, RC: "91", At: 2},
		store.SAFEntry{Acquirer: "acq1", Kind: store.SAFReversal, STAN: "900001", AcqTime: "1122120002"})
	for i, r := range st.ApplyBatch([]uint64{1, 2}, [][]byte{store.IntentCmd(tx), owed}) {
		if r.(store.Result).Err != nil {
			t.Fatalf("command %d: %v", i, r.(store.Result).Err)
		}
	}
	s := &Server{cfg: Config{State: st}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	q := s.safQueues()
	if len(q) != 1 || q[0].Acquirer != "acq1" || q[0].Depth != 1 {
		t.Fatalf("/status saf %+v, want acq1 with 1 entry", q)
	}
}
