package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/node/internal/commit"
	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// batchRequest answers a register's 0500 (batch totals) or 0320 (one
// transaction of a batch upload). The decision is the state machine's
// (store/batch.go), so every replica agrees on it and a repeat, on this
// active or the next, gets the first answer.
func (p *Pipeline) batchRequest(ctx context.Context, req *wire.Message) *wire.Message {
	v := p.cfg.Views.Current()
	var refusal *wire.Message
	if !v.Leader {
		if req, refusal = p.admit(ctx, req, v); req == nil {
			return refusal
		}
		return p.relayToActive(ctx, req, false)
	}
	if !v.Serving {
		if v = p.cfg.Views.WaitServing(ctx); v == nil {
			return p.notProcessed(req, p.cfg.Views.Current())
		}
	}
	if req, refusal = p.admit(ctx, req, v); req == nil {
		return refusal
	}
	cmd, rc := batchCmd(req, time.Now().UnixNano())
	if rc != "" {
		p.metrics.batches.WithLabelValues(req.MTI, rc).Inc()
		return p.reply(req, v, rc)
	}
	res, err := p.cfg.Raft.Apply(ctx, cmd)
	if err != nil {
		if errors.Is(err, cluster.ErrNotLeader) {
			return p.notProcessed(req, p.cfg.Views.Current())
		}
		p.logRequest(slog.LevelWarn, "batch request outcome unknown", req, logkey.Err, err)
		return nil // the register repeats; the repeat gets the recorded answer
	}
	r, ok := res.(store.Result)
	if !ok || r.Err != nil || r.Batch == nil {
		err := commit.Err(res)
		p.refused("batch request", req.Key(), err)
		if errors.Is(err, store.ErrFailed) {
			return nil // in the log: the next active answers the repeat
		}
		return p.reply(req, v, wire.RCSystemError)
	}
	resp := p.reply(req, v, r.Batch.RC)
	if req.Kind() == wire.KindReconcile {
		ours := r.Batch.Ours
		resp.Totals = &ours
	}
	p.metrics.batches.WithLabelValues(wire.OriginalMTI(req.MTI), r.Batch.RC).Inc()
	if r.Batch.RC != wire.RCApproved {
		p.logRequest(slog.LevelWarn, "register batch out of balance", req, "batch", r.Batch.Number)
	}
	return resp
}

// batchCmd is the command for a 0500 or 0320; a non-empty rc refuses the
// request as it stands.
func batchCmd(req *wire.Message, at int64) ([]byte, string) {
	if req.Kind() == wire.KindBatchUpload {
		if len(req.OriginalData) < 20 {
			return nil, wire.RCFormatError
		}
		u := store.Upload{OriginalID: originalKey(req), ProcCode: req.ProcCode, Amount: req.Amount, RC: req.ResponseCode, AuthCode: req.AuthCode}
		return store.BatchUploadCmd(req.Key(), req.TerminalID, u, at), ""
	}
	mode := store.BatchSettle
	switch req.ProcCode {
	case "", wire.ProcSettle:
	case wire.ProcSettleAfterUpload:
		mode = store.BatchAfterUpload
	default:
		return nil, wire.RCFormatError
	}
	if req.Totals == nil {
		return nil, wire.RCFormatError
	}
	return store.BatchCloseCmd(req.Key(), req.TerminalID, mode, 0, *req.Totals, at), ""
}
