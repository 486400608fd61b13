package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The audit log: every operator action on the admin API, as the cluster
// recorded it. An action is recorded in two commands: AuditStart before it
// runs (the node does not run it unless that commits) and AuditEnd with its
// outcome after; a refusal that ran nothing is one AuditWhole. A record
// whose end never committed (the node died, or lost the cluster, midway)
// stays without an outcome: the listing shows it as unknown, which is the
// truth. Records are keyed by the Raft index of their first command, so
// they list in the order the cluster learnt of them.
//
// Growth is bounded by count: every start carries Keep, the number of
// records the leader's config keeps, and applying it drops the oldest
// beyond that. Keep travels in the command, not in each replica's config,
// so that every replica drops the same records.

// AuditPhase says which part of an action a command records.
type AuditPhase uint8

// Audit phases.
const (
	AuditStart AuditPhase = 1 // the action is about to run
	AuditEnd   AuditPhase = 2 // its outcome (names the start by ID)
	AuditWhole AuditPhase = 3 // an action refused before it ran: start and outcome at once
)

// AuditParam is one key parameter of an action (never a secret or card
// data: the admin API chooses which).
type AuditParam struct {
	Name, Value string
}

// AuditRecord is one operator action.
type AuditRecord struct {
	Seq    uint64 // the Raft index of its first command
	ID     string // given by the node that ran the action
	At     int64  // unix nanos, when the action started
	Actor  string // the name of the token used
	Role   string
	Action string // what: the endpoint's action name
	Params []AuditParam
	Source string // the client's address
	Node   string // the node that ran it
	// The outcome, once Done: the HTTP status answered and the error, if
	// any.
	Done    bool
	EndedAt int64
	Status  int64
	Error   string
}

// Audit is a decoded audit command.
type Audit struct {
	Phase AuditPhase
	// Keep bounds the records kept (AuditStart, AuditWhole).
	Keep   uint64
	Record AuditRecord // AuditEnd uses ID, EndedAt, Status and Error
}

// Bounds of an audit record's fields: the admin API truncates to them
// before it encodes, and Apply refuses a command beyond them, so that no
// command can grow the state without bound.
const (
	MaxAuditField  = 256  // actor, role, action, source, node, a parameter's name and value
	MaxAuditError  = 1024 // the error text
	MaxAuditParams = 16
)

// AuditCmd encodes an audit command.
func AuditCmd(a Audit) []byte {
	w := newCmd(OpAudit, 256)
	w.byte(byte(a.Phase))
	w.int(int64(a.Keep))
	appendAuditRecord(&w, &a.Record)
	return w.b
}

func appendAuditRecord(w *writer, r *AuditRecord) {
	w.int(int64(r.Seq))
	w.str(r.ID)
	w.int(r.At)
	w.str(r.Actor)
	w.str(r.Role)
	w.str(r.Action)
	w.int(int64(len(r.Params)))
	for _, p := range r.Params {
		w.str(p.Name)
		w.str(p.Value)
	}
	w.str(r.Source)
	w.str(r.Node)
	w.bool(r.Done)
	w.int(r.EndedAt)
	w.int(r.Status)
	w.str(r.Error)
}

func readAuditRecord(r *reader) AuditRecord {
	rec := AuditRecord{Seq: uint64(r.int()), ID: r.str(), At: r.int(), Actor: r.str(), Role: r.str(), Action: r.str()}
	if n := r.count(); n > 0 {
		rec.Params = make([]AuditParam, n)
		for i := range rec.Params {
			rec.Params[i] = AuditParam{Name: r.str(), Value: r.str()}
		}
	}
	rec.Source, rec.Node, rec.Done, rec.EndedAt, rec.Status, rec.Error = r.str(), r.str(), r.bool(), r.int(), r.int(), r.str()
	return rec
}

func readAudit(r *reader) *Audit {
	a := &Audit{Phase: AuditPhase(r.byte()), Keep: uint64(r.int())}
	a.Record = readAuditRecord(r)
	return a
}

func validateAudit(a *Audit) error {
	rec := &a.Record
	switch {
	case a.Phase < AuditStart || a.Phase > AuditWhole:
		return fmt.Errorf("%w: audit phase %d", ErrInvalid, a.Phase)
	case rec.ID == "" || len(rec.ID) > maxKeyField:
		return fmt.Errorf("%w: audit id %q", ErrInvalid, rec.ID)
	case a.Phase != AuditEnd && a.Keep == 0:
		return fmt.Errorf("%w: audit keep 0", ErrInvalid)
	case len(rec.Params) > MaxAuditParams:
		return fmt.Errorf("%w: %d audit parameters, at most %d", ErrInvalid, len(rec.Params), MaxAuditParams)
	case len(rec.Error) > MaxAuditError:
		return fmt.Errorf("%w: audit error text over %d bytes", ErrInvalid, MaxAuditError)
	}
	fields := []string{rec.Actor, rec.Role, rec.Action, rec.Source, rec.Node}
	for _, p := range rec.Params {
		fields = append(fields, p.Name, p.Value)
	}
	for _, f := range fields {
		if len(f) > MaxAuditField {
			return fmt.Errorf("%w: audit field over %d bytes", ErrInvalid, MaxAuditField)
		}
	}
	return nil
}

// audit applies an audit command. Result.Audit is the record as stored;
// Existed for a start whose ID is recorded already, or an end of a record
// already done (a repeat changes nothing).
func (a *applier) audit(c *Audit) (Result, error) {
	if err := validateAudit(c); err != nil {
		return Result{Err: err}, nil
	}
	recs, ids := a.tx.Bucket(bucketAudit), a.tx.Bucket(bucketAuditIDs)
	seq := ids.Get([]byte(c.Record.ID))
	var old *AuditRecord
	if seq != nil {
		var err error
		if old, err = getAudit(recs.Get(seq)); err != nil || old == nil {
			return Result{}, fmt.Errorf("%w: audit id %s names a missing record: %v", ErrCorrupt, c.Record.ID, err)
		}
	}
	if c.Phase == AuditEnd {
		switch {
		case old == nil:
			return Result{Err: fmt.Errorf("%w: audit record %s (dropped by retention, or never started)", ErrNotFound, c.Record.ID)}, nil
		case old.Done:
			return Result{Audit: old, Existed: true}, nil
		}
		old.Done, old.EndedAt, old.Status, old.Error = true, c.Record.EndedAt, c.Record.Status, c.Record.Error
		return Result{Audit: old}, putAudit(recs, old)
	}
	if old != nil {
		return Result{Audit: old, Existed: true}, nil
	}
	rec := c.Record
	rec.Seq = a.index
	rec.Done = c.Phase == AuditWhole
	if !rec.Done {
		rec.EndedAt, rec.Status, rec.Error = 0, 0, ""
	}
	key := seqKey(rec.Seq)
	if err := putAudit(recs, &rec); err != nil {
		return Result{}, err
	}
	if err := ids.Put([]byte(rec.ID), key); err != nil {
		return Result{}, err
	}
	return Result{Audit: &rec}, a.trimAudit(c.Keep)
}

// trimAudit counts the record just added and drops the oldest beyond keep.
func (a *applier) trimAudit(keep uint64) error {
	meta := a.tx.Bucket(bucketMeta)
	n := uint64(1)
	if v := meta.Get(metaAuditCount); len(v) == 8 {
		n += binary.BigEndian.Uint64(v)
	}
	recs, ids := a.tx.Bucket(bucketAudit), a.tx.Bucket(bucketAuditIDs)
	cur := recs.Cursor()
	for ; n > keep; n-- {
		k, v := cur.First()
		if k == nil {
			return fmt.Errorf("%w: audit count %d with no records", ErrCorrupt, n)
		}
		rec, err := getAudit(v)
		if err != nil {
			return err
		}
		if err := ids.Delete([]byte(rec.ID)); err != nil {
			return err
		}
		if err := cur.Delete(); err != nil {
			return err
		}
	}
	return meta.Put(metaAuditCount, binary.BigEndian.AppendUint64(nil, n))
}

func putAudit(b *bolt.Bucket, rec *AuditRecord) error {
	w := writer{b: make([]byte, 0, 256)}
	appendAuditRecord(&w, rec)
	return b.Put(seqKey(rec.Seq), w.b)
}

func getAudit(v []byte) (*AuditRecord, error) {
	if v == nil {
		return nil, nil
	}
	r := reader{b: v}
	rec := readAuditRecord(&r)
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("audit record: %w", err)
	}
	return &rec, nil
}

// AuditQuery selects audit records; zero fields match everything.
type AuditQuery struct {
	Since  int64 // unix nanos: records that started at or after it
	Actor  string
	Action string
	Limit  int // the newest Limit records that match; 0: all
}

// Audit lists the records that match q, oldest first.
func (s *Store) Audit(q AuditQuery) ([]*AuditRecord, error) {
	var out []*AuditRecord
	err := s.view(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketAudit).Cursor()
		for k, v := cur.Last(); k != nil; k, v = cur.Prev() {
			rec, err := getAudit(v)
			if err != nil {
				return fmt.Errorf("%x: %w", k, err)
			}
			if (q.Actor != "" && rec.Actor != q.Actor) || (q.Action != "" && rec.Action != q.Action) || rec.At < q.Since {
				continue
			}
			out = append(out, rec)
			if q.Limit > 0 && len(out) == q.Limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: audit: %w", err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
