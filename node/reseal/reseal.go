// Package reseal re-encrypts, on the active, the card numbers sealed under
// an older key (or in the legacy format) with the current one, through the
// log: bounded batches of store.OpReseal from the replicated cursor, so a
// new active carries on where its predecessor stopped and every replica
// holds the same bytes. When a pass ends, the old keys can be retired.
package reseal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/node/internal/commit"
	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/store"
)

// State is the replicated state: store.Store.
type State interface {
	CardKeys() store.KeyState
	TxnsFrom(seq uint64, n int) ([]*store.Txn, []uint64, uint64, error)
	SealedRecords() (map[uint8]int64, error)
}

// Raft commits commands: cluster.Cluster.
type Raft interface {
	Apply(ctx context.Context, cmd []byte) (any, error)
}

// Vault seals again: store.Vault.
type Vault interface {
	Reseal(enc []byte, id string) ([]byte, bool, error)
}

// Config tunes the re-seal. Zero fields take the defaults.
type Config struct {
	// Batch is the records looked at per command (at most
	// store.MaxResealBatch; default 256).
	Batch int
	// Pause is the wait between two batches, which leaves the log to the
	// registers (default 20 ms).
	Pause time.Duration
	// Idle is how often the state is looked at when there is nothing to
	// re-seal (default 1 s).
	Idle time.Duration
}

func (c Config) withDefaults() Config {
	if c.Batch <= 0 || c.Batch > store.MaxResealBatch {
		c.Batch = 256
	}
	if c.Pause <= 0 {
		c.Pause = 20 * time.Millisecond
	}
	if c.Idle <= 0 {
		c.Idle = time.Second
	}
	return c
}

// Options is what a Resealer is built from.
type Options struct {
	Config
	State      State
	Raft       Raft
	Vault      Vault
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Resealer is the active's duty of re-sealing (takeover.Duty).
type Resealer struct {
	cfg     Config
	o       Options
	log     *slog.Logger
	records prometheus.Counter
	failed  prometheus.Counter
}

// New returns a resealer and registers its metrics.
func New(o Options) *Resealer {
	r := &Resealer{cfg: o.Config.withDefaults(), o: o, log: o.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.records = prometheus.NewCounter(prometheus.CounterOpts{Name: "tillgate_card_resealed_total",
		Help: "Card numbers this node re-sealed under the current key (committed)."})
	r.failed = prometheus.NewCounter(prometheus.CounterOpts{Name: "tillgate_card_reseal_failures_total",
		Help: "Card numbers the re-seal could not open (a key this node lacks, a damaged record): left as they are."})
	if o.Registerer != nil {
		o.Registerer.MustRegister(r.records, r.failed)
	}
	return r
}

// Run re-seals while ctx lasts (this node's term as the active).
func (r *Resealer) Run(ctx context.Context) {
	restarted := false // this term asked for a new pass already
	failures := 0      // records the current pass could not open
	for ctx.Err() == nil {
		k := r.o.State.CardKeys()
		wait := r.cfg.Idle
		switch {
		case k.Resealing:
			if k.Cursor == 0 {
				failures = 0
			}
			n, err := r.batch(ctx, k)
			failures += n
			if err == nil {
				wait = r.cfg.Pause
			} else if ctx.Err() == nil {
				r.log.Warn("card re-seal batch", logkey.Err, err)
			}
		case k.Current != 0 && !restarted && failures == 0 && r.left(k) > 0:
			// A card sealed under an older key committed after the pass
			// went by (its INTENT was sealed just before the rotation):
			// once per term, go round again.
			restarted = true
			if err := r.apply(ctx, store.KeyCmdOf(store.KeyCmd{Action: store.KeyReseal, ID: k.Current, At: time.Now().UnixNano()})); err != nil && ctx.Err() == nil {
				r.log.Warn("card re-seal: start again", logkey.Err, err)
			}
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// left counts the records sealed under another key than the current one.
func (r *Resealer) left(k store.KeyState) int64 {
	counts, err := r.o.State.SealedRecords()
	if err != nil {
		r.log.Warn("card re-seal: counts", logkey.Err, err)
		return 0
	}
	var n int64
	for id, c := range counts {
		if id != k.Sealing() {
			n += c
		}
	}
	return n
}

// batch re-seals the records from the cursor on and commits them; it
// returns how many could not be opened.
func (r *Resealer) batch(ctx context.Context, k store.KeyState) (int, error) {
	txns, seqs, next, err := r.o.State.TxnsFrom(k.Cursor, r.cfg.Batch)
	if err != nil {
		return 0, err
	}
	c := store.ResealCmd{From: k.Cursor, Next: next, Done: next == 0}
	if c.Done {
		c.Next = k.Cursor
		if len(seqs) > 0 {
			c.Next = seqs[len(seqs)-1] + 1
		}
	}
	failures := 0
	for i, t := range txns {
		if len(t.PANEnc) == 0 {
			continue
		}
		enc, changed, err := r.o.Vault.Reseal(t.PANEnc, t.ID)
		if err != nil {
			failures++
			r.failed.Inc()
			r.log.Error("card re-seal: a card that does not open is left as it is", logkey.Txn, t.ID, logkey.Err, err)
			continue
		}
		if changed {
			c.Items = append(c.Items, store.ResealItem{Seq: seqs[i], Enc: enc})
		}
	}
	if err := r.apply(ctx, store.ResealCmdOf(c)); err != nil {
		if errors.Is(err, store.ErrStaleReseal) {
			return 0, nil // another active's batch came first: read the cursor again
		}
		return failures, err
	}
	r.records.Add(float64(len(c.Items)))
	if c.Done {
		r.log.Info("card re-seal pass done", "key", k.Sealing(), "unopened", failures)
	}
	return failures, nil
}

func (r *Resealer) apply(ctx context.Context, cmd []byte) error {
	res, err := r.o.Raft.Apply(ctx, cmd)
	if err != nil {
		return fmt.Errorf("reseal: %w", err)
	}
	if err := commit.Err(res); err != nil {
		return fmt.Errorf("reseal: %w", err)
	}
	return nil
}
