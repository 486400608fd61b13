package acquirer

import "sync/atomic"

// Stats are the link's counters since Open.
type Stats struct {
	Sent         int64 // requests written (or queued) by Send
	Answered     int64 // Send calls that returned an answer
	Timeouts     int64 // Send calls that ended with ErrTimeout (incl. context)
	Late         int64 // answers nobody waited for (timed out), dropped
	Lost         int64 // requests failed with ErrConnLost
	Unavailable  int64 // Send calls failed with ErrUnavailable
	Reconnects   int64 // connections re-established after a loss or failed dial
	Echoes       int64 // echoes sent
	EchoFailures int64 // echoes unanswered (the connection was closed)
	Malformed    int64 // undecodable answers
	Connected    int   // connections up now
	// TLSFailures counts failed TLS handshakes (and a host's refusal
	// right after one) by reason (tlsconf.Reasons); nil without TLS.
	TLSFailures map[string]int64
}

type counters struct {
	sent, answered, timeouts, late, lost, unavailable atomic.Int64
	reconnects, echoes, echoFailures, malformed       atomic.Int64
	tls                                               tlsCounters
}

// Stats returns a snapshot of the counters.
func (l *Link) Stats() Stats {
	c := &l.st
	return Stats{
		Sent: c.sent.Load(), Answered: c.answered.Load(), Timeouts: c.timeouts.Load(),
		Late: c.late.Load(), Lost: c.lost.Load(), Unavailable: c.unavailable.Load(),
		Reconnects: c.reconnects.Load(), Echoes: c.echoes.Load(),
		EchoFailures: c.echoFailures.Load(), Malformed: c.malformed.Load(),
		Connected: l.connected(), TLSFailures: c.tls.snapshot(),
	}
}
