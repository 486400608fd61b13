package sim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"

	"github.com/tillgate/tillgate/internal/tlsconf"
	"github.com/tillgate/tillgate/wire"
)

// serve reads frames from one connection. Each request runs in its own
// goroutine (so answers may leave out of order, like a real host); a
// connWriter serializes the answers.
func (s *Sim) serve(raw net.Conn) {
	defer s.wg.Done()
	defer s.untrack(raw)
	defer raw.Close()
	nc, err := s.handshake(raw)
	if err != nil {
		return
	}
	w := &connWriter{nc: nc}
	var echo *hostEcho
	stop := make(chan struct{})
	defer close(stop)
	if s.cfg.Strict {
		echo = newHostEcho()
		s.wg.Add(1)
		go s.echoLoop(nc, w, echo, stop)
	}
	err = s.read(nc, w, echo)
	s.log.Debug("connection closed", "remote", nc.RemoteAddr().String(), "err", err)
}

// handshake returns raw as is without Config.TLS, else as a TLS server
// connection whose handshake finished within the handshake timeout. A
// failed handshake is counted and logged; Close and Down still close raw.
func (s *Sim) handshake(raw net.Conn) (net.Conn, error) {
	if s.cfg.TLS == nil {
		return raw, nil
	}
	timeout := s.cfg.HandshakeTimeout
	if timeout == 0 {
		timeout = DefaultHandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tc := tls.Server(raw, s.cfg.TLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		s.st.tlsRefused.Add(1)
		s.log.Warn("TLS handshake failed, closing the connection", "remote", raw.RemoteAddr().String(),
			"reason", tlsconf.Reason(err), "err", err)
		return nil, err
	}
	return tc, nil
}

// read splits the stream into frames; a framing error closes the
// connection (the stream cannot be resynchronised). Answers to the host's
// own echoes (strict mode: echo is not nil) go to echo.
func (s *Sim) read(nc net.Conn, w *connWriter, echo *hostEcho) error {
	fr := wire.NewFrameReader(nc, s.cfg.Dialect, 16<<10)
	for {
		payload, err := fr.Next()
		if wire.IsFramingError(err) {
			s.st.malformed.Add(1)
			s.log.Warn("bad frame, closing the connection", "remote", nc.RemoteAddr().String(), "err", err)
			return err
		}
		if err != nil {
			return err
		}
		s.st.requests.Add(1)
		if echo.take(s.codec, payload) {
			continue
		}
		s.dispatch(job{nc: nc, w: w, payload: append([]byte(nil), payload...)})
	}
}

// job is one request frame of a connection, to be answered.
type job struct {
	nc      net.Conn
	w       *connWriter
	payload []byte
}

// maxIdleHandlers bounds the handler goroutines kept waiting for work
// between requests.
const maxIdleHandlers = 64

// dispatch hands j to an idle handler goroutine, or starts one: each
// request waits its latency in a goroutine of its own (answers leave out
// of order, as from a real host), but a handler that is done waits for
// the next request instead of ending. A goroutine per request grew its
// stack through the codec and the ledger every time: a tenth of acqsim's
// CPU.
func (s *Sim) dispatch(j job) {
	select {
	case s.jobs <- j:
		return
	default:
	}
	s.wg.Add(1)
	go s.handler(j)
}

// handler answers j, then the requests dispatched to it while it is idle;
// it ends when the simulator closes or maxIdleHandlers others are idle.
func (s *Sim) handler(j job) {
	defer s.wg.Done()
	for {
		s.handle(j.nc, j.w, j.payload)
		if s.idle.Add(1) > maxIdleHandlers {
			s.idle.Add(-1)
			return
		}
		select {
		case j = <-s.jobs:
			s.idle.Add(-1)
		case <-s.done:
			s.idle.Add(-1)
			return
		}
	}
}

// handle answers one request after the latency. Answers of a closed
// connection are dropped (the ledger has them: a repeat gets them).
func (s *Sim) handle(nc net.Conn, w *connWriter, payload []byte) {
	if !s.sleep(s.cfg.Latency.draw() + s.Fault().ExtraLatency) {
		return
	}
	resp, err := s.respond(payload)
	f := s.Fault()
	if err == nil && resp != nil && f.drops() {
		return
	}
	var frame []byte
	if err == nil && resp != nil {
		frame, err = s.pack(resp)
	}
	if err != nil {
		s.log.Warn("unanswerable request, closing the connection", "remote", nc.RemoteAddr().String(), "err", err)
		nc.Close()
		return
	}
	if frame == nil || !s.sleep(f.Late) {
		return
	}
	if w.write(frame) == nil {
		s.st.answered.Add(1)
	}
	if f.Duplicate && w.write(frame) == nil {
		s.st.answered.Add(1)
	}
}

// drops decides whether this answer is lost.
func (f Fault) drops() bool {
	return f.DropAnswers || (f.DropPercent > 0 && rand.IntN(100) < f.DropPercent)
}

// pack frames an answer; if the echoed fields of a bad request do not
// pack, the bare MTI, STAN and RC still do.
func (s *Sim) pack(resp *wire.Message) ([]byte, error) {
	frame, err := s.codec.PackFrame(nil, resp)
	if err == nil {
		return frame, nil
	}
	bare := &wire.Message{MTI: resp.MTI, STAN: resp.STAN, ResponseCode: resp.ResponseCode}
	if frame, err2 := s.codec.PackFrame(nil, bare); err2 == nil {
		return frame, nil
	}
	return nil, fmt.Errorf("sim: pack answer: %w", err)
}

// errUnanswerable: not even the MTI and STAN of a request could be read.
var errUnanswerable = errors.New("sim: malformed request without readable MTI and STAN")

// respond decides the answer to one payload. nil, nil: nothing to answer
// (a response or notification sent to us). An error: close the connection.
func (s *Sim) respond(payload []byte) (*wire.Message, error) {
	m, err := s.codec.Unpack(payload)
	if err != nil {
		return s.malformed(err)
	}
	class := classOf(m.MTI)
	if class == "" {
		if wire.ResponseMTI(m.MTI) == "" {
			s.st.malformed.Add(1)
			s.log.Warn("not a request, ignored", "mti", m.MTI)
			return nil, nil
		}
		return s.formatError(m, fmt.Errorf("MTI %s not served", m.MTI)), nil
	}
	if rc, err := validateRequest(m, class); err != nil {
		if rc != wire.RCFormatError {
			return reply(m, rc, "", m.RRN), nil
		}
		return s.formatError(m, err), nil
	}
	if class == wire.MTINetwork {
		s.st.echoes.Add(1)
		return reply(m, wire.RCApproved, "", m.RRN), nil
	}
	return s.financial(m, class), nil
}

// validateRequest is wire.ValidateRequest, except that a zero amount on a
// financial request is left to the card rules (RC 13, recorded like any
// decline) provided nothing else is wrong with the request.
//
// A 0220 must name its card: a register may leave DE2 to the original
// (wire.ValidateRequest allows it), but tillgate takes it from there and
// an acquirer's host requires it.
func validateRequest(m *wire.Message, class string) (string, error) {
	err := wire.ValidateRequest(m)
	if err == nil && class == wire.MTIFinancialAdvice && m.PAN == "" && m.Track2 == "" {
		return wire.RCFormatError, &wire.FormatError{MTI: m.MTI, STAN: m.STAN, Field: 2, Err: fmt.Errorf("%w: DE2 or DE35 (a 0220 names its card at the acquirer)", wire.ErrMissingField)}
	}
	var fe *wire.FormatError
	if err == nil || !errors.As(err, &fe) {
		return "", err
	}
	if fe.Field == 4 && fe.RC() == wire.RCInvalidAmount && m.Amount == 0 && class != wire.MTIReversal {
		probe := *m
		probe.Amount = 1
		perr := wire.ValidateRequest(&probe)
		if perr == nil {
			return "", nil
		}
		if !errors.As(perr, &fe) {
			return wire.RCFormatError, perr
		}
		err = perr // what else is wrong comes first
	}
	return fe.RC(), err
}

// malformed answers an undecodable payload with 30 when its MTI and STAN
// could be read, else asks for the connection to be closed.
func (s *Sim) malformed(err error) (*wire.Message, error) {
	s.st.malformed.Add(1)
	var fe *wire.FormatError
	if !errors.As(err, &fe) || fe.STAN == "" || wire.ResponseMTI(fe.MTI) == "" {
		return nil, fmt.Errorf("%w: %v", errUnanswerable, err)
	}
	s.log.Warn("malformed request answered 30", "mti", fe.MTI, "stan", fe.STAN, "err", err)
	return &wire.Message{MTI: wire.ResponseMTI(fe.MTI), STAN: fe.STAN, ResponseCode: wire.RCFormatError}, nil
}

// formatError answers a decodable but invalid request with 30.
func (s *Sim) formatError(m *wire.Message, err error) *wire.Message {
	s.st.malformed.Add(1)
	s.log.Warn("invalid request answered 30", "mti", m.MTI, "key", m.Key(), "err", err)
	return reply(m, wire.RCFormatError, "", m.RRN)
}
