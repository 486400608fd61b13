package store

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Business days. One day is open at a time (meta business_day); every
// INTENT joins the day open when it is applied, so the Raft order decides
// the day of a transaction in flight at the cutover, on every replica
// alike. A day then moves forward, never back:
//
//	open --cutover--> closing --settle--> settled
//
// A cutover (OpCutover) names the day it closes, so a second one for the
// same day, from a scheduler on a new active or an operator who pressed
// twice, changes nothing: the day closes exactly once. A closing day is
// settled (OpSettle) once none of its transactions is pending. From then
// on the records that make up its settlement files are frozen (see
// frozen), which is what makes the files a pure function of the log: any
// node, at any later time, renders the same bytes, whose checksums the
// active records with OpDayFile. OpDayReconciled records the outcome of
// matching a file against the acquirer's.

// DayStatus is where a business day stands.
type DayStatus uint8

// Day statuses.
const (
	DayOpen    DayStatus = 1 // transactions join it
	DayClosing DayStatus = 2 // cut over: its last transactions are finishing
	DaySettled DayStatus = 3 // frozen: its files can be rendered
)

func (s DayStatus) String() string {
	switch s {
	case DayOpen:
		return "open"
	case DayClosing:
		return "closing"
	case DaySettled:
		return "settled"
	}
	return "day(" + strconv.Itoa(int(s)) + ")"
}

// Day is one business day as the replicated state keeps it.
type Day struct {
	Day      string // YYYYMMDD
	Status   DayStatus
	OpenedAt int64 // unix nanos: the cutover (or first transaction) that opened it
	ClosedAt int64 // the cutover that closed it; 0 while open
	// CutoverIndex is the Raft index of the cutover that closed the day:
	// every transaction of the day has a smaller seq, every later one a
	// larger.
	CutoverIndex uint64
	ClosedBy     string // "operator" or "schedule": who asked for the cutover
	SettledIndex uint64 // the Raft index of the settle command; 0 before
	SettledAt    int64
	Files        []DayFile        // by acquirer name
	Recons       []Reconciliation // by acquirer name, the latest of each
}

// File returns the recorded file of acquirer, if any.
func (d *Day) File(acquirer string) (DayFile, bool) {
	for _, f := range d.Files {
		if f.Acquirer == acquirer {
			return f, true
		}
	}
	return DayFile{}, false
}

// DayFile is the checksum of one acquirer's settlement file of a day, as
// the active rendered it.
type DayFile struct {
	Acquirer   string
	CSVSHA256  string // hex
	JSONSHA256 string // hex
	Rows       int64
	Net        int64 // minor units
	At         int64
}

// Reconciliation is the outcome of matching one acquirer's settlement
// file of a day against the acquirer's own.
type Reconciliation struct {
	Acquirer      string
	Reconciled    bool
	Discrepancies int64
	ReportSHA256  string // hex, of the JSON report
	At            int64
}

// Cutover reasons.
const (
	ByOperator = "operator"
	BySchedule = "schedule"
)

// CutoverCmd encodes the cutover that closes day closing (the open day,
// "" when none is open yet) and opens next, which must be a later day.
func CutoverCmd(closing, next, by string, at int64) []byte {
	w := newCmd(OpCutover, 32)
	w.str(closing)
	w.str(next)
	w.str(by)
	w.int(at)
	return w.b
}

// SettleCmd encodes the settlement of a closing day. Apply refuses it
// (ErrDayBusy) while a transaction of the day is pending.
func SettleCmd(day string, at int64) []byte {
	w := newCmd(OpSettle, 24)
	w.str(day)
	w.int(at)
	return w.b
}

// DayFileCmd records the checksums of a settled day's file. Recording the
// same file twice changes nothing; a different checksum for a file already
// recorded is refused (ErrMismatch): it would mean two nodes rendered the
// same frozen day differently.
func DayFileCmd(day string, f DayFile) []byte {
	w := newCmd(OpDayFile, 200)
	w.str(day)
	appendDayFile(&w, f)
	return w.b
}

// DayReconciledCmd records a reconciliation of a settled day; a later one
// for the same acquirer replaces it.
func DayReconciledCmd(day string, r Reconciliation) []byte {
	w := newCmd(OpDayReconciled, 128)
	w.str(day)
	appendRecon(&w, r)
	return w.b
}

func newCmd(op Op, size int) writer {
	return writer{b: append(make([]byte, 0, size), cmdVersion, byte(op))}
}

// dayCmd is a decoded day command: which fields are set depends on the op.
type dayCmd struct {
	Day, Next, By string
	At            int64
	File          DayFile
	Recon         Reconciliation
}

func readDayCmd(op Op, r *reader) *dayCmd {
	c := &dayCmd{}
	switch op {
	case OpCutover:
		c.Day, c.Next, c.By, c.At = r.str(), r.str(), r.str(), r.int()
	case OpSettle:
		c.Day, c.At = r.str(), r.int()
	case OpDayFile:
		c.Day, c.File = r.str(), readDayFile(r)
	case OpDayReconciled:
		c.Day, c.Recon = r.str(), readRecon(r)
	}
	return c
}

// ValidDay reports whether s is a day name, YYYYMMDD of a real date.
func ValidDay(s string) bool {
	if len(s) != 8 {
		return false
	}
	_, err := time.Parse("20060102", s)
	return err == nil
}

// cutover closes the open day and opens the next.
func (a *applier) cutover(c *dayCmd) (Result, error) {
	if !ValidDay(c.Next) || (c.Day != "" && !ValidDay(c.Day)) {
		return Result{Err: fmt.Errorf("%w: cutover %q -> %q: days are YYYYMMDD", ErrInvalid, c.Day, c.Next)}, nil
	}
	if c.Next <= c.Day {
		return Result{Err: fmt.Errorf("%w: cutover %s -> %s: days only move forward", ErrInvalid, c.Day, c.Next)}, nil
	}
	meta := a.tx.Bucket(bucketMeta)
	open := string(meta.Get(metaDay))
	if c.Day != open {
		d, err := a.day(open)
		return Result{Day: d, Err: fmt.Errorf("%w: cutover of %q: the open day is %q", ErrStaleDay, c.Day, open)}, err
	}
	if open != "" {
		d, err := a.day(open)
		if err != nil {
			return Result{}, err
		}
		if d == nil { // opened by a binary without day records
			d = &Day{Day: open}
		}
		d.Status, d.ClosedAt, d.CutoverIndex, d.ClosedBy = DayClosing, c.At, a.index, c.By
		if err := a.putDay(d); err != nil {
			return Result{}, err
		}
	}
	next := &Day{Day: c.Next, Status: DayOpen, OpenedAt: c.At}
	if err := a.putDay(next); err != nil {
		return Result{}, err
	}
	return Result{Day: next}, meta.Put(metaDay, []byte(c.Next))
}

// settle freezes a closing day once none of its transactions is pending.
func (a *applier) settle(c *dayCmd) (Result, error) {
	d, err := a.day(c.Day)
	if err != nil {
		return Result{}, err
	}
	switch {
	case d == nil:
		return Result{Err: fmt.Errorf("%w: settle of day %q", ErrNoDay, c.Day)}, nil
	case d.Status == DaySettled:
		return Result{Day: d}, nil
	case d.Status != DayClosing:
		return Result{Day: d, Err: fmt.Errorf("%w: settle of day %s, which is %v", ErrDayBusy, c.Day, d.Status)}, nil
	}
	if a.pendingBefore(d.CutoverIndex) {
		return Result{Day: d, Err: fmt.Errorf("%w: day %s has pending transactions", ErrDayBusy, c.Day)}, nil
	}
	d.Status, d.SettledIndex, d.SettledAt = DaySettled, a.index, c.At
	return Result{Day: d}, a.putDay(d)
}

// pendingBefore reports whether a pending transaction has a seq below
// index: the pending part of the status index is in seq order, so its
// first key says.
func (a *applier) pendingBefore(index uint64) bool {
	k, _ := a.tx.Bucket(bucketStatus).Cursor().Seek([]byte{byte(StatusPending)})
	return k != nil && k[0] == byte(StatusPending) && len(k) == 9 && binary.BigEndian.Uint64(k[1:]) < index
}

// dayFile records a settled day's file checksums.
func (a *applier) dayFile(c *dayCmd) (Result, error) {
	d, refused, err := a.settledDay(c.Day)
	if err != nil || refused != nil {
		return Result{Day: d, Err: refused}, err
	}
	f := c.File
	if !validAcquirerName(f.Acquirer) {
		return Result{Err: fmt.Errorf("%w: file of acquirer %q", ErrInvalid, f.Acquirer)}, nil
	}
	if old, ok := d.File(f.Acquirer); ok {
		if old.CSVSHA256 != f.CSVSHA256 || old.JSONSHA256 != f.JSONSHA256 {
			a.log.Error("settlement file checksum differs from the one recorded", "day", c.Day, "acquirer", f.Acquirer,
				"recorded", old.CSVSHA256, "new", f.CSVSHA256)
			return Result{Day: d, Err: fmt.Errorf("%w: day %s acquirer %s: csv %s, recorded %s", ErrMismatch, c.Day, f.Acquirer, f.CSVSHA256, old.CSVSHA256)}, nil
		}
		return Result{Day: d, Existed: true}, nil
	}
	d.Files = append(d.Files, f)
	sort.Slice(d.Files, func(i, j int) bool { return d.Files[i].Acquirer < d.Files[j].Acquirer })
	return Result{Day: d}, a.putDay(d)
}

// dayReconciled records (or replaces) a reconciliation of a settled day.
func (a *applier) dayReconciled(c *dayCmd) (Result, error) {
	d, refused, err := a.settledDay(c.Day)
	if err != nil || refused != nil {
		return Result{Day: d, Err: refused}, err
	}
	r := c.Recon
	if !validAcquirerName(r.Acquirer) {
		return Result{Err: fmt.Errorf("%w: reconciliation of acquirer %q", ErrInvalid, r.Acquirer)}, nil
	}
	kept := d.Recons[:0]
	for _, old := range d.Recons {
		if old.Acquirer != r.Acquirer {
			kept = append(kept, old)
		}
	}
	d.Recons = append(kept, r)
	sort.Slice(d.Recons, func(i, j int) bool { return d.Recons[i].Acquirer < d.Recons[j].Acquirer })
	return Result{Day: d}, a.putDay(d)
}

// settledDay reads a day that must be settled: refused says why the
// command changes nothing, err is a storage failure.
func (a *applier) settledDay(day string) (d *Day, refused, err error) {
	if d, err = a.day(day); err != nil {
		return nil, nil, err
	}
	if d == nil || d.Status != DaySettled {
		return d, fmt.Errorf("%w: day %q is not settled", ErrDayBusy, day), nil
	}
	return d, nil, nil
}

// openDay is the day a new transaction joins. The first transaction ever,
// if no cutover opened a day before it, opens the UTC day of its
// leader-stamped time.
func (a *applier) openDay(at int64) (string, error) {
	meta := a.tx.Bucket(bucketMeta)
	if v := meta.Get(metaDay); v != nil {
		return string(v), nil
	}
	day := time.Unix(0, at).UTC().Format("20060102")
	if err := a.putDay(&Day{Day: day, Status: DayOpen, OpenedAt: at}); err != nil {
		return "", err
	}
	return day, meta.Put(metaDay, []byte(day))
}

// frozen reports whether t belongs to a settled day, whose files must not
// change: its approvals stay approved (a later reversal counts in its own
// day instead) and its unknown outcomes stay unknown (they are rendered as
// reversed, which the owed reversal will make them).
func (a *applier) frozen(t *Txn) (bool, error) {
	d, err := a.day(t.Day)
	return d != nil && d.Status == DaySettled, err
}

func (a *applier) day(day string) (*Day, error) {
	if day == "" {
		return nil, nil
	}
	return getDay(a.tx.Bucket(bucketDays).Get([]byte(day)))
}

func (a *applier) putDay(d *Day) error {
	return a.tx.Bucket(bucketDays).Put([]byte(d.Day), appendDay(nil, d))
}

const dayVersion = 1

func appendDay(b []byte, d *Day) []byte {
	w := writer{b: b}
	w.byte(dayVersion)
	w.str(d.Day)
	w.byte(byte(d.Status))
	w.int(d.OpenedAt)
	w.int(d.ClosedAt)
	w.int(int64(d.CutoverIndex))
	w.str(d.ClosedBy)
	w.int(int64(d.SettledIndex))
	w.int(d.SettledAt)
	w.int(int64(len(d.Files)))
	for _, f := range d.Files {
		appendDayFile(&w, f)
	}
	w.int(int64(len(d.Recons)))
	for _, r := range d.Recons {
		appendRecon(&w, r)
	}
	return w.b
}

func getDay(v []byte) (*Day, error) {
	if v == nil {
		return nil, nil
	}
	r := reader{b: v}
	if ver := r.byte(); ver != dayVersion && r.err == nil {
		r.failf("day version %d", ver)
	}
	d := &Day{Day: r.str(), Status: DayStatus(r.byte()), OpenedAt: r.int(), ClosedAt: r.int()}
	d.CutoverIndex = uint64(r.int())
	d.ClosedBy = r.str()
	d.SettledIndex, d.SettledAt = uint64(r.int()), r.int()
	for n := r.count(); n > 0; n-- {
		d.Files = append(d.Files, readDayFile(&r))
	}
	for n := r.count(); n > 0; n-- {
		d.Recons = append(d.Recons, readRecon(&r))
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("day record: %w", err)
	}
	return d, nil
}

func appendDayFile(w *writer, f DayFile) {
	w.str(f.Acquirer)
	w.str(f.CSVSHA256)
	w.str(f.JSONSHA256)
	w.int(f.Rows)
	w.int(f.Net)
	w.int(f.At)
}

func readDayFile(r *reader) DayFile {
	return DayFile{Acquirer: r.str(), CSVSHA256: r.str(), JSONSHA256: r.str(), Rows: r.int(), Net: r.int(), At: r.int()}
}

func appendRecon(w *writer, c Reconciliation) {
	w.str(c.Acquirer)
	w.bool(c.Reconciled)
	w.int(c.Discrepancies)
	w.str(c.ReportSHA256)
	w.int(c.At)
}

func readRecon(r *reader) Reconciliation {
	return Reconciliation{Acquirer: r.str(), Reconciled: r.bool(), Discrepancies: r.int(), ReportSHA256: r.str(), At: r.int()}
}
