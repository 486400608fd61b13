package history

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tillgate/tillgate/wire"
)

func TestFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	l, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	req := &wire.Message{MTI: "0201", TerminalID: "T0000001", STAN: "000042", TransmissionTime: "1203101112",
		ProcCode: "000000", Amount: 1234, HasAmount: true}
	resp := &wire.Message{ResponseCode: "00", AuthCode: "123456", RRN: "000100000042"}
	resp.Private.Set(wire.TagNodeID, "node2")
	t0 := time.Unix(0, 1_000)
	l.Add(RequestEvent(req, t0, t0.Add(time.Millisecond), resp, Answered))
	rev := &wire.Message{MTI: "0400", TerminalID: "T0000001", STAN: "000043", TransmissionTime: "1203101113",
		Amount: 1234, OriginalData: "0200000042120310111200000000000000000000000"[:42]}
	l.Add(QueueEvent(Queued, req.Key(), rev, "", t0))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, l.Events()) {
		t.Fatalf("read back %+v\nwant %+v", got, l.Events())
	}
	e := got[0]
	if e.MTI != "0200" || e.ID != "T00000010000421203101112" || e.RC != "00" || e.AuthCode != "123456" || e.Node != "node2" {
		t.Errorf("request event %+v", e)
	}
	if q := got[1]; q.OriginalID() != "T00000010000421203101112" || q.OriginalMTI() != "0200" || q.Of != req.Key() {
		t.Errorf("queued event %+v names %q", q, q.OriginalID())
	}
}
