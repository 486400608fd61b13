package failover

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// core is what every part of a Client shares: its configuration, log,
// codec, counters and events, the monotonic clock, the register's STAN
// sequence, and the signal that Close has begun. It holds no state of its
// own beyond them; the parts (router, forwarder, requester) embed it.
type core struct {
	cfg     Config
	log     *slog.Logger
	codec   *wire.Codec
	st      counters
	epoch   time.Time // monotonic base of now()
	stan    *stanSeq
	closing chan struct{} // closed when Close begins
}

// now is monotonic nanoseconds since Open.
func (k *core) now() int64 { return int64(time.Since(k.epoch)) }

func (k *core) emit(e Event) {
	if k.cfg.OnEvent == nil {
		return
	}
	e.Time = time.Now()
	k.cfg.OnEvent(e)
}

// nextSTAN is the register's next DE11 (see Client.NextSTAN).
func (k *core) nextSTAN() string {
	if k.cfg.NewSTAN != nil {
		return k.cfg.NewSTAN()
	}
	return k.stan.nextSTAN()
}

// netMessage builds an 0800 with a fresh identity.
func (k *core) netMessage(code string) *wire.Message {
	return &wire.Message{MTI: wire.MTINetwork, TransmissionTime: wire.TransmissionTime(time.Now()), STAN: k.nextSTAN(), NetworkCode: code}
}

// sleep waits d, bounded by until, ctx and Close.
func (k *core) sleep(ctx context.Context, d time.Duration, until time.Time) {
	if r := time.Until(until); r < d {
		d = r
	}
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-k.closing:
	}
}

// recheck is the jittered wait before asking again for an active.
func (k *core) recheck() time.Duration {
	lo, hi := k.cfg.RecheckMin, k.cfg.RecheckMax
	if hi <= lo {
		return lo
	}
	return lo + rand.N(hi-lo)
}

// jitter spreads d over [0.8d, 1.2d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d*4/5 + rand.N(d*2/5+1)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
