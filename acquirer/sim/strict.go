package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tillgate/tillgate/wire"
	bolt "go.etcd.io/bbolt"
)

// strictRules are the checks of a strict host on one request, made inside
// the ledger's transaction so that concurrent frames of one identity are
// judged one after the other.
type strictRules struct {
	window time.Duration // Config.StrictConfig.DupWindow
	now    int64         // receipt, unix nanos
	day    string        // UTC day of receipt
}

// forgotten reports a record older than the duplicate window: a real
// host's duplicate table no longer holds it. Records without a receipt
// time are never forgotten.
func (r *strictRules) forgotten(old *record) bool {
	return r != nil && old.At != 0 && r.now-old.At > int64(r.window)
}

// refuse applies the checks of a new identity: its DE41+DE11 used today
// with another DE7 is refused 94 (the refusal is booked under the frame's
// identity, so that it shows in the ledger); a reversal or completion of
// an unknown original is 25 and nothing is stored. booked: none applies.
func (r *strictRules) refuse(b *bolt.Bucket, e entry) (outcome, error) {
	if r == nil {
		return booked, nil
	}
	reused, err := stanReused(b, e.key, r.day)
	if err != nil {
		return 0, err
	}
	if reused {
		rec := e.rec
		rec.RC, rec.AuthCode, rec.Refused = wire.RCDuplicate, "", 1
		return refusedReuse, put(b, e.key, &rec)
	}
	if e.orig == "" {
		return booked, nil
	}
	o, ok, err := get(b, e.orig)
	if err != nil {
		return 0, err
	}
	if !ok || o.Tombstone {
		return unknownOriginal, nil
	}
	return booked, nil
}

// keyClasses are the classes a key starts with.
var keyClasses = [...]string{wire.MTIAuth, wire.MTIAuthAdvice, wire.MTIFinancial, wire.MTIFinancialAdvice, wire.MTIReversal}

// stanReused reports another identity of key's DE41+DE11, in any class,
// received on day with another DE7. Keys are class + DE41 + DE11 + DE7,
// so it is one seek per class; identities only ever refused and
// tombstones do not count (they are not the terminal's use of the STAN).
func stanReused(b *bolt.Bucket, key, day string) (bool, error) {
	n := len(key)
	id, de7 := key[4:n-10], key[n-10:]
	c := b.Cursor()
	for _, class := range keyClasses {
		prefix := []byte(class + id)
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(k) < n || string(k[n-10:n]) == de7 {
				continue
			}
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return false, fmt.Errorf("record %q: %w", k, err)
			}
			if r.Day == day && !r.Tombstone && !r.refusedOnly() {
				return true, nil
			}
		}
	}
	return false, nil
}

// hostEcho is the host's own echo on one connection (strict mode): the
// reader hands it the 0810s it receives, the echo loop waits for the one
// answering the echo it sent.
type hostEcho struct {
	want     atomic.Pointer[string] // DE11 of the echo awaiting its answer
	answered chan struct{}          // buffered 1: the awaited answer came
}

func newHostEcho() *hostEcho { return &hostEcho{answered: make(chan struct{}, 1)} }

// take reports whether payload is an 0810, which the host never answers:
// it is consumed here, and wakes the echo loop if it answers its echo.
func (h *hostEcho) take(codec *wire.Codec, payload []byte) bool {
	if h == nil || len(payload) < 4 || string(payload[:4]) != wire.MTINetworkResponse {
		return false
	}
	_, stan, ok := codec.Peek(payload)
	if want := h.want.Load(); ok && want != nil && *want == stan && h.want.CompareAndSwap(want, nil) {
		select {
		case h.answered <- struct{}{}:
		default:
		}
	}
	return true
}

// echoLoop sends the host's echo on nc every EchoEvery until stop, and
// closes nc when one is not answered within EchoTimeout: a real host
// drops a peer that does not answer its network management.
func (s *Sim) echoLoop(nc net.Conn, w *connWriter, h *hostEcho, stop <-chan struct{}) {
	defer s.wg.Done()
	for s.wait(s.strict.EchoEvery, stop) && s.echoOnce(nc, w, h, stop) {
	}
}

// echoOnce sends one echo and waits for its answer; false when the
// connection is finished (closed here for the missing answer, or ended).
func (s *Sim) echoOnce(nc net.Conn, w *connWriter, h *hostEcho, stop <-chan struct{}) bool {
	m := s.echoMessage()
	frame, err := s.codec.PackFrame(nil, m)
	if err != nil {
		s.log.Error("pack host echo", "err", err)
		return false
	}
	h.want.Store(&m.STAN)
	if w.write(frame) != nil {
		return false
	}
	s.st.hostEchoes.Add(1)
	t := time.NewTimer(s.strict.EchoTimeout)
	defer t.Stop()
	select {
	case <-h.answered:
		return true
	case <-stop:
		return false
	case <-s.done:
		return false
	case <-t.C:
	}
	s.st.hostEchoTimeouts.Add(1)
	s.log.Warn("host echo unanswered, closing the connection", "remote", nc.RemoteAddr().String(),
		"stan", m.STAN, "timeout", s.strict.EchoTimeout)
	nc.Close()
	return false
}

// echoMessage is the host's 0800 echo with its own STAN.
func (s *Sim) echoMessage() *wire.Message {
	n := s.echoSTAN.Add(1)%999999 + 1
	stan := strconv.FormatUint(uint64(n), 10)
	stan = "000000"[len(stan):] + stan
	return &wire.Message{
		MTI: wire.MTINetwork, TransmissionTime: wire.TransmissionTime(s.now()), STAN: stan, NetworkCode: wire.NetEcho,
	}
}

// wait waits d; false when stop closes or the simulator closes meanwhile.
func (s *Sim) wait(d time.Duration, stop <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
	case <-s.done:
	}
	return false
}
