package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/node/internal/commit"
	"github.com/tillgate/tillgate/store"
)

// The audit of operator actions. An action is recorded before it runs and
// its outcome after:
//
//   - before: if the start record cannot be committed (no quorum, or no
//     leader to forward it to), the action is not performed and the client
//     gets 503 saying so. No operator action happens unrecorded.
//   - after: the action has happened; if its outcome cannot be committed
//     (leadership moved and no new leader answered in time, the node lost
//     the cluster), the record stays without an outcome, which the listing
//     shows as unknown, and the node logs the outcome and counts it
//     (tillgate_admin_audit_failures_total{phase="end"}).
//
// The records go through Raft, so only the leader can write them: a
// standby running an action allowed there (snapshot, backup,
// reconciliation) forwards them to the leader's admin API with the
// operator's own token, and the leader names the actor from that token.
// After a leader transfer, the outcome goes to the new leader the same way.

// DefaultAuditKeep is how many audit records the cluster keeps (the oldest
// go first): about 300 bytes each, some 30 MB at most.
const DefaultAuditKeep = 100_000

// auditTimeout bounds the writing of one audit record, the wait for a new
// leader included.
const auditTimeout = 15 * time.Second

// auditor writes and lists the audit log.
type auditor struct {
	cfg     *Config
	log     *slog.Logger
	metrics *metrics
	seq     atomic.Uint64 // behind auditID
	// writeRaftError answers a write that reached a follower (421).
	writeRaftError func(w http.ResponseWriter, err error)
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

func principalOf(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

// errNotPerformed wraps the failure to record an action's start.
var errNotPerformed = errors.New("the audit log cannot record this action, so it was not performed")

// audited runs a write between its start record and its outcome record.
func (au *auditor) audited(w http.ResponseWriter, r *http.Request, rt route, p principal) {
	now := au.cfg.Days.Now()
	rec := store.AuditRecord{ID: au.auditID(now), At: now.UnixNano(), Actor: p.name, Role: p.role.String(), Action: rt.action,
		Source: r.RemoteAddr, Node: au.cfg.NodeID}
	for _, kv := range params(rt, r) {
		rec.Params = append(rec.Params, store.AuditParam{Name: kv.name, Value: kv.value})
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), auditTimeout)
	err := au.record(ctx, r, store.Audit{Phase: store.AuditStart, Keep: au.keep(), Record: rec}, rt.anyNode)
	cancel()
	switch {
	case errors.Is(err, cluster.ErrNotLeader) && !rt.anyNode:
		au.writeRaftError(w, cluster.ErrNotLeader)
		return
	case err != nil:
		au.metrics.auditFailures.WithLabelValues("start").Inc()
		au.log.Error("operator action refused: its audit record was not written", "action", rt.action, "actor", p.name, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, adminapi.Error{Error: fmt.Sprintf("%v: %v", errNotPerformed, err),
			Hint: "the cluster needs a leader and a quorum to record operator actions; check tillctl status"})
		return
	}
	rw := &recorder{ResponseWriter: w}
	defer func() {
		p := recover()
		end := store.AuditRecord{ID: rec.ID, Status: int64(rw.status), Error: rw.errorText()}
		if p != nil {
			end.Status, end.Error = 500, clip(fmt.Sprintf("aborted: %v", p), store.MaxAuditError)
			if rw.status != 0 {
				end.Status = int64(rw.status)
			}
		}
		end.Error = clip(end.Error, store.MaxAuditError)
		end.EndedAt = au.cfg.Days.Now().UnixNano()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), auditTimeout)
		defer cancel()
		if err := au.record(ctx, r, store.Audit{Phase: store.AuditEnd, Record: end}, true); err != nil {
			au.metrics.auditFailures.WithLabelValues("end").Inc()
			au.log.Error("operator action done but its outcome is not in the audit log", "action", rt.action, "actor", rec.Actor,
				"audit_id", rec.ID, "status", end.Status, "outcome_error", end.Error, "err", err)
		}
		if p != nil {
			panic(p)
		}
	}()
	rt.h(rw, r)
}

// auditRefusal records a write refused for its role (403): the actor is
// known, so the attempt is worth keeping. Only the leader records it
// (cheaply, in one command); a standby only counts and logs it.
func (au *auditor) refusal(r *http.Request, rt route, p principal, msg string) {
	now := au.cfg.Days.Now()
	rec := store.AuditRecord{ID: au.auditID(now), At: now.UnixNano(), Actor: p.name, Role: p.role.String(), Action: rt.action,
		Source: r.RemoteAddr, Node: au.cfg.NodeID, EndedAt: now.UnixNano(), Status: http.StatusForbidden, Error: clip(msg, store.MaxAuditError)}
	for _, kv := range params(route{pattern: rt.pattern}, r) {
		rec.Params = append(rec.Params, store.AuditParam{Name: kv.name, Value: kv.value})
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := au.record(ctx, r, store.Audit{Phase: store.AuditWhole, Keep: au.keep(), Record: rec}, false); err != nil && !errors.Is(err, cluster.ErrNotLeader) {
		au.log.Warn("refused operator action not audited", "action", rt.action, "actor", p.name, "err", err)
	}
}

// record commits an audit command here, or when this node is not the
// leader and forward is set, at the leader.
func (au *auditor) record(ctx context.Context, r *http.Request, a store.Audit, forward bool) error {
	clipRecord(&a.Record)
	res, err := au.cfg.Raft.Apply(ctx, store.AuditCmd(a))
	if err == nil {
		return resultErr(res)
	}
	if !errors.Is(err, cluster.ErrNotLeader) || !forward {
		return err
	}
	return au.forward(ctx, r, a)
}

func resultErr(res any) error {
	if rr, ok := res.(store.Result); ok && rr.Err == nil {
		return nil
	}
	return commit.Err(res)
}

// forward sends an audit command to the leader's admin API, waiting for a
// leader (after a transfer, for the new one).
func (au *auditor) forward(ctx context.Context, r *http.Request, a store.Audit) error {
	var leader string
	for {
		if cs := au.cfg.Raft.Status(); cs.LeaderID != "" && cs.LeaderID != au.cfg.NodeID {
			leader = cs.LeaderID
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no leader to record the audit at: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	addr := ""
	if au.cfg.AdminAddrOf != nil {
		addr = au.cfg.AdminAddrOf(leader)
	}
	if addr == "" {
		return fmt.Errorf("%w: the leader %s has no admin_addr in this node's peers, so the audit record cannot be sent there", cluster.ErrNotLeader, leader)
	}
	c := au.peerClient(addr)
	c.Token, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	rec := a.Record
	e := adminapi.AuditEntry{Phase: phaseName(a.Phase), ID: rec.ID, Action: rec.Action, Source: rec.Source, Node: rec.Node,
		Status: int(rec.Status), Error: rec.Error}
	e.At = time.Unix(0, rec.At).UTC()
	if rec.EndedAt != 0 {
		t := time.Unix(0, rec.EndedAt).UTC()
		e.EndedAt = &t
	}
	for _, p := range rec.Params {
		e.Params = append(e.Params, adminapi.AuditParam{Name: p.Name, Value: p.Value})
	}
	if err := c.RecordAudit(ctx, e); err != nil {
		return fmt.Errorf("audit record at the leader %s: %w", leader, err)
	}
	return nil
}

// peerClient is the admin client of another node.
func (au *auditor) peerClient(addr string) *adminapi.Client {
	if au.cfg.PeerClient != nil {
		return au.cfg.PeerClient(addr)
	}
	return adminapi.NewClient(addr)
}

// recordAudit is POST /audit/records: the leader writes an audit record a
// standby forwarded. The actor and role are those of the token that came
// with it (the operator's own); node and source are as the standby said.
func (au *auditor) recordAudit(w http.ResponseWriter, r *http.Request) {
	var e adminapi.AuditEntry
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		badParam(w, "body", fmt.Sprintf("want an audit entry as JSON: %v", err))
		return
	}
	var phase store.AuditPhase
	switch e.Phase {
	case "start":
		phase = store.AuditStart
	case "end":
		phase = store.AuditEnd
	default:
		badParam(w, "phase", fmt.Sprintf("%q: want start or end", e.Phase))
		return
	}
	p := principalOf(r.Context())
	rec := store.AuditRecord{ID: e.ID, At: e.At.UnixNano(), Actor: p.name, Role: p.role.String(), Action: e.Action,
		Source: e.Source, Node: e.Node, Status: int64(e.Status), Error: e.Error}
	if e.EndedAt != nil {
		rec.EndedAt = e.EndedAt.UnixNano()
	}
	for _, kv := range e.Params {
		rec.Params = append(rec.Params, store.AuditParam{Name: kv.Name, Value: kv.Value})
	}
	a := store.Audit{Phase: phase, Keep: au.keep(), Record: rec}
	if err := au.record(r.Context(), r, a, false); err != nil {
		if errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrNotFound) {
			writeJSON(w, http.StatusBadRequest, adminapi.Error{Error: err.Error(), Param: "body"})
			return
		}
		au.writeRaftError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// auditQueryParams are the parameters of GET /audit.
var auditQueryParams = []string{"since", "actor", "action", "limit"}

// listAudit is GET /audit: the records that match, oldest first.
func (au *auditor) listAudit(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	if e := onlyParams(v, auditQueryParams...); e != nil {
		writeJSON(w, http.StatusBadRequest, *e)
		return
	}
	since, e := parseTime(v, "since")
	if e != nil {
		writeJSON(w, http.StatusBadRequest, *e)
		return
	}
	limit, e := parseLimit(v.Get("limit"))
	if e != nil {
		writeJSON(w, http.StatusBadRequest, *e)
		return
	}
	q := store.AuditQuery{Actor: v.Get("actor"), Action: v.Get("action"), Limit: limit}
	if !since.IsZero() {
		q.Since = since.UnixNano()
	}
	recs, err := au.cfg.State.Audit(q)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	out := adminapi.AuditLog{Node: au.cfg.NodeID, Records: make([]adminapi.AuditRecord, 0, len(recs))}
	for _, rec := range recs {
		out.Records = append(out.Records, apiAudit(rec))
	}
	writeJSON(w, http.StatusOK, out)
}

func apiAudit(rec *store.AuditRecord) adminapi.AuditRecord {
	out := adminapi.AuditRecord{Seq: rec.Seq, ID: rec.ID, At: time.Unix(0, rec.At).UTC(), Actor: rec.Actor, Role: rec.Role,
		Action: rec.Action, Params: []adminapi.AuditParam{}, Source: rec.Source, Node: rec.Node, Status: int(rec.Status), Error: rec.Error}
	for _, p := range rec.Params {
		out.Params = append(out.Params, adminapi.AuditParam{Name: p.Name, Value: p.Value})
	}
	switch {
	case !rec.Done:
		out.Outcome = adminapi.AuditUnknown
	case rec.Status >= 200 && rec.Status < 300:
		out.Outcome = adminapi.AuditOK
	case rec.Status == http.StatusForbidden || rec.Status == http.StatusUnauthorized:
		out.Outcome = adminapi.AuditRefused
	default:
		out.Outcome = adminapi.AuditError
	}
	if rec.Done {
		t := time.Unix(0, rec.EndedAt).UTC()
		out.EndedAt = &t
	}
	return out
}

func phaseName(p store.AuditPhase) string {
	if p == store.AuditEnd {
		return "end"
	}
	return "start"
}

func (au *auditor) keep() uint64 {
	if au.cfg.AuditKeep > 0 {
		return uint64(au.cfg.AuditKeep)
	}
	return DefaultAuditKeep
}

// auditID names an action uniquely across the cluster: the node, its
// start time and a counter.
func (au *auditor) auditID(now time.Time) string {
	n := au.seq.Add(1)
	suffix := "-" + strconv.FormatInt(now.UnixNano(), 36) + "-" + strconv.FormatUint(n, 36)
	return clip(au.cfg.NodeID, 64-len(suffix)) + suffix
}

func clipRecord(rec *store.AuditRecord) {
	for _, f := range []*string{&rec.Actor, &rec.Role, &rec.Action, &rec.Source, &rec.Node} {
		*f = clip(*f, store.MaxAuditField)
	}
	if len(rec.Params) > store.MaxAuditParams {
		rec.Params = rec.Params[:store.MaxAuditParams]
	}
	for i := range rec.Params {
		rec.Params[i].Name = clip(rec.Params[i].Name, store.MaxAuditField)
		rec.Params[i].Value = clip(rec.Params[i].Value, store.MaxAuditField)
	}
	rec.Error = clip(rec.Error, store.MaxAuditError)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
