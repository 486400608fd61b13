package history

import (
	"encoding/json"
	"strconv"
)

// appendJSON appends e as json.Marshal writes it (fields in order, the
// omitempty ones left out when empty). Every request of a load test is a
// line: reflection-driven encoding was a few percent of the fleet's CPU.
// A string that json.Marshal would escape (quotes, control characters,
// HTML's <>&, anything not ASCII) sends the whole event through it.
func appendJSON(b []byte, e *Event) ([]byte, error) {
	if !plain(string(e.Kind)) || !plain(e.Register) || !plain(e.ID) || !plain(e.MTI) || !plain(e.ProcCode) ||
		!plain(e.Original) || !plain(e.Of) || !plain(e.Outcome) || !plain(e.RC) || !plain(e.AuthCode) ||
		!plain(e.RRN) || !plain(e.Node) {
		v, err := json.Marshal(e)
		return append(b, v...), err
	}
	b = appendField(b, `{"kind":"`, string(e.Kind))
	b = appendField(b, `,"register":"`, e.Register)
	b = appendField(b, `,"id":"`, e.ID)
	b = appendField(b, `,"mti":"`, e.MTI)
	b = appendOmit(b, `,"de3":"`, e.ProcCode)
	if e.Amount != 0 {
		b = strconv.AppendInt(append(b, `,"de4":`...), e.Amount, 10)
	}
	b = appendOmit(b, `,"de90":"`, e.Original)
	b = appendOmit(b, `,"of":"`, e.Of)
	b = strconv.AppendInt(append(b, `,"invoke":`...), e.Invoke, 10)
	if e.Return != 0 {
		b = strconv.AppendInt(append(b, `,"return":`...), e.Return, 10)
	}
	b = appendOmit(b, `,"outcome":"`, e.Outcome)
	b = appendOmit(b, `,"de39":"`, e.RC)
	b = appendOmit(b, `,"de38":"`, e.AuthCode)
	b = appendOmit(b, `,"de37":"`, e.RRN)
	b = appendOmit(b, `,"node":"`, e.Node)
	return append(b, '}'), nil
}

// appendField appends key (with its opening quote) and the plain value s.
func appendField(b []byte, key, s string) []byte {
	return append(append(append(b, key...), s...), '"')
}

// appendOmit is appendField unless s is empty (omitempty).
func appendOmit(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendField(b, key, s)
}

// plain reports a string json.Marshal writes as it is between quotes.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
