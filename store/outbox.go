package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The outbox: messages for people (a link payment's receipt for the
// customer's e-mail, its copy for the merchant), kept in the replicated
// state for a mailer to send and the API to list. Sending is not the
// cluster's job. A message's id is derived from what it is about, so that
// recording it twice (a retry, a page shown again after a failover) keeps
// one.

// OpOutboxAdd records messages in the outbox.
const OpOutboxAdd Op = 25

// Message is one outbox message.
type Message struct {
	ID       string
	Merchant string
	Kind     string // "receipt" (to the customer), "receipt_copy" (to the merchant)
	To       string // an e-mail address; "" for the merchant's own copy
	Subject  string
	Body     string // plain text
	Payment  string
	Link     string
	At       int64 // unix nanos stamped by the leader
	Seq      uint64
}

// OutboxAddCmd encodes OpOutboxAdd. Apply sets each message's Seq.
func OutboxAddCmd(msgs ...Message) []byte {
	w := writer{b: []byte{cmdVersion, byte(OpOutboxAdd)}}
	w.int(int64(len(msgs)))
	for i := range msgs {
		appendMessage(&w, &msgs[i])
	}
	return w.b
}

func appendMessage(w *writer, m *Message) {
	for _, s := range []string{m.ID, m.Merchant, m.Kind, m.To, m.Subject, m.Body, m.Payment, m.Link} {
		w.str(s)
	}
	w.int(m.At)
	w.int(int64(m.Seq))
}

func readMessage(r *reader) Message {
	m := Message{ID: r.str(), Merchant: r.str(), Kind: r.str(), To: r.str(), Subject: r.str(), Body: r.str(), Payment: r.str(), Link: r.str()}
	m.At, m.Seq = r.int(), uint64(r.int())
	return m
}

func readMessages(r *reader) []Message {
	var out []Message
	for n := r.count(); n > 0; n-- {
		out = append(out, readMessage(r))
	}
	return out
}

// outboxAdd records the messages not recorded yet.
func (a *applier) outboxAdd(msgs []Message) (Result, error) {
	for _, m := range msgs {
		if m.ID == "" || len(m.ID) > maxKeyField || m.Kind == "" || len(m.Body) > 1<<14 || len(m.Subject) > 255 || len(m.To) > 255 {
			return Result{Err: fmt.Errorf("%w: outbox message %q", ErrInvalid, m.ID)}, nil
		}
	}
	ids, box := a.tx.Bucket(bucketOutboxIDs), a.tx.Bucket(bucketOutbox)
	for _, m := range msgs {
		if ids.Get([]byte(m.ID)) != nil {
			continue
		}
		seq, err := a.next(bucketCNPSeq, []byte("outbox"))
		if err != nil {
			return Result{}, err
		}
		m.Seq = seq
		w := writer{}
		appendMessage(&w, &m)
		key := binary.BigEndian.AppendUint64(joinKey(m.Merchant, ""), seq)
		if err := box.Put(key, w.b); err != nil {
			return Result{}, err
		}
		if err := ids.Put([]byte(m.ID), key); err != nil {
			return Result{}, err
		}
	}
	return Result{}, nil
}

// Outbox lists up to limit of merchant's messages with a Seq after after,
// oldest first.
func (s *Store) Outbox(merchant string, after uint64, limit int) ([]Message, error) {
	var out []Message
	prefix := joinKey(merchant, "")
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.Seek(binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), after+1)); k != nil && len(out) < limit; k, v = c.Next() {
			if len(k) != len(prefix)+8 || string(k[:len(prefix)]) != string(prefix) {
				break
			}
			r := reader{b: v}
			m := readMessage(&r)
			if err := r.done(); err != nil {
				return fmt.Errorf("outbox message %x: %w", k, err)
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: outbox of %s: %w", merchant, err)
	}
	return out, nil
}

// OutboxHas reports whether message id is in the outbox.
func (s *Store) OutboxHas(id string) (bool, error) {
	var ok bool
	err := s.view(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketOutboxIDs).Get([]byte(id)) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: outbox message %s: %w", id, err)
	}
	return ok, nil
}
