package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/node/internal/commit"
	"github.com/tillgate/tillgate/store"
)

// TerminalState is what the terminal endpoints read: store.Store.
type TerminalState interface {
	Terminal(id string) (store.Terminal, bool, error)
	Terminals(q store.TerminalQuery) ([]store.Terminal, string, error)
}

// maxTerminalBody bounds POST /terminals: a few hundred ranges.
const maxTerminalBody = 1 << 16

// defaultTerminalPage is a page of GET /terminals without a limit.
const defaultTerminalPage = 1000

func (s *Server) terminalRoutes(m *router) {
	m.HandleFunc("GET /terminals", s.terminals)
	m.HandleFunc("GET /terminals/{id}", s.terminal)
	m.write("POST /terminals", "terminal.add", s.addTerminals)
	m.write("POST /terminals/{id}/block", "terminal.block", s.blockTerminals)
	m.write("POST /terminals/{id}/unblock", "terminal.unblock", s.blockTerminals)
}

func (s *Server) terminals(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	if perr := onlyParams(v, "after", "store", "merchant", "limit"); perr != nil {
		writeJSON(w, http.StatusBadRequest, *perr)
		return
	}
	q := store.TerminalQuery{After: v.Get("after"), Store: v.Get("store"), Merchant: v.Get("merchant"), Limit: defaultTerminalPage}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > store.MaxTerminalsPerCommand {
			badParam(w, "limit", fmt.Sprintf("%q: want 1 to %d", l, store.MaxTerminalsPerCommand))
			return
		}
		q.Limit = n
	}
	list, next, err := s.cfg.State.Terminals(q)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	out := adminapi.Terminals{Terminals: make([]adminapi.Terminal, 0, len(list)), Next: next}
	for _, t := range list {
		out.Terminals = append(out.Terminals, apiTerminal(t))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) terminal(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	t, ok, err := s.cfg.State.Terminal(id)
	switch {
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
	case !ok:
		writeJSON(w, http.StatusNotFound, adminapi.Error{Error: fmt.Sprintf("terminal %s is not registered", id), Param: "id", Hint: "register it with tillctl terminal add"})
	default:
		writeJSON(w, http.StatusOK, apiTerminal(t))
	}
}

// addTerminals commits one TERMINALS_ADD of the body's ranges.
func (s *Server) addTerminals(w http.ResponseWriter, r *http.Request) {
	var req adminapi.AddTerminals
	dec := json.NewDecoder(io.LimitReader(r.Body, maxTerminalBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		badParam(w, "body", fmt.Sprintf(`want JSON {"ranges": [{"from": ..., "to": ..., "merchant": ..., "store": ...}]}: %v`, err))
		return
	}
	if len(req.Ranges) == 0 {
		badParam(w, "ranges", "no terminals to add")
		return
	}
	ranges := make([]store.TerminalRange, 0, len(req.Ranges))
	for _, x := range req.Ranges {
		ranges = append(ranges, store.TerminalRange{From: x.From, To: x.To, Merchant: x.Merchant, Store: x.Store})
	}
	s.terminalCommand(w, r, "terminals added", func(at int64) []byte { return store.TerminalsAddCmd(at, ranges...) })
}

// blockTerminals blocks or unblocks {id}, or {id}..to.
func (s *Server) blockTerminals(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	if perr := onlyParams(v, "to"); perr != nil {
		writeJSON(w, http.StatusBadRequest, *perr)
		return
	}
	blocked := r.Pattern == "POST /terminals/{id}/block"
	rg := store.TerminalRange{From: r.PathValue("id"), To: v.Get("to")}
	what := "terminals unblocked"
	if blocked {
		what = "terminals blocked"
	}
	s.terminalCommand(w, r, what, func(at int64) []byte { return store.TerminalsBlockCmd(rg, blocked, at) })
}

// terminalCommand commits the command cmd makes at the leader's time and
// answers what it did: 400 for what the registry refuses as malformed, 404
// for a block of nothing registered.
func (s *Server) terminalCommand(w http.ResponseWriter, r *http.Request, what string, cmd func(at int64) []byte) {
	ctx, cancel, ok := s.activeOnly(w, r, adminOpTimeout)
	if !ok {
		return
	}
	defer cancel()
	res, err := s.cfg.Raft.Apply(ctx, cmd(s.cfg.Days.Now().UnixNano()))
	if err != nil {
		s.writeRaftError(w, err)
		return
	}
	rr, isResult := res.(store.Result)
	if !isResult || rr.Err != nil || rr.Terminals == nil {
		err := commit.Err(res)
		if err == nil {
			err = errors.New("the state machine answered nothing")
		}
		code := http.StatusBadRequest
		switch {
		case errors.Is(err, store.ErrTerminalNotFound):
			code = http.StatusNotFound
		case !errors.Is(err, store.ErrInvalid):
			code = http.StatusInternalServerError
		}
		writeJSON(w, code, adminapi.Error{Error: err.Error(), Hint: "terminal ids are 8 characters (DE41), merchants 15 (DE42); a range is FROM-TO with one prefix and a numeric tail, at most 20,000 terminals"})
		return
	}
	ch := *rr.Terminals
	s.log.Info(what, "added", ch.Added, "changed", ch.Changed, "unchanged", ch.Unchanged)
	writeJSON(w, http.StatusOK, adminapi.TerminalChange{Added: ch.Added, Changed: ch.Changed, Unchanged: ch.Unchanged})
}

func apiTerminal(t store.Terminal) adminapi.Terminal {
	return adminapi.Terminal{ID: t.ID, Merchant: t.Merchant, Store: t.Store, Blocked: t.Blocked,
		Added: time.Unix(0, t.Added).UTC(), Changed: time.Unix(0, t.Changed).UTC()}
}
