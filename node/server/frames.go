package server

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/node/internal/peer"
	"github.com/tillgate/tillgate/wire"
)

// conn is one register connection as every listener keeps it.
type conn interface {
	// write queues an answer frame; false when the connection is gone.
	write(frame []byte) bool
	close()
	remote() string
	// identity is who is on the other end, as far as the listener knows.
	identity() peer.Identity
}

// serve decodes one request frame, runs it and writes the answer. A frame
// whose MTI and STAN cannot be read is answered by closing the connection:
// there is nothing to match an answer to.
func (s *Server) serve(c conn, frame []byte) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			s.metrics.malformed.WithLabelValues("panic").Inc()
			s.log.Error("request handler panicked: connection closed", logkey.Remote, c.remote(), "panic", scrub(fmt.Sprint(p)))
			c.close()
		}
	}()
	req, ok := s.decode(c, frame)
	// The request is decoded into copies of its own: the frame's bytes
	// (PAN, track 2, PIN block, ICC) are not kept for the request's life.
	clear(frame)
	if !ok {
		return
	}
	// Not derived from the node's context: on Close, work in flight runs on
	// until Raft refuses its OUTCOME, as after a crash.
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	ctx = peer.With(ctx, c.identity())
	s.metrics.inflight.Inc()
	resp := s.cfg.Handler.Handle(ctx, req)
	s.metrics.inflight.Dec()
	s.metrics.latency.Observe(time.Since(start).Seconds())
	if resp != nil {
		s.send(c, resp)
	}
}

// decode unpacks and validates a request. A request it refuses is answered
// (or its connection closed) here: ok false.
func (s *Server) decode(c conn, frame []byte) (*wire.Message, bool) {
	req, err := s.cfg.Codec.Unpack(frame)
	if err != nil {
		s.metrics.malformed.WithLabelValues("unpack").Inc()
		mti, stan, ok := s.cfg.Codec.Peek(frame)
		s.log.Warn("malformed message", logkey.Remote, c.remote(), logkey.MTI, mti, logkey.STAN, stan, logkey.Err, scrub(err.Error()))
		if !ok || !knownRequest(mti) {
			c.close()
			return nil, false
		}
		s.send(c, s.cfg.Refuser.Refuse(&wire.Message{MTI: mti, STAN: stan}, wire.RCFormatError))
		return nil, false
	}
	if err := wire.ValidateRequest(req); err != nil {
		s.metrics.malformed.WithLabelValues("invalid").Inc()
		rcode := wire.RCFormatError
		var fe *wire.FormatError
		if errors.As(err, &fe) {
			rcode = fe.RC()
		}
		args := append([]any{logkey.Remote, c.remote(), logkey.Err, scrub(err.Error())}, logkey.Request(req)...)
		s.log.Warn("invalid request", args...)
		s.send(c, s.cfg.Refuser.Refuse(req, rcode))
		return nil, false
	}
	return req, true
}

func (s *Server) send(c conn, resp *wire.Message) {
	b, err := s.cfg.Codec.PackFrame(nil, resp)
	if err != nil {
		s.log.Error("cannot pack answer", logkey.MTI, resp.MTI, logkey.STAN, resp.STAN, logkey.Err, scrub(err.Error()))
		return
	}
	if !c.write(b) {
		s.metrics.lostAnswers.Inc()
	}
}

func knownRequest(mti string) bool {
	return wire.Classify(mti, "", "") != wire.KindNone
}

var digitRun = regexp.MustCompile(`[0-9]{12,19}`)

// scrub masks anything in an error text that could be a card number: parser
// errors may quote the field they choked on.
func scrub(s string) string {
	return digitRun.ReplaceAllStringFunc(s, wire.MaskPAN)
}
