// Package businessday is the business day of a node: the scheduled (or
// operator's) cutover, the settlement of a closed day once none of its
// transactions is pending, its settlement files (a pure function of the
// log, rendered the same on every node, their checksums recorded in it) and
// the reconciliation with an acquirer's own file. Each step is one
// idempotent command, so a new active after a crash at any point simply
// does the next step again.
package businessday

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tillgate/tillgate/node/internal/commit"
	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/store"
)

// Config says when the business day is cut over and where its settlement
// files go.
type Config struct {
	// Cutover is the local time of day, "HH:MM", at which the open day
	// closes; empty leaves every cutover to the operator (tillctl day
	// cutover). A day is named by the date holding most of its hours: with
	// a cutover at 02:00, the day 20261201 runs from 1 Dec 02:00 to 2 Dec
	// 02:00; with one at 22:00, from 30 Nov 22:00 to 1 Dec 22:00.
	Cutover string
	// TimeZone is the IANA zone of Cutover (default UTC).
	TimeZone string
	// SettlementDir receives the settlement files, one directory per day
	// (default DataDir/settlement).
	SettlementDir string
	// Poll is how often the active looks at the schedule and at days to
	// settle (default 1 s).
	Poll time.Duration
}

// schedule is a parsed BusinessDayConfig.
type schedule struct {
	on  bool
	loc *time.Location
	at  time.Duration // since local midnight
}

// Validate reports a config that cannot be used.
func (c Config) Validate() error {
	var errs []error
	if _, err := c.schedule(); err != nil {
		errs = append(errs, err)
	}
	if c.Poll <= 0 {
		errs = append(errs, fmt.Errorf("business_day.poll %v: want > 0", c.Poll))
	}
	return errors.Join(errs...)
}

func (c Config) schedule() (schedule, error) {
	s := schedule{loc: time.UTC}
	if c.TimeZone != "" {
		loc, err := time.LoadLocation(c.TimeZone)
		if err != nil {
			return s, fmt.Errorf("business_day.time_zone %q: %w (want an IANA name such as Europe/Berlin)", c.TimeZone, err)
		}
		s.loc = loc
	}
	if c.Cutover == "" {
		return s, nil
	}
	t, err := time.Parse("15:04", c.Cutover)
	if err != nil {
		return s, fmt.Errorf("business_day.cutover %q: want HH:MM, e.g. 23:00", c.Cutover)
	}
	s.on, s.at = true, time.Duration(t.Hour())*time.Hour+time.Duration(t.Minute())*time.Minute
	return s, nil
}

// dayOf names the business day that instant t belongs to.
func (s schedule) dayOf(t time.Time) string {
	local := t.In(s.loc)
	y, m, d := local.Date()
	cut := time.Date(y, m, d, 0, 0, 0, 0, s.loc).Add(s.at)
	day := time.Date(y, m, d, 12, 0, 0, 0, s.loc)
	switch {
	case s.at < 12*time.Hour && local.Before(cut):
		day = day.AddDate(0, 0, -1) // before an early cutover: yesterday's day
	case s.at >= 12*time.Hour && !local.Before(cut):
		day = day.AddDate(0, 0, 1) // after a late cutover: tomorrow's day
	}
	return day.Format("20060102")
}

// nextDay is the calendar day after day (YYYYMMDD).
func nextDay(day string) string {
	t, err := time.Parse("20060102", day)
	if err != nil {
		return ""
	}
	return t.AddDate(0, 0, 1).Format("20060102")
}

// Failpoints of the business day's close, in order (Options.Failpoint).
const (
	FailpointCutover  = "cutover-committed"   // the cutover is committed, nothing else done
	FailpointRendered = "settlement-rendered" // a file is rendered, its checksum not recorded
	FailpointRecorded = "settlement-recorded" // its checksum is recorded, the file not written
)

func (s *Service) failpoint(name string) {
	if s.o.Failpoint != nil {
		s.o.Failpoint(name)
	}
}

// Now is the clock of the business day: cutovers and the times they stamp.
// Tests jump it (FAULTS.md scenario 10).
func (s *Service) Now() time.Time {
	if s.o.Clock != nil {
		return s.o.Clock()
	}
	return time.Now()
}

// ErrDayNotOpen: a cutover named a day that is not the open one (someone
// cut over first).
var ErrDayNotOpen = errors.New("node: that business day is not open")

// Cutover closes the open business day now, as an operator asks: the next
// day is the one the schedule names for now or, if that is not later than
// the open one, the day after it. If day is not empty it must be the open
// day, so that an operator who retries does not close the next one too.
// It returns the day opened.
func (s *Service) Cutover(ctx context.Context, day string) (*store.Day, error) {
	open, err := s.o.State.OpenDay()
	if err != nil {
		return nil, err
	}
	if day != "" && day != open {
		return nil, fmt.Errorf("%w: %s (the open day is %s)", ErrDayNotOpen, day, open)
	}
	next := s.sched.dayOf(s.Now())
	if next <= open {
		next = nextDay(open)
	}
	return s.cutover(ctx, open, next, store.ByOperator)
}

func (s *Service) cutover(ctx context.Context, open, next, by string) (*store.Day, error) {
	r, err := s.apply(ctx, store.CutoverCmd(open, next, by, s.Now().UnixNano()))
	if errors.Is(err, store.ErrStaleDay) {
		return nil, fmt.Errorf("%w: %s was cut over already", ErrDayNotOpen, open)
	}
	if err != nil {
		return nil, err
	}
	s.failpoint(FailpointCutover)
	s.metrics.cutovers.WithLabelValues(by).Inc()
	s.log.Info("business day cut over", "closed", open, "opened", next, "by", by)
	s.poke()
	return r.Day, nil
}

// apply commits a day command and returns its result; a refusal is an
// error wrapping the store's reason.
func (s *Service) apply(ctx context.Context, cmd []byte) (store.Result, error) {
	res, err := s.o.Raft.Apply(ctx, cmd)
	if err != nil {
		return store.Result{}, err
	}
	r, ok := res.(store.Result)
	if !ok {
		return store.Result{}, fmt.Errorf("node: day command: %w", commit.Err(res))
	}
	if r.Err != nil {
		return r, fmt.Errorf("node: day command: %w", r.Err)
	}
	return r, nil
}

// Run is the active's business-day work, for as long as ctx (the term)
// lasts: the scheduled cutover, then for every closed day its settlement
// and files.
func (s *Service) Run(ctx context.Context) {
	for ctx.Err() == nil {
		// One pass at a time: a predecessor term's pass still rendering a
		// big day (it stops at its next chunk) must not run beside this
		// one.
		if s.passMu.TryLock() {
			s.advance(ctx)
			s.passMu.Unlock()
		}
		t := time.NewTimer(s.o.Config.Poll)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-s.wake:
		}
		t.Stop()
	}
}

// poke wakes Run, after a cutover.
func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// advance takes every business day one step further where a step is due
// now: the scheduled cutover of the open day, the settlement of a closed
// one, the files of a settled one.
func (s *Service) advance(ctx context.Context) {
	if s.sched.on {
		s.scheduledCutover(ctx)
	}
	days, err := s.o.State.Days()
	if err != nil {
		s.log.Error("business days: cannot read them", logkey.Err, err)
		return
	}
	var lastSettled string
	for _, d := range days {
		switch {
		case d.Status == store.DayClosing:
			s.settleDay(ctx, d)
		case d.Status == store.DaySettled && len(d.Files) < len(s.acquirersOf(d)):
			s.writeMissingFiles(ctx, d.Day)
		case d.Status == store.DaySettled:
			lastSettled = d.Day
		}
	}
	// The latest day's files also go on this node's disk if a predecessor
	// recorded them and died before writing. Older days are left alone:
	// operators archive their files.
	if lastSettled != "" {
		s.writeMissingFiles(ctx, lastSettled)
	}
}

// scheduledCutover cuts over when the clock has passed into a later day
// than the open one. A clock that jumps back does nothing (days only move
// forward); one that jumps forward across the cutover closes the open day
// once, because the command names it.
func (s *Service) scheduledCutover(ctx context.Context) {
	open, err := s.o.State.OpenDay()
	if err != nil {
		return
	}
	if want := s.sched.dayOf(s.Now()); want > open {
		if _, err := s.cutover(ctx, open, want, store.BySchedule); err != nil && ctx.Err() == nil {
			s.log.Warn("scheduled cutover failed; retrying", "day", open, logkey.Err, err)
		}
	}
}

// settleDay freezes a closed day; the store refuses while some of its
// transactions are still pending (the takeover or the pipeline resolves
// them within an acquirer timeout).
func (s *Service) settleDay(ctx context.Context, d *store.Day) {
	if busy, err := s.o.State.PendingBefore(d.CutoverIndex); busy || err != nil {
		return // not worth a log entry that the store would refuse
	}
	_, err := s.apply(ctx, store.SettleCmd(d.Day, s.Now().UnixNano()))
	switch {
	case err == nil:
		s.log.Info("business day settled", "day", d.Day)
		s.writeMissingFiles(ctx, d.Day)
	case errors.Is(err, store.ErrDayBusy):
		s.log.Debug("business day not settled yet", "day", d.Day, logkey.Err, err)
	case ctx.Err() == nil:
		s.log.Warn("business day settle failed; retrying", "day", d.Day, logkey.Err, err)
	}
}
