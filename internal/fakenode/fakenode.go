// Package fakenode is a scripted stand-in for a tillgate node, for the
// tests of the register side (failover, loadtest): a TCP listener that
// speaks wire, records every request it reads and answers as its Handler
// says. Test support only: it takes a testing.TB, reports what it cannot
// decode as a test error, and stops at the end of the test.
package fakenode

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// Handler decides what the node does with one request: answer it (answer
// not nil; after delay, while the connection reads on), close the
// connection (closeConn), or say nothing (all zero). Requests of one
// connection reach it one at a time, in order.
type Handler func(n *Node, m *wire.Message) (answer *wire.Message, closeConn bool, delay time.Duration)

// Node is one fake node.
type Node struct {
	Addr string // host:port it listens on

	tb    testing.TB
	codec *wire.Codec
	wg    sync.WaitGroup // connection goroutines

	mu      sync.Mutex
	ln      net.Listener
	stopped bool
	conns   map[net.Conn]bool
	got     []*wire.Message // every request read, in order
	handler Handler
	hintAN  string // DE48 AN (and TM term) in every Reply when set
	term    int
}

// Start listens on addr ("127.0.0.1:0" for any port; a stopped node's
// Addr to bring it back) and serves with h. The node stops, and its
// connection goroutines are waited for, when the test ends.
func Start(tb testing.TB, addr string, h Handler) *Node {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	n := &Node{Addr: ln.Addr().String(), tb: tb, codec: wire.NewCodec(wire.DefaultDialect()),
		ln: ln, conns: map[net.Conn]bool{}, handler: h, term: 1}
	go n.accept(ln)
	tb.Cleanup(func() { n.Stop(); n.wg.Wait() })
	return n
}

// Stop closes the listener and every connection: the node is down.
func (n *Node) Stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopped = true
	_ = n.ln.Close()
	for c := range n.conns {
		_ = c.Close()
	}
}

// SetHandler makes h answer from the next request on.
func (n *Node) SetHandler(h Handler) {
	n.mu.Lock()
	n.handler = h
	n.mu.Unlock()
}

// SetHint makes Reply name an as the active of term (DE48 AN and TM).
func (n *Node) SetHint(an string, term int) {
	n.mu.Lock()
	n.hintAN, n.term = an, term
	n.mu.Unlock()
}

// Received returns the requests read whose MTI is one of mtis (every
// request when none is given), in order.
func (n *Node) Received(mtis ...string) []*wire.Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*wire.Message
	for _, m := range n.got {
		if len(mtis) == 0 || contains(mtis, m.MTI) {
			out = append(out, m)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Reply is a node's answer to m with rc: m's identity and amount echoed,
// DE48 ND (the node's address) and the hint set by SetHint, and an
// approval code when rc approves a transaction.
func (n *Node) Reply(m *wire.Message, rc string) *wire.Message {
	r := &wire.Message{
		MTI: wire.ResponseMTI(m.MTI), ProcCode: m.ProcCode, Amount: m.Amount, HasAmount: m.HasAmount,
		TransmissionTime: m.TransmissionTime, STAN: m.STAN, TerminalID: m.TerminalID,
		MerchantID: m.MerchantID, Currency: m.Currency, ResponseCode: rc, NetworkCode: m.NetworkCode,
		OriginalData: m.OriginalData,
	}
	n.mu.Lock()
	an, term := n.hintAN, n.term
	n.mu.Unlock()
	if an != "" {
		r.Private.Set(wire.TagActiveAddr, an)
		r.Private.Set(wire.TagTerm, strconv.Itoa(term))
	}
	r.Private.Set(wire.TagNodeID, n.Addr)
	if rc == wire.RCApproved && m.Kind() != wire.KindNetwork {
		r.AuthCode = "A12345"
	}
	return r
}

func (n *Node) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		n.mu.Lock()
		if n.stopped { // accepted as Stop closed the listener
			n.mu.Unlock()
			_ = c.Close()
			return
		}
		n.conns[c] = true
		n.wg.Add(1)
		n.mu.Unlock()
		go func() { defer n.wg.Done(); n.serve(c) }()
	}
}

// serve reads c's requests and answers them; an answer with a delay goes
// from a goroutine of its own, so later requests are read meanwhile.
func (n *Node) serve(c net.Conn) {
	defer c.Close()
	var wmu sync.Mutex
	write := func(resp *wire.Message) {
		b, err := n.codec.PackFrame(nil, resp)
		if err != nil {
			n.tb.Errorf("fake node %s: pack %s: %v", n.Addr, resp.MTI, err)
			return
		}
		wmu.Lock()
		_, _ = c.Write(b)
		wmu.Unlock()
	}
	fr := wire.NewFrameReader(c, wire.DefaultDialect(), 0)
	for {
		payload, err := fr.Next()
		if err != nil {
			return
		}
		m, err := n.codec.Unpack(payload)
		if err != nil {
			n.tb.Errorf("fake node %s: unpack: %v", n.Addr, err)
			return
		}
		n.mu.Lock()
		n.got = append(n.got, m)
		h := n.handler
		n.mu.Unlock()
		resp, closeConn, delay := h(n, m)
		switch {
		case closeConn:
			return
		case resp == nil:
		case delay <= 0:
			write(resp)
		default:
			go func() {
				time.Sleep(delay)
				write(resp)
			}()
		}
	}
}
