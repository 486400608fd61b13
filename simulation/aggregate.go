package simulation

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/wire"
)

// Today's checks, until package check replaces them (verify.go): the
// cluster's totals are the acquirer's (I4), every node's state hashes the
// same (I5), a repeat gets the first answer (I2), and per identity what a
// register holds is what every node holds (I1, I2, I3): a 00 it did not
// reverse is approved with the same DE38 and amount; a decline is
// approved nowhere; one it reversed, or whose reversal its client dropped
// on a 30/91/96, is not approved.

// notAcks are the answers that do not acknowledge a reversal or advice
// (the contract of the money-safety issue; today's client deletes the
// entry anyway).
var notAcks = []string{wire.RCFormatError, wire.RCIssuerInoperative, wire.RCSystemError}

func aggregateChecks(ctx context.Context, in verifyInput) ([]Violation, error) {
	nodes, err := readNodes(ctx, in.Admins)
	if err != nil {
		return nil, err
	}
	out, err := checkTotals(nodes, in)
	if err != nil {
		return nil, err
	}
	out = append(out, checkHashes(nodes)...)
	out = append(out, checkRepeats(in.History)...)
	return append(out, checkHeld(nodes, viewOf(in.History))...), nil
}

// nodeState is what one node holds.
type nodeState struct {
	id     string
	totals adminapi.Totals
	hash   adminapi.Hash
	txns   map[string]adminapi.Txn
}

func readNodes(ctx context.Context, admins []*adminapi.Client) ([]nodeState, error) {
	var out []nodeState
	for _, a := range admins {
		n, err := readNode(ctx, a)
		if err != nil {
			return nil, fmt.Errorf("simulation: verify: %w", err)
		}
		out = append(out, n)
	}
	return out, nil
}

func readNode(ctx context.Context, a *adminapi.Client) (nodeState, error) {
	st, err := a.Status(ctx)
	if err != nil {
		return nodeState{}, err
	}
	n := nodeState{id: st.ID, txns: map[string]adminapi.Txn{}}
	if n.totals, err = a.Totals(ctx); err != nil {
		return n, err
	}
	if n.hash, err = a.Hash(ctx); err != nil {
		return n, err
	}
	for q := (adminapi.TxnQuery{Limit: 1000}); ; {
		p, err := a.Txns(ctx, q)
		if err != nil {
			return n, err
		}
		for _, t := range p.Txns {
			n.txns[t.ID] = t
		}
		if p.NextCursor == "" {
			return n, nil
		}
		q.Cursor = p.NextCursor
	}
}

// checkTotals: every node's net totals are the acquirer's (I4). Nodes
// that differ from it the same way make one violation.
func checkTotals(nodes []nodeState, in verifyInput) ([]Violation, error) {
	acq, err := in.Acquirer.Totals()
	if err != nil {
		return nil, fmt.Errorf("simulation: verify: acquirer totals: %w", err)
	}
	want := map[string]adminapi.Sum{}
	for k, s := range acq.Net {
		want[k] = adminapi.Sum{Count: s.Count, Amount: s.Amount}
	}
	var diffs []string
	byDiff := map[string][]string{}
	for _, n := range nodes {
		if d := totalsDiff(nonZero(n.totals.Net), nonZero(want)); d != "" {
			if byDiff[d] == nil {
				diffs = append(diffs, d)
			}
			byDiff[d] = append(byDiff[d], n.id)
		}
	}
	var out []Violation
	for _, d := range diffs {
		out = append(out, Violation{Invariant: "I4", Detail: fmt.Sprintf("net totals of %s differ from the acquirer's: %s", strings.Join(byDiff[d], ", "), d)})
	}
	return out, nil
}

// totalsDiff lists the kinds whose sums differ, as "kind cluster {count
// amount} acquirer {count amount}".
func totalsDiff(got, want map[string]adminapi.Sum) string {
	kinds := map[string]bool{}
	for k := range got {
		kinds[k] = true
	}
	for k := range want {
		kinds[k] = true
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		if got[k] != want[k] {
			parts = append(parts, fmt.Sprintf("%s cluster %v acquirer %v", k, got[k], want[k]))
		}
	}
	return strings.Join(parts, "; ")
}

func nonZero(m map[string]adminapi.Sum) map[string]adminapi.Sum {
	out := map[string]adminapi.Sum{}
	for k, s := range m {
		if s != (adminapi.Sum{}) {
			out[k] = s
		}
	}
	return out
}

// checkHashes: the same state hash at the same applied index (I5).
func checkHashes(nodes []nodeState) []Violation {
	var out []Violation
	for _, n := range nodes[1:] {
		if n.hash != nodes[0].hash {
			out = append(out, Violation{Invariant: "I5", Detail: fmt.Sprintf("%s %+v, %s %+v", nodes[0].id, nodes[0].hash, n.id, n.hash)})
		}
	}
	return out
}

// checkRepeats: every answer to an identity is its first answer (I2).
func checkRepeats(events []history.Event) []Violation {
	first := map[string]history.Event{}
	var out []Violation
	for _, e := range events {
		if e.Kind != history.Request || e.Outcome != history.Answered || !financial(e.MTI) {
			continue
		}
		f, ok := first[e.ID]
		if !ok {
			first[e.ID] = e
			continue
		}
		if e.RC != f.RC || e.AuthCode != f.AuthCode {
			out = append(out, Violation{Invariant: "I2", ID: e.ID,
				Detail: fmt.Sprintf("answered rc %s auth %q, then rc %s auth %q", f.RC, f.AuthCode, e.RC, e.AuthCode)})
		}
	}
	return out
}

// financial MTIs carry money; 0120 is left out while the node answers
// every advice 30 (a known gap the lead is closing: issue 12 item 4).
func financial(mti string) bool {
	switch mti {
	case "0100", "0200", "0220", "0400", "0420":
		return true
	}
	return false
}

// registerView is what the registers hold, from their history.
type registerView struct {
	held     []history.Event // first answers 00 of identities never reversed
	declined []history.Event // first answers other than 00, never reversed
	// reversed: identity -> the answers its reversals got (a Request
	// answered, or a queued entry acknowledged), in order.
	reversed map[string][]string
}

func viewOf(events []history.Event) registerView {
	v := registerView{reversed: map[string][]string{}}
	first := map[string]history.Event{}
	var order []string
	for _, e := range events {
		isRev := e.MTI == "0400" || e.MTI == "0420"
		switch {
		case isRev && (e.Kind == history.Acked || e.Kind == history.Request && e.Outcome == history.Answered):
			v.reversed[e.OriginalID()] = append(v.reversed[e.OriginalID()], e.RC)
		case e.Kind == history.Request && e.Outcome == history.Answered && financial(e.MTI) && !isRev:
			if _, ok := first[e.ID]; !ok {
				first[e.ID] = e
				order = append(order, e.ID)
			}
		}
	}
	for _, id := range order {
		switch e := first[id]; {
		case v.reversed[id] != nil:
		case e.RC == wire.RCApproved:
			v.held = append(v.held, e)
		default:
			v.declined = append(v.declined, e)
		}
	}
	return v
}

// checkHeld compares each identity the registers hold or reversed with
// every node (I1, I3): one violation per identity, naming the nodes.
func checkHeld(nodes []nodeState, v registerView) []Violation {
	var out []Violation
	for _, e := range v.held {
		var bad []string
		for _, n := range nodes {
			t, ok := n.txns[e.ID]
			if !ok || t.Status != "approved" || t.AuthCode != e.AuthCode || t.Amount != e.Amount {
				bad = append(bad, n.id+" has "+txnString(t, ok))
			}
		}
		if len(bad) > 0 {
			out = append(out, Violation{Invariant: "I1", ID: e.ID, Detail: fmt.Sprintf(
				"its register holds 00 auth %q amount %d; %s", e.AuthCode, e.Amount, strings.Join(bad, "; "))})
		}
	}
	for _, e := range v.declined {
		if on := approvedOn(nodes, e.ID); on != "" {
			out = append(out, Violation{Invariant: "I2", ID: e.ID, Detail: fmt.Sprintf(
				"its register was answered rc %s, yet it is approved on %s", e.RC, on)})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(v.reversed)) {
		if bad := checkReversed(nodes, id, v.reversed[id]); bad != nil {
			out = append(out, *bad)
		}
	}
	return out
}

// approvedOn lists the nodes holding id approved, with its auth code.
func approvedOn(nodes []nodeState, id string) string {
	var on []string
	for _, n := range nodes {
		if t, ok := n.txns[id]; ok && t.Status == "approved" {
			on = append(on, fmt.Sprintf("%s (auth %q)", n.id, t.AuthCode))
		}
	}
	return strings.Join(on, ", ")
}

// checkReversed: an identity its register reversed (acknowledged) or
// believes reversed (its client dropped the entry on a 30/91/96) must not
// stay approved.
func checkReversed(nodes []nodeState, id string, rcs []string) *Violation {
	on := approvedOn(nodes, id)
	if on == "" {
		return nil
	}
	if slices.ContainsFunc(rcs, func(rc string) bool { return !slices.Contains(notAcks, rc) }) {
		return &Violation{Invariant: "I3", ID: id, Detail: fmt.Sprintf(
			"reversed by its register (answers %v) but approved on %s", rcs, on)}
	}
	return &Violation{Invariant: "I1", ID: id, Detail: fmt.Sprintf(
		"its register reversed it but no reversal was acknowledged (answers %v, and the client keeps nothing queued), yet it stays approved on %s: money moves for a transaction the register cancelled",
		rcs, on)}
}

func txnString(t adminapi.Txn, ok bool) string {
	if !ok {
		return "no such transaction"
	}
	return fmt.Sprintf("%s rc %s auth %q amount %d", t.Status, t.RC, t.AuthCode, t.Amount)
}
