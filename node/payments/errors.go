package payments

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/store"
)

// Error is the body of every refusal: {"error": {...}}.
type Error struct {
	Err ErrorBody `json:"error"`
}

// ErrorBody says what went wrong: a stable code, a message saying what to
// fix, and the parameter at fault ("" when none is).
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
}

// apiError is an Error with its HTTP status.
type apiError struct {
	status int
	body   ErrorBody
}

func apiErr(status int, code, param, format string, args ...any) *apiError {
	return &apiError{status: status, body: ErrorBody{Code: code, Message: fmt.Sprintf(format, args...), Param: param}}
}

// invalid is a 400 for a parameter that is missing or malformed.
func invalid(param, format string, args ...any) *apiError {
	return apiErr(http.StatusBadRequest, "invalid_request", param, format, args...)
}

// fail writes e, counts it and logs it.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, route string, e *apiError) {
	s.metrics.refused.WithLabelValues(route, e.body.Code).Inc()
	s.log.Info("payments call refused", "route", route, "method", r.Method, "path", r.URL.Path,
		"status", e.status, "code", e.body.Code, "param", e.body.Param, "msg", e.body.Message)
	writeJSON(w, e.status, Error{Err: e.body})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// commitErr is the answer to a command the log did not take or the state
// machine refused.
func commitErr(err error, what string) *apiError {
	switch {
	case errors.Is(err, cluster.ErrNotLeader):
		return apiErr(http.StatusServiceUnavailable, "not_active", "", "this node stopped being the active while recording the %s: retry, with the same Idempotency-Key", what)
	case errors.Is(err, store.ErrConflict):
		return apiErr(http.StatusConflict, "conflict", "", "%v", trimStore(err))
	case errors.Is(err, store.ErrState):
		return apiErr(http.StatusConflict, "payment_state", "", "%v", trimStore(err))
	case errors.Is(err, store.ErrAmount):
		return apiErr(http.StatusUnprocessableEntity, "amount_too_large", "amount", "%v", trimStore(err))
	case errors.Is(err, store.ErrNotFound):
		return apiErr(http.StatusNotFound, "not_found", "id", "no such payment")
	}
	return apiErr(http.StatusServiceUnavailable, "unavailable", "", "the %s could not be recorded (%v): retry with the same Idempotency-Key", what, err)
}

// trimStore drops the sentinel's prefix: the message after it says what
// happened.
func trimStore(err error) string {
	s := err.Error()
	for _, sentinel := range []error{store.ErrConflict, store.ErrState, store.ErrAmount} {
		if p := sentinel.Error() + ": "; len(s) > len(p) && s[:len(p)] == p {
			return s[len(p):]
		}
	}
	return s
}

// linkRefusal is the answer to an attempt to pay a link that may not take
// one.
func linkRefusal(err error, l *store.Link) *apiError {
	switch {
	case errors.Is(err, store.ErrState) && strings.Contains(err.Error(), "expired"):
		return apiErr(http.StatusGone, "link_expired", "", "payment link %s expired", l.ID)
	case errors.Is(err, store.ErrState):
		return apiErr(http.StatusConflict, "link_paid", "", "payment link %s is paid", l.ID)
	case errors.Is(err, store.ErrConflict):
		return apiErr(http.StatusConflict, "link_in_progress", "", "a payment of link %s is in progress: finish it, or wait %v", l.ID, store.LinkAttemptWindow)
	}
	return commitErr(err, "payment")
}
