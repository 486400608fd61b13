package store

import (
	"fmt"
	"strconv"
)

// The terminal registry: which terminals (DE41) may send requests, for
// which merchant (DE42) and store, and whether they are blocked. It is in
// the replicated state so that every node, whichever leads, refuses the
// same terminals, and a block committed on one active holds on the next.
//
// TERMINALS_ADD (op 12) adds or changes ranges of terminals in one command,
// so a fleet of thousands is one Raft entry; TERMINALS_BLOCK (op 13) blocks
// or unblocks a range. Both carry the leader's time.

// Terminal is one registered terminal.
type Terminal struct {
	ID       string // DE41, 8 characters
	Merchant string // DE42 the terminal must send, 15 characters
	Store    string // the store it stands in: a client certificate's identity
	Blocked  bool
	Added    int64 // unix nanos of the command that added it
	Changed  int64 // unix nanos of its last change (merchant, store, block)
}

// TerminalRange names terminals From..To: both 8 characters, the same
// non-digit prefix, and a numeric tail of the same length (T0000001 ..
// T0002000). A single terminal is From with To empty or equal.
type TerminalRange struct {
	From, To string
	Merchant string // TERMINALS_ADD only
	Store    string // TERMINALS_ADD only
}

// TerminalChange is what a terminal command did: how many terminals of its
// ranges it added, changed and found as they were (an idempotent repeat).
type TerminalChange struct {
	Added, Changed, Unchanged int
}

// terminalsCmd is a decoded terminal command.
type terminalsCmd struct {
	Ranges  []TerminalRange // TERMINALS_ADD; TERMINALS_BLOCK uses one
	Blocked bool            // TERMINALS_BLOCK
	At      int64
}

// Bounds of the registry's fields. The ids and merchants are what the
// wire dialect allows (wire.ValidateRequest checks DE41 and DE42 alike).
const (
	terminalIDLen = 8
	merchantLen   = 15
	maxStoreLen   = 64
	// MaxTerminalsPerCommand bounds what one command may touch, so that
	// one Raft entry never holds the apply path for long: a 20,000
	// terminal fleet is a few commands of ranges.
	MaxTerminalsPerCommand = 20000
)

// TerminalsAddCmd encodes TERMINALS_ADD: every terminal of the ranges gets
// its range's merchant and store; a terminal already registered keeps its
// block and its Added time, and an identical re-add changes nothing.
func TerminalsAddCmd(at int64, ranges ...TerminalRange) []byte {
	w := newCmd(OpTerminalsAdd, 16+48*len(ranges))
	w.int(int64(len(ranges)))
	for _, r := range ranges {
		w.str(r.From)
		w.str(r.To)
		w.str(r.Merchant)
		w.str(r.Store)
	}
	w.int(at)
	return w.b
}

// TerminalsBlockCmd encodes TERMINALS_BLOCK: blocked true blocks every
// registered terminal of the range, false unblocks them.
func TerminalsBlockCmd(r TerminalRange, blocked bool, at int64) []byte {
	w := newCmd(OpTerminalsBlock, 40)
	w.str(r.From)
	w.str(r.To)
	w.bool(blocked)
	w.int(at)
	return w.b
}

func readTerminalsCmd(op Op, r *reader) *terminalsCmd {
	c := &terminalsCmd{}
	if op == OpTerminalsBlock {
		c.Ranges = []TerminalRange{{From: r.str(), To: r.str()}}
		c.Blocked = r.bool()
	} else {
		n := r.count()
		c.Ranges = make([]TerminalRange, 0, n)
		for range n {
			c.Ranges = append(c.Ranges, TerminalRange{From: r.str(), To: r.str(), Merchant: r.str(), Store: r.str()})
		}
	}
	c.At = r.int()
	return c
}

func encodeTerminalsCmd(op Op, c *terminalsCmd) []byte {
	if op == OpTerminalsBlock {
		return TerminalsBlockCmd(c.Ranges[0], c.Blocked, c.At)
	}
	return TerminalsAddCmd(c.At, c.Ranges...)
}

// IDs lists the terminal ids of the range, in order; an error names what is
// wrong with it. It is the one reading of a range: Apply, the admin API and
// tillctl all use it.
func (r TerminalRange) IDs() ([]string, error) {
	to := r.To
	if to == "" {
		to = r.From
	}
	if err := checkTerminalID(r.From); err != nil {
		return nil, err
	}
	if to == r.From {
		return []string{r.From}, nil
	}
	if err := checkTerminalID(to); err != nil {
		return nil, err
	}
	pf, nf := splitTail(r.From)
	pt, nt := splitTail(to)
	if nf == "" || pf != pt || len(nf) != len(nt) {
		return nil, fmt.Errorf("%w: range %s-%s: both ends need the same prefix and a numeric tail of the same length", ErrInvalid, r.From, to)
	}
	lo, _ := strconv.ParseUint(nf, 10, 64)
	hi, _ := strconv.ParseUint(nt, 10, 64)
	if lo > hi {
		return nil, fmt.Errorf("%w: range %s-%s runs backwards", ErrInvalid, r.From, to)
	}
	if hi-lo >= MaxTerminalsPerCommand {
		return nil, fmt.Errorf("%w: range %s-%s has %d terminals, more than %d", ErrInvalid, r.From, to, hi-lo+1, MaxTerminalsPerCommand)
	}
	ids := make([]string, 0, hi-lo+1)
	for n := lo; n <= hi; n++ {
		ids = append(ids, fmt.Sprintf("%s%0*d", pf, len(nf), n))
	}
	return ids, nil
}

// splitTail splits id into its prefix and its trailing digits.
func splitTail(id string) (prefix, digits string) {
	i := len(id)
	for i > 0 && id[i-1] >= '0' && id[i-1] <= '9' {
		i--
	}
	return id[:i], id[i:]
}

// printable: the characters a DE41, DE42 or store name may hold (no
// control characters, no index separator).
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e || s[i] == indexSep {
			return false
		}
	}
	return true
}

func checkTerminalID(id string) error {
	if len(id) != terminalIDLen || !printable(id) {
		return fmt.Errorf("%w: terminal id %q: want 8 printable characters (DE41)", ErrInvalid, id)
	}
	return nil
}

func checkTerminalAdd(r TerminalRange) error {
	switch {
	case len(r.Merchant) != merchantLen || !printable(r.Merchant):
		return fmt.Errorf("%w: merchant %q: want 15 printable characters (DE42)", ErrInvalid, r.Merchant)
	case r.Store == "" || len(r.Store) > maxStoreLen || !printable(r.Store):
		return fmt.Errorf("%w: store %q: want 1-%d printable characters", ErrInvalid, r.Store, maxStoreLen)
	}
	return nil
}

// rangeIDs checks every range of c and lists the ids they name, within
// MaxTerminalsPerCommand in all.
func (c *terminalsCmd) rangeIDs(add bool) ([][]string, error) {
	if len(c.Ranges) == 0 {
		return nil, fmt.Errorf("%w: terminal command without terminals", ErrInvalid)
	}
	out := make([][]string, len(c.Ranges))
	total := 0
	for i, r := range c.Ranges {
		if add {
			if err := checkTerminalAdd(r); err != nil {
				return nil, err
			}
		}
		ids, err := r.IDs()
		if err != nil {
			return nil, err
		}
		if total += len(ids); total > MaxTerminalsPerCommand {
			return nil, fmt.Errorf("%w: %d terminals in one command, more than %d", ErrInvalid, total, MaxTerminalsPerCommand)
		}
		out[i] = ids
	}
	return out, nil
}

// terminalsAdd applies TERMINALS_ADD. A later range of the same command
// wins for a terminal two ranges name.
func (a *applier) terminalsAdd(c *terminalsCmd) (Result, error) {
	lists, err := c.rangeIDs(true)
	if err != nil {
		return Result{Err: err}, nil
	}
	b := a.tx.Bucket(bucketTerminals)
	var ch TerminalChange
	for i, ids := range lists {
		r := c.Ranges[i]
		for _, id := range ids {
			old, err := decodeTerminal(id, b.Get([]byte(id)))
			if err != nil {
				return Result{}, err
			}
			t := Terminal{ID: id, Merchant: r.Merchant, Store: r.Store, Added: c.At, Changed: c.At}
			switch {
			case old == nil:
				ch.Added++
			case old.Merchant == r.Merchant && old.Store == r.Store:
				ch.Unchanged++
				continue
			default:
				t.Blocked, t.Added = old.Blocked, old.Added
				ch.Changed++
			}
			if err := b.Put([]byte(id), appendTerminal(nil, &t)); err != nil {
				return Result{}, err
			}
		}
	}
	return Result{Terminals: &ch}, nil
}

// terminalsBlock applies TERMINALS_BLOCK to the registered terminals of
// its range; a range with none registered is refused (ErrNotFound).
func (a *applier) terminalsBlock(c *terminalsCmd) (Result, error) {
	if len(c.Ranges) != 1 {
		return Result{Err: fmt.Errorf("%w: block names one range", ErrInvalid)}, nil
	}
	lists, err := c.rangeIDs(false)
	if err != nil {
		return Result{Err: err}, nil
	}
	b := a.tx.Bucket(bucketTerminals)
	var ch TerminalChange
	for _, id := range lists[0] {
		t, err := decodeTerminal(id, b.Get([]byte(id)))
		if err != nil {
			return Result{}, err
		}
		if t == nil {
			continue
		}
		if t.Blocked == c.Blocked {
			ch.Unchanged++
			continue
		}
		t.Blocked, t.Changed = c.Blocked, c.At
		ch.Changed++
		if err := b.Put([]byte(id), appendTerminal(nil, t)); err != nil {
			return Result{}, err
		}
	}
	if ch.Changed+ch.Unchanged == 0 {
		return Result{Err: fmt.Errorf("%w: no registered terminal in %s-%s", ErrTerminalNotFound, c.Ranges[0].From, c.Ranges[0].To)}, nil
	}
	return Result{Terminals: &ch}, nil
}

// terminalVersion leads a stored terminal record.
const terminalVersion = 1

func appendTerminal(b []byte, t *Terminal) []byte {
	w := writer{b: append(b, terminalVersion)}
	w.str(t.Merchant)
	w.str(t.Store)
	w.bool(t.Blocked)
	w.int(t.Added)
	w.int(t.Changed)
	return w.b
}

// decodeTerminal decodes the record of id; nil for no record.
func decodeTerminal(id string, v []byte) (*Terminal, error) {
	if v == nil {
		return nil, nil
	}
	r := reader{b: v}
	if ver := r.byte(); ver != terminalVersion {
		return nil, fmt.Errorf("%w: terminal %s: record version %d", ErrCorrupt, id, ver)
	}
	t := &Terminal{ID: id, Merchant: r.str(), Store: r.str(), Blocked: r.bool(), Added: r.int(), Changed: r.int()}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("terminal %s: %w", id, err)
	}
	return t, nil
}
