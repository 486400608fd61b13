package sim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// LedgerFile is the ledger's file name inside Config.DataDir.
const LedgerFile = "sim.db"

// bucketTxns holds one record per identity, keyed class(4) + DE41 + DE11 +
// DE7 (see classOf).
var bucketTxns = []byte("txns")

// maxGroup bounds the requests booked in one commit: a larger group
// holds its first request's answer longer.
const maxGroup = 512

// minCommitGap is the least time between the end of one commit and the
// start of the next: at 1,000 requests/s a commit at once per request
// costs two fsyncs and a page write each; waiting up to 2 ms (what bbolt's
// MaxBatchDelay was) lets a few share one. Under heavier load the commit
// itself takes longer than this and nothing waits.
const minCommitGap = 2 * time.Millisecond

// Sum is a count and an amount in minor units.
type Sum struct {
	Count  int64 `json:"count"`
	Amount int64 `json:"amount"`
}

// Totals has the shape shared with store.Totals: Net by kind ("purchase",
// "refund", "cashback", "preauth", "completion") of approvals not reversed.
type Totals struct {
	Net map[string]Sum `json:"net"`
}

// DayTotals are one UTC day of the ledger, by kind. Approved counts the
// approvals received that day (reversed later or not); Reversed the
// approvals reversed by a reversal received that day; Net = Approved -
// Reversed. Summed over all days, Net equals Totals.Net.
type DayTotals struct {
	Approved map[string]Sum `json:"approved"`
	Reversed map[string]Sum `json:"reversed"`
	Net      map[string]Sum `json:"net"`
}

// record is what the ledger keeps per identity. Never card data.
type record struct {
	Class       string `json:"c"`            // 0100, 0120, 0200, 0220, 0400
	Kind        string `json:"k,omitempty"`  // see Kind*; "" for a tombstone
	Amount      int64  `json:"a"`            // DE4
	RC          string `json:"rc,omitempty"` // DE39 answered
	AuthCode    string `json:"ac,omitempty"` // DE38 answered
	RRN         string `json:"rrn,omitempty"`
	Day         string `json:"d"`            // UTC date of receipt, YYYYMMDD
	Original    string `json:"o,omitempty"`  // reversal/completion/advice: key of the original
	Reversed    bool   `json:"rv,omitempty"` // an approval cancelled by a reversal
	ReversedDay string `json:"rd,omitempty"` // UTC date the reversal was received
	// Tombstone: a reversal named this identity before it arrived. When
	// the original comes it is answered as usual but stored reversed.
	Tombstone bool `json:"t,omitempty"`
	// StandIn: approved by the client's stand-in, as its advice reported.
	StandIn bool `json:"si,omitempty"`
	// Advice: an approval the client reported (a stand-in 0220, an 0120),
	// booked under the advice's own identity.
	Advice bool `json:"av,omitempty"`
	// At is when the request was received (unix nanos); the settlement
	// export cuts its window by it. 0 in records written before it existed.
	At int64 `json:"at,omitempty"`
	// ReversedAt is when the reversal was received (unix nanos), so that
	// an export of a past window shows the status as of the window's end.
	ReversedAt int64 `json:"ra,omitempty"`
	// Requests counts the frames of this identity that were processed
	// (the first and those answered from the record); Repeats those of
	// them with a repeat MTI; Refused the frames answered 94 instead. A
	// checker tells from them whether the client asked twice.
	Requests int64 `json:"n,omitempty"`
	Repeats  int64 `json:"rp,omitempty"`
	Refused  int64 `json:"rf,omitempty"`
}

func (r *record) approved() bool { return r.RC == "00" && !r.Tombstone }

// refusedOnly: the identity was only ever refused (STAN reuse); it
// answers 94 and takes no part in the STAN-reuse check of others.
func (r *record) refusedOnly() bool { return r.Requests == 0 && r.Refused > 0 }

// Ledger is the simulator's durable record of what it answered.
//
// Writes go through one committer goroutine: it takes every request
// queued while its previous commit was being written (and at least
// minCommitGap after it) and books them in one transaction: one fsync for
// all.
// bbolt's db.Batch did the same behind a 2 ms delay, but cost a timer, a
// retry of the whole batch and a waiting goroutine whose stack grew
// through bbolt per request: about a third of acqsim's CPU under load.
type Ledger struct {
	db    *bolt.DB
	reqs  chan *bookReq // nil when read-only
	stop  chan struct{}
	done  chan struct{}
	close sync.Once
}

// bookReq is one request waiting for the committer.
type bookReq struct {
	e    entry
	out  record
	what outcome
	err  error
	done chan struct{}
}

// OpenLedger opens dir/sim.db. Read-only needs an existing file and shares
// it with other readers, but waits at most a second for a running
// simulator's lock (then it fails: ask the simulator's admin API).
func OpenLedger(dir string, readOnly bool) (*Ledger, error) { return openLedger(dir, readOnly, false) }

// openLedger is OpenLedger; noSync leaves the commits to the page cache
// (Config.NoSync).
func openLedger(dir string, readOnly, noSync bool) (*Ledger, error) {
	path := filepath.Join(dir, LedgerFile)
	if readOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("sim: ledger %s: %w", path, err)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sim: ledger dir %s: %w", dir, err)
	}
	// The freelist is not written with each commit (one page write less
	// per commit, and no array freelist to sort): Open rebuilds it by
	// scanning the file. The records themselves are fsync'd as before.
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: readOnly, Timeout: time.Second,
		NoFreelistSync: true, FreelistType: bolt.FreelistMapType, NoSync: noSync})
	if err != nil {
		return nil, fmt.Errorf("sim: open ledger %s: %w", path, err)
	}
	if !readOnly {
		err = db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists(bucketTxns)
			return err
		})
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("sim: init ledger %s: %w", path, err)
		}
	}
	l := &Ledger{db: db}
	if !readOnly {
		l.reqs, l.stop, l.done = make(chan *bookReq, maxGroup), make(chan struct{}), make(chan struct{})
		go l.committer()
	}
	return l, nil
}

// Close stops the committer, once every request handed to it is booked,
// and closes the file. Nothing may book after Close.
func (l *Ledger) Close() error {
	l.close.Do(func() {
		if l.stop != nil {
			close(l.stop)
			<-l.done
		}
	})
	return l.db.Close()
}

// entry is one request to book.
type entry struct {
	key    string // class + identity
	orig   string // reversal, completion: key of the original it names
	rec    record // what to store if the identity is new
	repeat bool   // came with a repeat MTI (xx01)
	// strict: the rules of a strict host (nil: the lenient one).
	strict *strictRules
}

// outcome is what booking did with a request.
type outcome int

const (
	booked          outcome = iota // a new identity, stored
	answeredAgain                  // a known identity, answered from its record
	refusedDup                     // strict: a duplicate transmission, 94
	refusedReuse                   // strict: DE41+DE11 reused the same day, 94
	unknownOriginal                // strict: the original it names is unknown, 25
)

// book stores e unless its identity is known, in a commit shared with the
// requests queued meanwhile (durable when it returns), and counts the
// frame on its record. It returns the record that answers and what was
// done. A reversal marks its original reversed, or leaves a tombstone for
// it (lenient host).
func (l *Ledger) book(e entry) (record, outcome, error) {
	r := &bookReq{e: e, done: make(chan struct{})}
	l.reqs <- r
	<-r.done
	if r.err != nil {
		return record{}, 0, fmt.Errorf("sim: ledger write %s: %w", e.key, r.err)
	}
	return r.out, r.what, nil
}

// committer books the queued requests, a group per commit, until stop;
// then it books what is still queued and ends.
func (l *Ledger) committer() {
	defer close(l.done)
	group := make([]*bookReq, 0, maxGroup)
	var last time.Time // the end of the last commit
	for {
		select {
		case r := <-l.reqs:
			group = append(group[:0], r)
			if wait := minCommitGap - time.Since(last); wait > 0 {
				time.Sleep(wait)
			}
		case <-l.stop:
			for {
				select {
				case r := <-l.reqs:
					l.commit([]*bookReq{r})
				default:
					return
				}
			}
		}
	more:
		for len(group) < maxGroup {
			select {
			case r := <-l.reqs:
				group = append(group, r)
			default:
				break more
			}
		}
		l.commit(group)
		last = time.Now()
		clear(group)
	}
}

// commit books group in one transaction. If it fails, each request is
// booked again alone, so that one bad record fails only its own request
// (what db.Batch did).
func (l *Ledger) commit(group []*bookReq) {
	err := l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTxns)
		for _, r := range group {
			var err error
			if r.out, r.what, err = bookTx(b, r.e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(group) > 1 {
		for _, r := range group {
			l.commit([]*bookReq{r})
		}
		return
	}
	for _, r := range group {
		r.err = err
		close(r.done)
	}
}

// bookTx is book inside the transaction.
func bookTx(b *bolt.Bucket, e entry) (record, outcome, error) {
	old, ok, err := get(b, e.key)
	if err != nil {
		return record{}, 0, err
	}
	if ok && !old.Tombstone {
		if !e.strict.forgotten(&old) {
			return again(b, e, old)
		}
		// Outside the window the host no longer knows it: the old
		// record moves aside (its money stays counted) and the frame
		// is new.
		if err := put(b, archiveKey(e.key, old.At), &old); err != nil {
			return record{}, 0, err
		}
		ok = false
	}
	if what, err := e.strict.refuse(b, e); err != nil || what != booked {
		return e.rec, what, err
	}
	return fresh(b, e, old, ok)
}

// again answers a frame of a known identity from its record and counts
// it there. A strict host refuses an original MTI (a duplicate
// transmission); an identity only ever refused stays refused.
func again(b *bolt.Bucket, e entry, old record) (record, outcome, error) {
	what := answeredAgain
	switch {
	case old.refusedOnly():
		old.Refused++
		what = refusedReuse
	case e.strict != nil && !e.repeat:
		old.Refused++
		what = refusedDup
	default:
		old.Requests++
		if e.repeat {
			old.Repeats++
		}
	}
	return old, what, put(b, e.key, &old)
}

// fresh stores a new identity; tomb, if hasTomb, is the tombstone a
// reversal left for it (then it is stored reversed).
func fresh(b *bolt.Bucket, e entry, tomb record, hasTomb bool) (record, outcome, error) {
	rec := e.rec
	rec.Requests = 1
	if e.repeat {
		rec.Repeats = 1
	}
	if hasTomb {
		rec.Reversed, rec.ReversedDay, rec.ReversedAt = true, tomb.ReversedDay, tomb.ReversedAt
	}
	if rec.Kind == KindReversal {
		if err := reverse(b, e.orig, rec.Day, rec.At); err != nil {
			return record{}, 0, err
		}
	}
	return rec, booked, put(b, e.key, &rec)
}

// archiveKey is where a record forgotten by the duplicate window is kept:
// its key, "~" and its receipt time (unix nanos, 19 digits).
func archiveKey(key string, at int64) string {
	return fmt.Sprintf("%s~%019d", key, at)
}

// reverse marks the original at key reversed on day (at unix nanos), or
// leaves a tombstone if it has not arrived. Reversing a decline or an
// already reversed approval changes nothing.
func reverse(b *bolt.Bucket, key, day string, at int64) error {
	o, ok, err := get(b, key)
	switch {
	case err != nil:
		return err
	case !ok:
		o = record{Class: key[:4], Tombstone: true, Reversed: true, ReversedDay: day, Day: day, At: at, ReversedAt: at}
	case o.Reversed || !o.approved():
		return nil
	default:
		o.Reversed, o.ReversedDay, o.ReversedAt = true, day, at
	}
	return put(b, key, &o)
}

func get(b *bolt.Bucket, key string) (record, bool, error) {
	v := b.Get([]byte(key))
	if v == nil {
		return record{}, false, nil
	}
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return record{}, false, fmt.Errorf("record %q: %w", key, err)
	}
	return r, true, nil
}

func put(b *bolt.Bucket, key string, r *record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), v)
}

// each calls fn for every record in a read transaction.
func (l *Ledger) each(fn func(key string, r *record)) error {
	err := l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTxns)
		if b == nil {
			return nil // read-only open of a ledger never written
		}
		return b.ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("record %q: %w", k, err)
			}
			fn(string(k), &r)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("sim: ledger read: %w", err)
	}
	return nil
}

// Totals is Net by kind: approved, not reversed.
func (l *Ledger) Totals() (Totals, error) {
	t := Totals{Net: map[string]Sum{}}
	err := l.each(func(_ string, r *record) {
		if r.approved() && !r.Reversed && netKinds[r.Kind] {
			add(t.Net, r.Kind, r.Amount, 1)
		}
	})
	return t, err
}

// TotalsByDay is the ledger by UTC day (YYYYMMDD).
func (l *Ledger) TotalsByDay() (map[string]DayTotals, error) {
	days := map[string]DayTotals{}
	day := func(d string) DayTotals {
		dt, ok := days[d]
		if !ok {
			dt = DayTotals{Approved: map[string]Sum{}, Reversed: map[string]Sum{}, Net: map[string]Sum{}}
			days[d] = dt
		}
		return dt
	}
	err := l.each(func(_ string, r *record) {
		if !r.approved() || !netKinds[r.Kind] {
			return
		}
		d := day(r.Day)
		add(d.Approved, r.Kind, r.Amount, 1)
		add(d.Net, r.Kind, r.Amount, 1)
		if r.Reversed {
			rd := day(r.ReversedDay)
			add(rd.Reversed, r.Kind, r.Amount, 1)
			add(rd.Net, r.Kind, -r.Amount, -1)
		}
	})
	return days, err
}

func add(m map[string]Sum, kind string, amount, count int64) {
	s := m[kind]
	s.Count += count
	s.Amount += amount
	m[kind] = s
}
