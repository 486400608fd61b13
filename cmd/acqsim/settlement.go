package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
)

// parseWindow reads a settlement window: day (YYYYMMDD, that UTC day), or
// from and to (RFC3339), not both.
func parseWindow(day, from, to string) (time.Time, time.Time, error) {
	switch {
	case day != "" && (from != "" || to != ""):
		return time.Time{}, time.Time{}, errors.New("give day or from and to, not both")
	case day != "":
		d, err := time.Parse("20060102", day)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("day %q: want YYYYMMDD", day)
		}
		return d, d.AddDate(0, 0, 1), nil
	case from == "" || to == "":
		return time.Time{}, time.Time{}, errors.New("give day, or both from and to")
	}
	f, err := time.Parse(time.RFC3339Nano, from)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("from: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, to)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("to: %w", err)
	}
	if !f.Before(t) {
		return time.Time{}, time.Time{}, fmt.Errorf("from %s is not before to %s", from, to)
	}
	return f, t, nil
}

// settlementSource is what both the admin API and the command read: a
// running simulator or a ledger opened read-only.
type settlementSource interface {
	Settlement(from, to time.Time) ([]sim.SettlementRow, error)
}

// writeSettlement writes the CSV of [from, to) from src.
func writeSettlement(w io.Writer, src settlementSource, from, to time.Time) error {
	rows, err := src.Settlement(from, to)
	if err != nil {
		return err
	}
	return sim.WriteSettlementCSV(w, rows, from, to)
}

// settlementHandler serves GET /settlement?day=YYYYMMDD or ?from=&to=
// (RFC3339) as text/csv; a bad window is 400.
func settlementHandler(mux *http.ServeMux, s *sim.Sim, log *slog.Logger) {
	mux.HandleFunc("GET /settlement", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		from, to, err := parseWindow(q.Get("day"), q.Get("from"), q.Get("to"))
		if err != nil {
			http.Error(w, "settlement: "+err.Error(), http.StatusBadRequest)
			return
		}
		var buf bytes.Buffer // whole, so that a failure is a 500, not a cut file
		if err := writeSettlement(&buf, s, from, to); err != nil {
			log.Error("admin settlement", "err", err)
			http.Error(w, "settlement: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Write(buf.Bytes())
	})
}

type settlementCommand struct {
	out io.Writer
}

func (c *settlementCommand) Usage() string {
	return `usage: acqsim settlement (--admin ADDR | --data DIR) (--day YYYYMMDD | --from T --to T) [-o FILE]

Writes the simulator's settlement file of a window as CSV: one row per
approved purchase, refund, cashback, completion or stand-in advice
received in [from, to) (RFC3339; --day is that UTC day), reversed ones
with status reversed when their reversal came before the window's end,
then a TRAILER line (see docs/settlement.md). --admin asks a running
simulator (GET /settlement); --data opens DIR/sim.db read-only, which a
running server holds locked.

`
}

func (c *settlementCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("settlement", flag.ContinueOnError)
	var (
		admin   = fs.String("admin", "", "a running simulator's admin address")
		dataDir = fs.String("data", "", "data directory to read instead (no server running)")
		day     = fs.String("day", "", "the UTC day YYYYMMDD")
		from    = fs.String("from", "", "window start, RFC3339")
		to      = fs.String("to", "", "window end (excluded), RFC3339")
		outPath = fs.String("o", "", "write to this file instead of stdout")
	)
	fs.Usage = func() { fmt.Fprint(os.Stderr, c.Usage()); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || (*admin == "") == (*dataDir == "") {
		return errUsage
	}
	f, t, err := parseWindow(*day, *from, *to)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	var buf bytes.Buffer
	if *admin != "" {
		err = fetchSettlement(ctx, &buf, *admin, f, t)
	} else {
		err = readSettlement(&buf, *dataDir, f, t)
	}
	if err != nil {
		return err
	}
	if *outPath == "" {
		_, err = c.out.Write(buf.Bytes())
		return err
	}
	if err := os.WriteFile(*outPath, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("settlement: %w", err)
	}
	return nil
}

func readSettlement(w io.Writer, dir string, from, to time.Time) error {
	l, err := sim.OpenLedger(dir, true)
	if err != nil {
		return err
	}
	defer l.Close()
	return writeSettlement(w, l, from, to)
}

func fetchSettlement(ctx context.Context, w io.Writer, admin string, from, to time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	q := url.Values{"from": {from.Format(time.RFC3339Nano)}, "to": {to.Format(time.RFC3339Nano)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/settlement?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("settlement: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("settlement: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("settlement: %w", err)
	}
	return nil
}
