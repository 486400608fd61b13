package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"time"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/node/internal/logkey"
)

// readyz is 200 when this node can take register traffic usefully: it is the
// serving active, or it knows who is.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	v := s.cfg.Views.Current()
	if v.Active() || (!v.Leader && v.LeaderID != "") {
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, adminapi.Error{Error: "no active known yet", Hint: "the cluster is electing or this node cannot reach a quorum"})
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	v := s.cfg.Views.Current()
	cs := s.cfg.Raft.Status()
	st := adminapi.Status{
		ID:                s.cfg.NodeID,
		Role:              cs.Role,
		Serving:           v.Active(),
		Term:              cs.Term,
		LeaderID:          cs.LeaderID,
		LeaderAddr:        cs.LeaderAddr,
		ActiveAddr:        v.ActiveAddr,
		AppliedIndex:      s.cfg.State.AppliedIndex(),
		CommitIndex:       cs.CommitIndex,
		LastIndex:         cs.LastIndex,
		LastSnapshotIndex: cs.LastSnapshotIndex,
		Connections:       s.cfg.Registers.Connections(),
		Peers:             members(cs),
	}
	if !cs.LastContact.IsZero() {
		lc := cs.LastContact.UTC()
		st.LastContact = &lc
	}
	st.SAF = s.safQueues()
	writeJSON(w, http.StatusOK, st)
}

func members(cs cluster.Status) []adminapi.Member {
	out := make([]adminapi.Member, 0, len(cs.Peers))
	for _, p := range cs.Peers {
		out = append(out, adminapi.Member{ID: p.ID, RaftAddr: p.Addr, Suffrage: p.Suffrage, Leader: p.Leader, Self: p.Self})
	}
	return out
}

// --- membership

func (s *Server) members(w http.ResponseWriter, _ *http.Request) {
	cs := s.cfg.Raft.Status()
	writeJSON(w, http.StatusOK, adminapi.Members{LeaderID: cs.LeaderID, Members: members(cs)})
}

func (s *Server) addMember(w http.ResponseWriter, r *http.Request) {
	var req adminapi.AddMember
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		badParam(w, "body", fmt.Sprintf("want JSON {\"id\": ..., \"raft_addr\": ...}: %v", err))
		return
	}
	if req.ID == "" {
		badParam(w, "id", "the new node's id is empty")
		return
	}
	if _, _, err := net.SplitHostPort(req.RaftAddr); err != nil {
		badParam(w, "raft_addr", fmt.Sprintf("%q: want the new node's Raft host:port", req.RaftAddr))
		return
	}
	s.membershipChange(w, r, func(ctx context.Context) error { return s.cfg.Raft.AddVoter(ctx, req.ID, req.RaftAddr) })
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	known := false
	for _, p := range s.cfg.Raft.Status().Peers {
		known = known || p.ID == id
	}
	if !known {
		writeJSON(w, http.StatusNotFound, adminapi.Error{Error: fmt.Sprintf("no member %q", id), Param: "id", Hint: "list the members with GET /members (tillctl members list)"})
		return
	}
	s.membershipChange(w, r, func(ctx context.Context) error { return s.cfg.Raft.RemoveServer(ctx, id) })
}

func (s *Server) membershipChange(w http.ResponseWriter, r *http.Request, change func(context.Context) error) {
	ctx, cancel := context.WithTimeout(r.Context(), adminOpTimeout)
	defer cancel()
	if err := change(ctx); err != nil {
		s.writeRaftError(w, err)
		return
	}
	s.members(w, r)
}

func (s *Server) transferLeader(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), adminOpTimeout)
	defer cancel()
	if err := s.cfg.Raft.TransferLeadership(ctx); err != nil {
		s.writeRaftError(w, err)
		return
	}
	cs := s.cfg.Raft.Status()
	leader := cs.LeaderID
	if leader == s.cfg.NodeID {
		leader = ""
	}
	writeJSON(w, http.StatusOK, adminapi.Transfer{From: s.cfg.NodeID, LeaderID: leader})
}

// writeRaftError answers a failed Raft operation: 421 naming the leader
// when this node is not it.
func (s *Server) writeRaftError(w http.ResponseWriter, err error) {
	if errors.Is(err, cluster.ErrNotLeader) {
		cs := s.cfg.Raft.Status()
		e := adminapi.Error{Error: fmt.Sprintf("%s is not the leader", s.cfg.NodeID), LeaderID: cs.LeaderID}
		if cs.LeaderID == "" {
			e.Hint = "no leader is known: the cluster is electing or has no quorum; retry shortly"
		} else {
			e.Hint = fmt.Sprintf("send it to the leader %s (raft address %s); tillctl does so when that node's admin address is among its endpoints", cs.LeaderID, cs.LeaderAddr)
		}
		writeJSON(w, http.StatusMisdirectedRequest, e)
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, adminapi.Error{Error: err.Error(), Hint: "check the cluster with `tillctl status`; the change may or may not have been made"})
}

// --- snapshot and backup

func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), adminOpTimeout)
	defer cancel()
	before := s.cfg.Raft.Status().LastSnapshotIndex
	err := s.cfg.Raft.Snapshot(ctx)
	if err != nil && !errors.Is(err, cluster.ErrNothingToSnapshot) {
		writeJSON(w, http.StatusServiceUnavailable, adminapi.Error{Error: err.Error(), Hint: "see the node's log; disk space in data_dir/raft is the usual cause"})
		return
	}
	after := s.cfg.Raft.Status().LastSnapshotIndex
	writeJSON(w, http.StatusOK, adminapi.Snapshot{ID: s.cfg.NodeID, Index: after, Fresh: after > before})
}

// backup streams the state as of the request: a bbolt file with the applied
// index inside. A stream that breaks midway is cut off (no final chunk), so
// the client sees an error rather than a short file.
func (s *Server) backup(w http.ResponseWriter, _ *http.Request) {
	rc, err := s.cfg.State.Snapshot()
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, adminapi.Error{Error: err.Error(), Hint: "back up from another node"})
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "tillgate-"+s.cfg.NodeID+".db"))
	h.Set("X-Tillgate-Node", s.cfg.NodeID)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		s.log.Warn("backup stream broken", "err", err)
		panic(http.ErrAbortHandler)
	}
}

// leaders is every (term, leader) this node has seen, for the checker's
// one-leader-per-term rule.
func (s *Server) leaders(w http.ResponseWriter, _ *http.Request) {
	out := adminapi.Leaders{ID: s.cfg.NodeID, Seen: []adminapi.LeaderSeen{}}
	for _, l := range s.cfg.Leaders.List() {
		out.Seen = append(out.Seen, adminapi.LeaderSeen{Term: l.Term, LeaderID: l.LeaderID, At: l.At})
	}
	writeJSON(w, http.StatusOK, out)
}

// safQueues is the admin /status view of the queues, by acquirer name.
func (s *Server) safQueues() []adminapi.SAFQueue {
	stats, err := s.cfg.State.SAFStats()
	if err != nil {
		s.log.Warn("saf status", logkey.Err, err)
		return nil
	}
	// By the names in the state, not the config: entries of an acquirer
	// since removed from the config still show.
	names := make([]string, 0, len(stats))
	for name := range stats {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]adminapi.SAFQueue, 0, len(names))
	for _, name := range names {
		st := stats[name]
		out = append(out, adminapi.SAFQueue{Acquirer: name, Depth: st.Depth, Oldest: time.Unix(0, st.Oldest).UTC()})
	}
	return out
}
