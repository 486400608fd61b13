package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

// writeDay prints one day: its record, then its files and reconciliations
// as tables, then the acqsim window to reconcile it with.
func writeDay(g *globals, d adminapi.Day) error {
	u := func(v uint64) string {
		if v == 0 {
			return "-"
		}
		return strconv.FormatUint(v, 10)
	}
	closed := "-"
	if d.ClosedAt != nil {
		closed = d.ClosedAt.Format(time.RFC3339Nano)
	}
	rows := [][]string{
		{"day", d.Day}, {"status", d.Status}, {"opened", d.OpenedAt.Format(time.RFC3339Nano)},
		{"closed", closed}, {"closed by", orDash(d.ClosedBy)},
		{"cutover index", u(d.CutoverIndex)}, {"settled index", u(d.SettledIndex)},
	}
	if err := table(g.out, "FIELD\tVALUE", rows); err != nil {
		return err
	}
	if len(d.Files) > 0 {
		var fr [][]string
		for _, f := range d.Files {
			fr = append(fr, []string{f.Acquirer, strconv.FormatInt(f.Rows, 10), money(f.Net), f.CSVSHA256, f.JSONSHA256})
		}
		fmt.Fprintln(g.out)
		if err := table(g.out, "ACQUIRER\tROWS\tNET\tCSV SHA-256\tJSON SHA-256", fr); err != nil {
			return err
		}
	}
	if len(d.Reconciliations) > 0 {
		var rr [][]string
		for _, r := range d.Reconciliations {
			rr = append(rr, []string{r.Acquirer, strconv.FormatBool(r.Reconciled), strconv.FormatInt(r.Discrepancies, 10),
				r.At.Format(time.RFC3339), r.ReportSHA256})
		}
		fmt.Fprintln(g.out)
		if err := table(g.out, "ACQUIRER\tRECONCILED\tDISCREPANCIES\tAT\tREPORT SHA-256", rr); err != nil {
			return err
		}
	}
	if d.ClosedAt != nil {
		_, err := fmt.Fprintf(g.out, "\nthe acquirer's file of this window: acqsim settlement --admin ADDR --from %s --to %s -o FILE\n",
			d.OpenedAt.Format(time.RFC3339Nano), d.ClosedAt.Format(time.RFC3339Nano))
		return err
	}
	return nil
}
