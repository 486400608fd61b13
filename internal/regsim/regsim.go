package regsim

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/wire"
)

// Config describes a fleet.
type Config struct {
	// Addrs are the nodes' register addresses; register i starts at Addrs[i%len].
	Addrs     []string
	Registers int
	// PerRegister is how many transactions each register makes; 0 runs until
	// the context ends.
	PerRegister int
	// RepeatRatio is the share of answered transactions sent again as a
	// repeat, to check that the answer is the stored one.
	RepeatRatio float64
	ThinkTime   time.Duration
	// AttemptTimeout bounds one send; Deadline bounds one transaction.
	AttemptTimeout time.Duration
	Deadline       time.Duration
	Dialect        wire.Dialect
	// TLS, if set, carries every register's connection over TLS (its
	// ServerName, if empty, is the node address's host).
	TLS *tls.Config
	// TerminalBase numbers the terminals, so that fleets do not collide.
	TerminalBase int
	Seed         uint64
	// History, if set, records every request (the first and each repeat
	// the register decided to send): its invoke and return, the answer,
	// or unknown when bytes may have left and no answer came by the
	// deadline, or not sent.
	History *history.Log
}

// DefaultConfig is a small fleet against the demo cluster.
func DefaultConfig() Config {
	return Config{
		Addrs:          []string{"127.0.0.1:8583", "127.0.0.1:8584", "127.0.0.1:8585"},
		Registers:      100,
		RepeatRatio:    0.1,
		ThinkTime:      50 * time.Millisecond,
		AttemptTimeout: 12 * time.Second,
		Deadline:       60 * time.Second,
		Dialect:        wire.DefaultDialect(),
		Seed:           1,
	}
}

// Result is what one register saw for one identity.
type Result struct {
	Key      string // DE41 + DE11 + DE7
	MTI      string
	ProcCode string
	Amount   int64
	RC       string // "" when no answer came before the deadline
	AuthCode string
	RRN      string
	Attempts int
	Latency  time.Duration
	Done     time.Time // when the final answer arrived
	Node     string    // DE48 ND: the node that answered
	// RepeatMismatch is set when a repeat got an answer that differs from
	// the original's: a broken duplicate check.
	RepeatMismatch bool
}

// Stats are live counters, safe to read while the fleet runs.
type Stats struct {
	Sent, Approved, Declined, Unknown, Repeats, Resends, Reconnects atomic.Int64
}

// Fleet runs registers.
type Fleet struct {
	cfg   Config
	codec *wire.Codec
	Stats Stats

	mu      sync.Mutex
	results []Result
}

// Merchant is the DE42 every simulated register sends: the merchant its
// terminals must be registered to.
const Merchant = "M00000000000001"

// Terminals are the first and last terminal ids of the fleet, to register
// before it runs: the nodes refuse terminals they do not know.
func (c Config) Terminals() (from, to string) {
	return terminalID(c.TerminalBase), terminalID(c.TerminalBase + max(c.Registers, 1) - 1)
}

func terminalID(n int) string { return fmt.Sprintf("T%07d", n) }

// New returns a fleet; Run starts it.
func New(cfg Config) *Fleet {
	return &Fleet{cfg: cfg, codec: wire.NewCodec(cfg.Dialect)}
}

// Run blocks until every register finished or ctx ends, and returns what
// every register saw.
func (f *Fleet) Run(ctx context.Context) []Result {
	var wg sync.WaitGroup
	for i := range f.cfg.Registers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &register{
				f:    f,
				tid:  terminalID(f.cfg.TerminalBase + i),
				addr: f.cfg.Addrs[i%len(f.cfg.Addrs)],
				rnd:  rand.New(rand.NewPCG(f.cfg.Seed, uint64(i))),
			}
			r.run(ctx)
		}()
	}
	wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Result(nil), f.results...)
}

func (f *Fleet) record(r Result) {
	switch {
	case r.RC == "":
		f.Stats.Unknown.Add(1)
	case r.RC == wire.RCApproved:
		f.Stats.Approved.Add(1)
	default:
		f.Stats.Declined.Add(1)
	}
	f.mu.Lock()
	f.results = append(f.results, r)
	f.mu.Unlock()
}

// Cards the simulator uses: Luhn-valid test PANs. One transaction in 20
// uses the acquirer simulator's "do not honour" card.
var (
	cards       = []string{"4111111111111111", "5500000000000004", "4012888888881881"}
	declineCard = "4000000000000002"
)

type register struct {
	f    *Fleet
	tid  string
	addr string
	conn net.Conn
	fr   *wire.FrameReader // reads conn; kept across reconnects
	rnd  *rand.Rand
	stan int
}

// run sends transactions until PerRegister or ctx ends. A transaction once
// started is finished (answered, or given up at its Deadline) whatever ctx
// does: a register that walks away from a request whose bytes may have
// left holds an outcome it never learns, with no reversal to settle it.
func (r *register) run(ctx context.Context) {
	defer r.close()
	for i := 0; r.f.cfg.PerRegister == 0 || i < r.f.cfg.PerRegister; i++ {
		if ctx.Err() != nil {
			return
		}
		req := r.next()
		res := r.transact(req)
		if res.RC != "" && ctx.Err() == nil && r.rnd.Float64() < r.f.cfg.RepeatRatio {
			rep := *req
			rep.MTI = req.MTI[:3] + "1"
			r.f.Stats.Repeats.Add(1)
			again := r.transact(&rep)
			if again.RC != "" && (again.RC != res.RC || again.AuthCode != res.AuthCode) {
				res.RepeatMismatch = true
			}
		}
		r.f.record(res)
		if t := r.f.cfg.ThinkTime; t > 0 {
			select {
			case <-time.After(t/2 + time.Duration(r.rnd.Int64N(int64(t)))):
			case <-ctx.Done():
				return
			}
		}
	}
}

func (r *register) next() *wire.Message {
	r.stan = r.stan%999999 + 1
	now := time.Now().UTC()
	amount := 100 + r.rnd.Int64N(20000)
	proc := "000000"
	if r.rnd.IntN(20) == 0 {
		proc = "200000"
	}
	pan := cards[r.rnd.IntN(len(cards))]
	if r.rnd.IntN(20) == 0 {
		pan = declineCard
	}
	return &wire.Message{
		MTI:              wire.MTIFinancial,
		PAN:              pan,
		ProcCode:         proc,
		Amount:           amount,
		HasAmount:        true,
		TransmissionTime: now.Format(wire.LayoutTransmissionTime),
		STAN:             fmt.Sprintf("%06d", r.stan),
		LocalTime:        now.Format(wire.LayoutLocalTime),
		LocalDate:        now.Format(wire.LayoutLocalDate),
		Expiry:           "3012",
		POSEntryMode:     "051",
		POSCondition:     "00",
		TerminalID:       r.tid,
		MerchantID:       Merchant,
		Currency:         "978",
	}
}

// transact sends req until a final answer or the deadline, and records it.
func (r *register) transact(req *wire.Message) Result {
	start := time.Now()
	res, resp, sent := r.attempt(req, start)
	if h := r.f.cfg.History; h != nil {
		outcome := history.Answered
		switch {
		case resp == nil && sent:
			outcome = history.Unknown
		case resp == nil:
			outcome = history.NotSent
		}
		h.Add(history.RequestEvent(req, start, time.Now(), resp, outcome))
	}
	return res
}

// attempt sends req until a final answer or the deadline. After a send
// whose answer never came, only repeats go out. sent reports whether bytes
// may have reached a node that did not say "not processed".
func (r *register) attempt(req *wire.Message, start time.Time) (res Result, answer *wire.Message, sent bool) {
	res = Result{Key: req.Key(), MTI: req.MTI, ProcCode: req.ProcCode, Amount: req.Amount}
	deadline := start.Add(r.f.cfg.Deadline)
	m := *req
	backoff := 50 * time.Millisecond
	for time.Now().Before(deadline) {
		res.Attempts++
		resp, wrote, err := r.roundTrip(&m)
		if err == nil && resp.ResponseCode == wire.RCIssuerInoperative {
			if np, _ := resp.Private.Get("NP"); np == "1" {
				// Not processed: resend unchanged where the active is.
				if an, ok := resp.Private.Get(wire.TagActiveAddr); ok && an != r.addr {
					r.addr = an
					r.close()
				}
				r.f.Stats.Resends.Add(1)
				time.Sleep(backoff)
				backoff = min(backoff*2, time.Second)
				continue
			}
		}
		if err == nil {
			res.RC, res.AuthCode, res.RRN = resp.ResponseCode, resp.AuthCode, resp.RRN
			res.Done = time.Now()
			res.Latency = res.Done.Sub(start)
			res.Node, _ = resp.Private.Get(wire.TagNodeID)
			if an, ok := resp.Private.Get(wire.TagActiveAddr); ok && an != r.addr {
				r.addr = an
				r.close()
			}
			return res, resp, sent
		}
		r.close()
		if wrote {
			// No answer to bytes that may have arrived: the outcome is
			// unknown unless an answer comes, and only repeats go now.
			sent = true
			if !wire.IsRepeat(m.MTI) {
				m.MTI = m.MTI[:3] + "1"
			}
		}
		r.addr = r.f.cfg.Addrs[r.rnd.IntN(len(r.f.cfg.Addrs))]
		time.Sleep(backoff)
		backoff = min(backoff*2, time.Second)
	}
	return res, nil, sent
}

// roundTrip writes m and reads its answer. sent says whether any byte may
// have reached the node.
func (r *register) roundTrip(m *wire.Message) (*wire.Message, bool, error) {
	if r.conn == nil {
		c, err := r.f.dial(r.addr)
		if err != nil {
			return nil, false, err
		}
		r.f.Stats.Reconnects.Add(1)
		r.conn = c
		if r.fr == nil {
			r.fr = wire.NewFrameReader(c, r.f.cfg.Dialect, 0)
		} else {
			r.fr.Reset(c, r.f.cfg.Dialect)
		}
	}
	b, err := r.f.codec.PackFrame(nil, m)
	if err != nil {
		return nil, false, err
	}
	_ = r.conn.SetDeadline(time.Now().Add(r.f.cfg.AttemptTimeout))
	r.f.Stats.Sent.Add(1)
	if _, err := r.conn.Write(b); err != nil {
		return nil, true, err
	}
	for {
		resp, err := r.readFrame()
		if err != nil {
			return nil, true, err
		}
		if resp.STAN == m.STAN && resp.TransmissionTime == m.TransmissionTime {
			return resp, true, nil
		}
		// An answer to an earlier, abandoned attempt: skip it.
	}
}

func (r *register) readFrame() (*wire.Message, error) {
	payload, err := r.fr.Next()
	if err != nil {
		return nil, err
	}
	return r.f.codec.Unpack(payload)
}

func (r *register) close() {
	if r.conn != nil {
		_ = r.conn.Close()
		r.conn = nil
	}
}

// dial connects to a node: over TLS, handshake included, if the fleet
// has a TLS config.
func (f *Fleet) dial(addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 3 * time.Second}
	if f.cfg.TLS != nil {
		return tls.DialWithDialer(d, "tcp", addr, f.cfg.TLS)
	}
	return d.Dial("tcp", addr)
}
