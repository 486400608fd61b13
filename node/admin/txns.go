package admin

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/store"
)

func (s *Server) totals(w http.ResponseWriter, _ *http.Request) {
	idx := s.cfg.State.AppliedIndex()
	t, err := s.cfg.State.Totals()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	out := adminapi.Totals{AppliedIndex: idx, Net: map[string]adminapi.Sum{}}
	for k, s := range t.Net {
		out.Net[k] = adminapi.Sum{Count: s.Count, Amount: s.Amount}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) hash(w http.ResponseWriter, _ *http.Request) {
	// The index read before and after must agree, or the hash may belong to
	// either side of an apply.
	for range 10 {
		idx := s.cfg.State.AppliedIndex()
		h, err := s.cfg.State.Hash()
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
			return
		}
		if s.cfg.State.AppliedIndex() == idx {
			writeJSON(w, http.StatusOK, adminapi.Hash{AppliedIndex: idx, SHA256: hex.EncodeToString(h)})
			return
		}
	}
	writeJSON(w, http.StatusServiceUnavailable, adminapi.Error{Error: "state changing too fast for a stable hash", Hint: "retry when the load stops"})
}

// --- transactions and reports

func (s *Server) txns(w http.ResponseWriter, r *http.Request) {
	q, perr := parseTxnQuery(r.URL.Query())
	if perr != nil {
		writeJSON(w, http.StatusBadRequest, *perr)
		return
	}
	list, next, err := s.cfg.State.List(q)
	if errors.Is(err, store.ErrBadCursor) {
		badParam(w, "cursor", "not a next_cursor of this same search: repeat the search's other parameters unchanged")
		return
	}
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	out := adminapi.TxnPage{Txns: make([]adminapi.Txn, 0, len(list)), NextCursor: next}
	for _, t := range list {
		out.Txns = append(out.Txns, apiTxn(t))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) txn(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	t, ok, err := s.cfg.State.Get(id)
	switch {
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
	case !ok:
		writeJSON(w, http.StatusNotFound, adminapi.Error{Error: fmt.Sprintf("no transaction %q", id), Param: "id",
			Hint: "an id is terminal (8) + STAN (6) + DE7 (10); search with GET /txns (tillctl tx search)"})
	default:
		writeJSON(w, http.StatusOK, apiTxn(t))
	}
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	if perr := onlyParams(v, "by", "day", "type"); perr != nil {
		writeJSON(w, http.StatusBadRequest, *perr)
		return
	}
	q := store.ReportQuery{By: v.Get("by"), Day: v.Get("day"), Type: v.Get("type")}
	if !slices.Contains(store.ReportBys, q.By) {
		badParam(w, "by", fmt.Sprintf("%q: want one of %s", q.By, strings.Join(store.ReportBys, ", ")))
		return
	}
	if perr := checkDay(q.Day); perr != nil {
		writeJSON(w, http.StatusBadRequest, *perr)
		return
	}
	if q.Type != "" && !slices.Contains(txnTypes(), q.Type) {
		badParam(w, "type", fmt.Sprintf("%q: want one of %s", q.Type, strings.Join(txnTypes(), ", ")))
		return
	}
	rows, err := s.cfg.State.Report(q)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	out := adminapi.Report{By: q.By, Day: q.Day, Type: q.Type, Rows: make([]adminapi.ReportRow, 0, len(rows))}
	for _, r := range rows {
		out.Rows = append(out.Rows, adminapi.ReportRow{Key: r.Key, Total: apiSum(r.Total),
			Approved: apiSum(r.Approved), Declined: apiSum(r.Declined), Reversed: apiSum(r.Reversed)})
	}
	writeJSON(w, http.StatusOK, out)
}

func apiSum(s store.Sum) adminapi.Sum { return adminapi.Sum{Count: s.Count, Amount: s.Amount} }

// apiTxn is t for the operator: the card only masked, never PANEnc or PANHash.
func apiTxn(t *store.Txn) adminapi.Txn {
	return adminapi.Txn{
		ID: t.ID, Type: t.Type.String(), MTI: t.MTI, ProcCode: t.ProcCode, Amount: t.Amount, Currency: t.Currency,
		Terminal: t.TerminalID, Merchant: t.MerchantID, STAN: t.STAN, TransmissionTime: t.TransmissionTime,
		PAN: t.BIN + "******" + t.Last4, BIN: t.BIN, Last4: t.Last4,
		Acquirer: t.Acquirer, AcqSTAN: t.AcqSTAN, RRN: t.RRN, OriginalID: t.OriginalID,
		Status: t.Status.String(), RC: t.RC, AuthCode: t.AuthCode, StandIn: t.StandIn, Day: t.Day,
		Batch: t.Batch, AcqTime: t.AcqTime, Repeat: t.Repeat,
		CreatedAt: time.Unix(0, t.CreatedAt).UTC(), UpdatedAt: time.Unix(0, t.UpdatedAt).UTC(),
	}
}
