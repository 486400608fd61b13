package server

import (
	"crypto/tls"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/wire"
)

// listener is one kind of register listener and how a register dials it
// from a given loopback address.
type listener struct {
	name   string
	tune   func(*Config)
	dialer func(d *net.Dialer, addr string) (net.Conn, error)
}

func (l listener) dial(_ *testing.T, addr, from string) (net.Conn, error) {
	return l.dialer(dialerFrom(from), addr)
}

func listeners(t *testing.T) []listener {
	c := newCerts(t)
	srv := c.serverTLS(t, true)
	return []listener{
		{"gnet", func(*Config) {}, func(d *net.Dialer, addr string) (net.Conn, error) {
			return d.Dial("tcp", addr)
		}},
		{"tls", func(cfg *Config) { cfg.TLS = srv }, func(d *net.Dialer, addr string) (net.Conn, error) {
			return tls.DialWithDialer(d, "tcp", addr, c.client(true))
		}},
	}
}

// dialerFrom dials from the loopback address from (127.0.0.0/8 is all
// loopback on Linux): connections from "different hosts" in one process.
func dialerFrom(from string) *net.Dialer {
	return &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
}

// honest is a register on its own address that must keep being answered
// while others trip the limits.
func honest(t *testing.T, l listener, s *testServer) net.Conn {
	t.Helper()
	hc, err := l.dial(t, s.Addr(), "127.0.0.2")
	if err != nil {
		t.Fatalf("honest register: %v", err)
	}
	t.Cleanup(func() { hc.Close() })
	roundTrip(t, hc, frameOf(t, signOn))
	return hc
}

// refused asserts a connection from from is closed at accept without a
// byte answered.
func refused(t *testing.T, l listener, s *testServer, from string) {
	t.Helper()
	c, err := l.dial(t, s.Addr(), from)
	if err != nil {
		return // TLS: the handshake found the connection closed
	}
	defer c.Close()
	if _, err := c.Write(frameOf(t, signOn)); err != nil {
		return
	}
	if b, _ := closedByServer(t, c); len(b) != 0 {
		t.Fatalf("a refused connection was answered: % x", b)
	}
}

func counter(v *prometheus.CounterVec, reason string) prometheus.Metric {
	return v.WithLabelValues(reason)
}

// TestPerIPCap: past MaxConnsPerIP connections from one address are closed
// at accept and counted per_ip; another address is served, and a closed
// connection frees its place.
func TestPerIPCap(t *testing.T) {
	for _, l := range listeners(t) {
		t.Run(l.name, func(t *testing.T) {
			s := startServer(t, func(cfg *Config) { l.tune(cfg); cfg.MaxConnsPerIP = 2 })
			hc := honest(t, l, s)
			var held []net.Conn
			for range 2 {
				c, err := l.dial(t, s.Addr(), "127.0.0.1")
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				roundTrip(t, c, frameOf(t, signOn))
				held = append(held, c)
			}
			refused(t, l, s, "127.0.0.1")
			refused(t, l, s, "127.0.0.1")
			waitCount(t, counter(s.metrics.refusedConns, refusedPerIP), 2)
			roundTrip(t, hc, frameOf(t, signOn))

			held[0].Close()
			waitGauge(t, s, 2)
			c, err := l.dial(t, s.Addr(), "127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			roundTrip(t, c, frameOf(t, signOn))
			if v := value(counter(s.metrics.refusedConns, refusedRate)); v != 0 {
				t.Fatalf("rate refusals %v, want 0", v)
			}
		})
	}
}

// TestNodeHostsUncapped: a node's address is not held to the per address
// cap nor the in-flight cap (its relay carries many registers).
func TestNodeHostsUncapped(t *testing.T) {
	for _, l := range listeners(t) {
		t.Run(l.name, func(t *testing.T) {
			s := startServer(t, func(cfg *Config) {
				l.tune(cfg)
				cfg.MaxConnsPerIP, cfg.MaxInflight, cfg.NodeHosts = 1, 2, []string{"127.0.0.3"}
			})
			s.pipe.hold = make(chan struct{})
			var conns []net.Conn
			for range 3 {
				c, err := l.dial(t, s.Addr(), "127.0.0.3")
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				conns = append(conns, c)
			}
			held := frameOf(t, &wire.Message{MTI: wire.MTINetwork, TransmissionTime: "1203123456", STAN: "000043", TerminalID: heldTerminal, NetworkCode: wire.NetSignOn})
			for range 5 {
				if _, err := conns[0].Write(held); err != nil {
					t.Fatal(err)
				}
			}
			roundTrip(t, conns[1], frameOf(t, signOn)) // the five are read
			close(s.pipe.hold)
			for range 5 {
				readFrame(t, conns[0])
			}
			for _, r := range refusalReasons {
				if v := value(counter(s.metrics.refusedConns, r)); v != 0 {
					t.Fatalf("%s refusals %v, want 0", r, v)
				}
			}
			if v := value(counter(s.metrics.limitClosed, closedInflight)); v != 0 {
				t.Fatalf("in-flight closes %v, want 0", v)
			}
		})
	}
}

// TestAcceptRate: past the burst, with the bucket's clock stopped, every
// connection is refused and counted rate; a second later there is room
// for AcceptRate more.
func TestAcceptRate(t *testing.T) {
	for _, l := range listeners(t) {
		t.Run(l.name, func(t *testing.T) {
			s := startServer(t, func(cfg *Config) { l.tune(cfg); cfg.AcceptRate, cfg.AcceptBurst = 1, 2 })
			now := time.Now()
			s.gate.mu.Lock()
			s.gate.now = func() time.Time { return now }
			s.gate.mu.Unlock()
			hc := honest(t, l, s) // one token
			c, err := l.dial(t, s.Addr(), "127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			roundTrip(t, c, frameOf(t, signOn))
			refused(t, l, s, "127.0.0.1")
			refused(t, l, s, "127.0.0.2")
			waitCount(t, counter(s.metrics.refusedConns, refusedRate), 2)
			roundTrip(t, hc, frameOf(t, signOn))

			s.gate.mu.Lock()
			now = now.Add(time.Second)
			s.gate.mu.Unlock()
			c2, err := l.dial(t, s.Addr(), "127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			roundTrip(t, c2, frameOf(t, signOn))
			refused(t, l, s, "127.0.0.1")
			waitCount(t, counter(s.metrics.refusedConns, refusedRate), 3)
		})
	}
}

// TestInflightCap: a frame past MaxInflight requests in flight closes its
// connection, counted in_flight, with no answer to it; the requests in
// flight are not answered on a closed connection; the honest register on
// another connection is answered throughout.
func TestInflightCap(t *testing.T) {
	for _, l := range listeners(t) {
		t.Run(l.name, func(t *testing.T) {
			s := startServer(t, func(cfg *Config) { l.tune(cfg); cfg.MaxInflight = 2 })
			s.pipe.hold = make(chan struct{})
			defer func() {
				select {
				case <-s.pipe.hold:
				default:
					close(s.pipe.hold)
				}
			}()
			hc := honest(t, l, s)
			c, err := l.dial(t, s.Addr(), "127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			held := frameOf(t, &wire.Message{MTI: wire.MTINetwork, TransmissionTime: "1203123456", STAN: "000043", TerminalID: heldTerminal, NetworkCode: wire.NetSignOn})
			for range 3 {
				if _, err := c.Write(held); err != nil {
					t.Fatal(err)
				}
			}
			if b, _ := closedByServer(t, c); len(b) != 0 {
				t.Fatalf("answered past the in-flight cap: % x", b)
			}
			waitCount(t, counter(s.metrics.limitClosed, closedInflight), 1)
			roundTrip(t, hc, frameOf(t, signOn))
			close(s.pipe.hold)
			roundTrip(t, hc, frameOf(t, signOn))
		})
	}
}

// TestSlowReaderClosed: a register that sends and never reads is closed
// once its unread answers pass WriteBufferCap (beyond what the kernel's
// buffers hold), counted slow_reader; the honest register is answered.
func TestSlowReaderClosed(t *testing.T) {
	for _, l := range listeners(t) {
		t.Run(l.name, func(t *testing.T) {
			s := startServer(t, func(cfg *Config) {
				l.tune(cfg)
				// A small kernel send buffer: otherwise megabytes of answers
				// fit in the kernel before gnet's buffer grows (70 s without
				// tripping on a fresh 2-core CI machine).
				cfg.MaxInflight, cfg.WriteBufferCap, cfg.SendBuffer = -1, 4096, 4096
			})
			hc := honest(t, l, s)
			d := dialerFrom("127.0.0.1")
			d.Control = func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) {
					_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
				})
			}
			c, err := l.dialer(d, s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			batch := make([]byte, 0, 100*64)
			for range 100 {
				batch = append(batch, frameOf(t, signOn)...)
			}
			_ = c.SetWriteDeadline(time.Now().Add(60 * time.Second))
			m := counter(s.metrics.limitClosed, closedSlowReader)
			for value(m) == 0 {
				if _, err := c.Write(batch); err != nil {
					break // closed: the counter says why
				}
			}
			waitCount(t, m, 1)
			roundTrip(t, hc, frameOf(t, signOn))
		})
	}
}

func readFrame(t *testing.T, c net.Conn) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatalf("read answer: %v", err)
	}
	body := make([]byte, int(hdr[0])<<8|int(hdr[1]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return body
}

// TestGNetStartedFrameDeadline: over plain TCP too, a frame begun must end
// within FrameTimeout however long the idle timeout is: a half-sent frame
// does not hold its connection for IdleTimeout.
func TestGNetStartedFrameDeadline(t *testing.T) {
	s := startServer(t, func(cfg *Config) { cfg.FrameTimeout, cfg.IdleTimeout = 300*time.Millisecond, time.Hour })
	l := listener{dialer: func(d *net.Dialer, addr string) (net.Conn, error) { return d.Dial("tcp", addr) }}
	hc := honest(t, l, s)
	c, err := l.dial(t, s.Addr(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	frame := frameOf(t, signOn)
	roundTrip(t, c, frame)
	if _, err := c.Write(frame[:3]); err != nil {
		t.Fatal(err)
	}
	if b, _ := closedByServer(t, c); len(b) != 0 {
		t.Fatalf("got %q", b)
	}
	waitCount(t, s.metrics.deadlineClosed.WithLabelValues("frame"), 1)
	roundTrip(t, hc, frame)
	if v := value(s.metrics.idleClosed); v != 0 {
		t.Fatalf("idle closes %v, want 0", v)
	}
}
