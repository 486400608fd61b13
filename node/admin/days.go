package admin

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/node/businessday"
	"github.com/tillgate/tillgate/node/internal/commit"
	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// maxAcquirerFile bounds an uploaded acquirer settlement file: a million
// rows of ~150 bytes.
const maxAcquirerFile = 256 << 20

func (s *Server) dayRoutes(m *router) {
	m.HandleFunc("GET /days", s.days)
	m.write("POST /days/cutover", "day.cutover", s.cutoverDay, bodyParams("day"))
	m.HandleFunc("GET /days/{day}", s.day)
	m.HandleFunc("GET /days/{day}/files/{file}", s.dayFile)
	// A reconciliation may run on a standby (away from the active's
	// traffic), at most MaxReconciles at once.
	m.write("POST /days/{day}/reconcile/{acquirer}", "day.reconcile", s.reconcileDay, anyNode(), limited(s.reconciles))
	m.write("POST /days/{day}/reconciliations", "day.reconciliation.record", s.recordReconciliation,
		bodyParams("acquirer", "reconciled", "discrepancies", "report_sha256"))
	m.HandleFunc("GET /batches/{terminal}", s.batches)
	m.write("POST /batches/{terminal}/{number}/close", "batch.close", s.closeBatch)
}

// activeOnly answers 421 (naming the leader) unless this node is the
// serving active, else returns the context of a write it commits.
func (s *Server) activeOnly(w http.ResponseWriter, r *http.Request, timeout time.Duration) (context.Context, context.CancelFunc, bool) {
	if !s.cfg.Views.Current().Active() {
		s.writeRaftError(w, cluster.ErrNotLeader)
		return nil, nil, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	return ctx, cancel, true
}

// reconcileTimeout bounds a reconciliation: a day of a million rows is
// walked and matched in well under a minute on a small machine.
const reconcileTimeout = 10 * time.Minute

func (s *Server) days(w http.ResponseWriter, _ *http.Request) {
	open, err := s.cfg.State.OpenDay()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	days, err := s.cfg.State.Days()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	out := adminapi.Days{Open: open, Days: make([]adminapi.Day, 0, len(days))}
	for _, d := range days {
		out.Days = append(out.Days, apiDay(d))
	}
	writeJSON(w, http.StatusOK, out)
}

// pathDay reads and checks the {day} of the path; nil and an answer
// written when there is no such day.
func (s *Server) pathDay(w http.ResponseWriter, r *http.Request) *store.Day {
	day := r.PathValue("day")
	if e := checkDay(day); e != nil {
		writeJSON(w, http.StatusBadRequest, *e)
		return nil
	}
	d, err := s.cfg.State.Day(day)
	switch {
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
	case d == nil:
		writeJSON(w, http.StatusNotFound, adminapi.Error{Error: fmt.Sprintf("no business day %s", day), Param: "day", Hint: "list the days with tillctl day list"})
	}
	return d
}

func (s *Server) day(w http.ResponseWriter, r *http.Request) {
	if d := s.pathDay(w, r); d != nil {
		writeJSON(w, http.StatusOK, apiDay(d))
	}
}

func (s *Server) cutoverDay(w http.ResponseWriter, r *http.Request) {
	var req adminapi.Cutover
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<12))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		badParam(w, "body", fmt.Sprintf("want JSON {\"day\": \"YYYYMMDD\"} or nothing: %v", err))
		return
	}
	if e := checkDay(req.Day); e != nil {
		writeJSON(w, http.StatusBadRequest, *e)
		return
	}
	ctx, cancel, ok := s.activeOnly(w, r, adminOpTimeout)
	if !ok {
		return
	}
	defer cancel()
	open, _ := s.cfg.State.OpenDay()
	d, err := s.cfg.Days.Cutover(ctx, req.Day)
	switch {
	case errors.Is(err, businessday.ErrDayNotOpen):
		writeJSON(w, http.StatusConflict, adminapi.Error{Error: err.Error(), Param: "day", Hint: "the day was cut over already; see tillctl day list"})
	case err != nil:
		s.writeRaftError(w, err)
	default:
		writeJSON(w, http.StatusOK, adminapi.CutoverResult{Closed: open, Opened: d.Day})
	}
}

// dayFile serves a settlement file rendered from this node's state, after
// checking it against the checksum in the log: any node gives the same
// bytes.
func (s *Server) dayFile(w http.ResponseWriter, r *http.Request) {
	d := s.pathDay(w, r)
	if d == nil {
		return
	}
	file := r.PathValue("file")
	acq, format, ok := strings.Cut(file, ".")
	if !ok || (format != "csv" && format != "json") {
		badParam(w, "file", fmt.Sprintf("%q: want ACQUIRER.csv or ACQUIRER.json", file))
		return
	}
	if d.Status != store.DaySettled {
		writeJSON(w, http.StatusConflict, adminapi.Error{Error: fmt.Sprintf("day %s is %v: its files exist once it is settled", d.Day, d.Status),
			Hint: "a closed day settles when none of its transactions is pending; see tillctl day show"})
		return
	}
	dir, err := s.cfg.Days.ServeDir()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	defer os.RemoveAll(dir)
	files, err := s.cfg.Days.Render(r.Context(), d, dir, acq)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	f := files[acq]
	if f == nil {
		writeJSON(w, http.StatusNotFound, adminapi.Error{Error: fmt.Sprintf("no acquirer %q on day %s", acq, d.Day), Param: "file"})
		return
	}
	s.sendDayFile(w, d, file, format, f)
}

// sendDayFile sends the rendered file f of d (file is its name, format
// csv or json) if its checksum is the one the log records.
func (s *Server) sendDayFile(w http.ResponseWriter, d *store.Day, file, format string, f *businessday.Rendered) {
	path, got, ctype := f.CSVPath, f.CSVSHA, "text/csv"
	if format == "json" {
		path, got, ctype = f.JSONPath, f.JSONSHA, "application/json"
	}
	rec, ok := d.File(f.Acquirer)
	if !ok {
		// Settled, but the active's record of the checksum has not reached
		// this node yet: it cannot vouch for the bytes.
		writeJSON(w, http.StatusConflict, adminapi.Error{Error: fmt.Sprintf("the checksum of %s of day %s is not recorded on this node yet", file, d.Day),
			Hint: "the active records it moments after the day settles; retry, or compare applied indexes with tillctl status if it lasts"})
		return
	}
	want := rec.CSVSHA256
	if format == "json" {
		want = rec.JSONSHA256
	}
	if got != want {
		s.cfg.Days.FileMismatch(d.Day, f.Acquirer, format)
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: fmt.Sprintf("rendered %s differs from the checksum in the log", file),
			Hint: "this node's state diverged: compare tillctl status hashes and rebuild it from a peer"})
		return
	}
	body, err := os.Open(path)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	defer body.Close()
	w.Header().Set("Content-Type", ctype)
	w.Header().Set(adminapi.HeaderSHA256, want)
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, body)
}

// reconcileDay reconciles on this node, whichever it is (see
// businessday.Service.Reconcile), and records the outcome too when it is
// the active; a standby answers Recorded false, and the client records it
// at the active (POST /days/{day}/reconciliations).
func (s *Server) reconcileDay(w http.ResponseWriter, r *http.Request) {
	d := s.pathDay(w, r)
	if d == nil {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAcquirerFile+1))
	if err != nil || len(body) > maxAcquirerFile {
		badParam(w, "body", fmt.Sprintf("want the acquirer's settlement CSV, at most %d MiB", maxAcquirerFile>>20))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), reconcileTimeout)
	defer cancel()
	res, err := s.cfg.Days.Reconcile(ctx, d.Day, r.PathValue("acquirer"), body)
	switch {
	case errors.Is(err, businessday.ErrBadAcquirerFile):
		writeJSON(w, http.StatusBadRequest, adminapi.Error{Error: err.Error(), Param: "body", Hint: "send the file acqsim settlement (or the acquirer) exported for this day"})
		return
	case errors.Is(err, businessday.ErrUnknownAcquirer):
		writeJSON(w, http.StatusNotFound, adminapi.Error{Error: err.Error(), Param: "acquirer"})
		return
	case errors.Is(err, store.ErrDayBusy):
		writeJSON(w, http.StatusConflict, adminapi.Error{Error: err.Error(), Hint: "reconcile once the day is settled; see tillctl day show"})
		return
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	out := adminapi.Reconciled{Day: d.Day, Acquirer: res.Recon.Acquirer, Reconciled: res.Recon.Reconciled,
		Discrepancies: res.Recon.Discrepancies, ReportSHA256: res.Recon.ReportSHA256, Report: res.JSON, ReportText: string(res.Text)}
	if s.cfg.Views.Current().Active() {
		out.Recorded = s.cfg.Days.RecordReconciliation(ctx, d.Day, res.Recon) == nil
	}
	writeJSON(w, http.StatusOK, out)
}

// recordReconciliation records the outcome of a reconciliation a standby
// made (the body is what its POST /days/{day}/reconcile/{acquirer}
// answered).
func (s *Server) recordReconciliation(w http.ResponseWriter, r *http.Request) {
	d := s.pathDay(w, r)
	if d == nil {
		return
	}
	var req adminapi.Reconciliation
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<14))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		badParam(w, "body", fmt.Sprintf("want JSON {\"acquirer\", \"reconciled\", \"discrepancies\", \"report_sha256\"}: %v", err))
		return
	}
	if _, err := hex.DecodeString(req.ReportSHA256); err != nil || len(req.ReportSHA256) != 64 {
		badParam(w, "report_sha256", "want the report's SHA-256 as 64 hex digits")
		return
	}
	ctx, cancel, ok := s.activeOnly(w, r, adminOpTimeout)
	if !ok {
		return
	}
	defer cancel()
	rec := store.Reconciliation{Acquirer: req.Acquirer, Reconciled: req.Reconciled, Discrepancies: req.Discrepancies,
		ReportSHA256: req.ReportSHA256, At: s.cfg.Days.Now().UnixNano()}
	err := s.cfg.Days.RecordReconciliation(ctx, d.Day, rec)
	switch {
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrDayBusy):
		writeJSON(w, http.StatusConflict, adminapi.Error{Error: err.Error()})
	case err != nil:
		s.writeRaftError(w, err)
	default:
		d, _ = s.cfg.State.Day(d.Day)
		writeJSON(w, http.StatusOK, apiDay(d))
	}
}

func (s *Server) batches(w http.ResponseWriter, r *http.Request) {
	term := r.PathValue("terminal")
	bs, err := s.cfg.State.Batches(term)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	out := adminapi.Batches{Terminal: term}
	for _, b := range bs {
		out.Batches = append(out.Batches, apiBatch(b))
	}
	writeJSON(w, http.StatusOK, out)
}

// closeBatch is the operator's resolution of a batch out of balance: it
// closes the open batch whatever the totals, and the difference stays on
// record for the day's reconciliation.
func (s *Server) closeBatch(w http.ResponseWriter, r *http.Request) {
	term := r.PathValue("terminal")
	num, err := strconv.ParseUint(r.PathValue("number"), 10, 64)
	if err != nil || num == 0 {
		badParam(w, "number", fmt.Sprintf("%q: want the open batch's number (tillctl batch list --terminal %s)", r.PathValue("number"), term))
		return
	}
	ctx, cancel, ok := s.activeOnly(w, r, adminOpTimeout)
	if !ok {
		return
	}
	defer cancel()
	at := s.cfg.Days.Now().UnixNano()
	id := "operator:" + strconv.FormatInt(at, 10)
	res, err := s.cfg.Raft.Apply(ctx, store.BatchCloseCmd(id, term, store.BatchByOperator, num, wire.Totals{}, at))
	if err != nil {
		s.writeRaftError(w, err)
		return
	}
	if rr, ok := res.(store.Result); !ok || rr.Err != nil {
		writeJSON(w, http.StatusConflict, adminapi.Error{Error: commit.Err(res).Error(), Param: "number", Hint: "only the open batch can be closed: tillctl batch list"})
		return
	}
	s.log.Warn("register batch closed by an operator", logkey.Terminal, term, "batch", num)
	b, _, err := s.cfg.State.Batch(term, num)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, apiBatch(b))
}

func apiDay(d *store.Day) adminapi.Day {
	out := adminapi.Day{Day: d.Day, Status: d.Status.String(), OpenedAt: time.Unix(0, d.OpenedAt).UTC(), ClosedBy: d.ClosedBy,
		CutoverIndex: d.CutoverIndex, SettledIndex: d.SettledIndex}
	if d.ClosedAt != 0 {
		t := time.Unix(0, d.ClosedAt).UTC()
		out.ClosedAt = &t
	}
	for _, f := range d.Files {
		out.Files = append(out.Files, adminapi.DayFile{Acquirer: f.Acquirer, CSVSHA256: f.CSVSHA256, JSONSHA256: f.JSONSHA256, Rows: f.Rows, Net: f.Net})
	}
	for _, c := range d.Recons {
		out.Reconciliations = append(out.Reconciliations, adminapi.Reconciliation{Acquirer: c.Acquirer, Reconciled: c.Reconciled,
			Discrepancies: c.Discrepancies, ReportSHA256: c.ReportSHA256, At: time.Unix(0, c.At).UTC()})
	}
	return out
}

func apiBatch(b *store.Batch) adminapi.Batch {
	out := adminapi.Batch{Terminal: b.Terminal, Number: b.Number, Status: b.Status.String(),
		Ours: adminapi.BatchTotals(b.Ours), Register: adminapi.BatchTotals(b.Register),
		HasRegister: b.HasRegister, Balanced: b.Balanced(), Uploads: b.Uploads}
	if b.ClosedAt != 0 {
		t := time.Unix(0, b.ClosedAt).UTC()
		out.ClosedAt = &t
	}
	return out
}
