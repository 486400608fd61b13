package node

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tillgate/tillgate/node/adminapi"
)

func (n *Node) startAdmin() (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /readyz", n.readyz)
	mux.HandleFunc("GET /status", n.status)
	mux.HandleFunc("GET /totals", n.totals)
	mux.HandleFunc("GET /hash", n.hash)
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.cfg.Registry, promhttp.HandlerOpts{}))
	n.statusPageRoutes(mux)
	ln, err := net.Listen("tcp", n.cfg.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.fail(fmt.Errorf("admin listener: %w", err))
		}
	}()
	return srv, nil
}

// readyz is 200 when this node can take register traffic usefully: it is the
// serving active, or it knows who is.
func (n *Node) readyz(w http.ResponseWriter, _ *http.Request) {
	v := n.currentView()
	if (v.leader && v.serving) || (!v.leader && v.leaderID != "") {
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, adminapi.Error{Error: "no active known yet", Hint: "the cluster is electing or this node cannot reach a quorum"})
}

func (n *Node) status(w http.ResponseWriter, _ *http.Request) {
	v := n.currentView()
	cs := n.raft.Status()
	writeJSON(w, http.StatusOK, adminapi.Status{
		ID:           n.cfg.ID,
		Role:         cs.Role,
		Serving:      v.leader && v.serving,
		Term:         cs.Term,
		LeaderID:     cs.LeaderID,
		ActiveAddr:   v.activeAddr,
		AppliedIndex: n.store.AppliedIndex(),
		CommitIndex:  cs.CommitIndex,
		LastIndex:    cs.LastIndex,
		Connections:  n.regs.count.Load(),
	})
}

func (n *Node) totals(w http.ResponseWriter, _ *http.Request) {
	idx := n.store.AppliedIndex()
	t, err := n.store.Totals()
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

func (n *Node) hash(w http.ResponseWriter, _ *http.Request) {
	// The index read before and after must agree, or the hash may belong to
	// either side of an apply.
	for range 10 {
		idx := n.store.AppliedIndex()
		h, err := n.store.Hash()
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
			return
		}
		if n.store.AppliedIndex() == idx {
			writeJSON(w, http.StatusOK, adminapi.Hash{AppliedIndex: idx, SHA256: hex.EncodeToString(h)})
			return
		}
	}
	writeJSON(w, http.StatusServiceUnavailable, adminapi.Error{Error: "state changing too fast for a stable hash", Hint: "retry when the load stops"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
