package failover

import (
	"bytes"

	"log/slog"
	"net"
	"path/filepath"
	"testing"

	"github.com/tillgate/tillgate/wire"
)

// FuzzDeliver drives a link's answer path (framing, Unpack, the DE48
// AN/TM hint, NA, the waiter match, late answers) with arbitrary bytes, as
// if a node had sent them, without a network: nothing may panic, and a
// waiter registered for the answer's key gets it exactly once. The router
// starts with no link in use, so a hint never dials.
//
//	go test ./failover -run '^$' -fuzz FuzzDeliver -fuzztime 60s
func FuzzDeliver(f *testing.F) {
	cfg := DefaultConfig()
	cfg.Nodes = []string{"127.0.0.1:1", "127.0.0.1:2"}
	cfg.ReversalQueue = filepath.Join(f.TempDir(), "reversals.db")
	cfg.Logger = slog.New(slog.DiscardHandler)
	c, err := Open(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	codec := wire.NewCodec(cfg.Dialect)

	req := &wire.Message{MTI: "0200", ProcCode: "000000", Amount: 1000, HasAmount: true,
		TransmissionTime: "0314100000", STAN: "000001", TerminalID: "TERM0001", MerchantID: "MERCHANT0000001", Currency: "978"}
	answer := func(mti, rc string, tlvs ...wire.TLV) []byte {
		m := *req
		m.MTI, m.ResponseCode, m.Private = mti, rc, wire.TLVs(tlvs)
		if mti == wire.MTINetworkResponse {
			m = wire.Message{MTI: mti, TransmissionTime: req.TransmissionTime, STAN: "000002", NetworkCode: "301", ResponseCode: rc, Private: wire.TLVs(tlvs)}
		}
		b, err := codec.PackFrame(nil, &m)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	seeds := [][]byte{
		answer("0210", "00"),
		answer("0210", "00", wire.TLV{Tag: wire.TagActiveAddr, Value: "127.0.0.1:2"}, wire.TLV{Tag: wire.TagTerm, Value: "7"}, wire.TLV{Tag: wire.TagNodeID, Value: "n2"}),
		answer("0210", "91", wire.TLV{Tag: wire.TagActiveAddr, Value: "10.0.0.9:8583"}, wire.TLV{Tag: wire.TagTerm, Value: "3"}, wire.TLV{Tag: tagNotProcessed, Value: "1"}),
		answer("0210", "91", wire.TLV{Tag: wire.TagNoActive, Value: "1"}),
		answer("0810", "00", wire.TLV{Tag: wire.TagNoActive, Value: "1"}),
		answer("0810", "00", wire.TLV{Tag: wire.TagActiveAddr, Value: "127.0.0.1:1"}, wire.TLV{Tag: wire.TagTerm, Value: "18446744073709551615"}),
		answer("0430", "00", wire.TLV{Tag: wire.TagTerm, Value: "-1"}, wire.TLV{Tag: wire.TagActiveAddr, Value: "x"}),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add(append(bytes.Clone(seeds[1]), seeds[3]...)) // two answers in one read
	f.Add(seeds[0][:len(seeds[0])-3])                 // truncated

	f.Fuzz(func(t *testing.T, in []byte) {
		// A fresh router per input: hints learned from one input do not
		// pile up nodes across millions of them.
		r := newRouter(c.core)
		r.onLate = c.fwd.lateAnswer
		a, b := net.Pipe()
		defer b.Close()
		l := &link{r: r, addr: cfg.Nodes[0], nc: a, wsem: make(chan struct{}, 1),
			waiters: make(map[string]chan *wire.Message), done: make(chan struct{})}
		ch := make(chan *wire.Message, 1)
		if err := l.register(req.Key(), ch); err != nil {
			t.Fatal(err)
		}
		got := 0
		fr := wire.NewFrameReader(bytes.NewReader(in), cfg.Dialect, 0)
		for {
			payload, err := fr.Next()
			if err != nil { // EOF or a framing error: readLoop fails the link
				break
			}
			l.deliver(payload)
			select {
			case m := <-ch:
				if m.Key() != req.Key() {
					t.Fatalf("waiter of %s got the answer of %s", req.Key(), m.Key())
				}
				got++
			default:
			}
		}
		if got > 1 {
			t.Fatalf("one waiter got %d answers", got)
		}
		l.fail(errDrained)
	})
}
