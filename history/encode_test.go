package history

import (
	"encoding/json"
	"testing"
)

// TestAppendJSONIsMarshal: the hand-written encoder writes exactly what
// json.Marshal writes, empty fields, escapes and non-ASCII included.
func TestAppendJSONIsMarshal(t *testing.T) {
	events := []Event{
		{},
		{Kind: Request, Register: "L0000001", ID: "L0000001000001" + "1203101010", MTI: "0200", ProcCode: "000000",
			Amount: 4200, Invoke: 1764756000000000000, Return: 1764756000001000000, Outcome: Answered, RC: "00",
			AuthCode: "A1B2C3", RRN: "123456789012", Node: "node1"},
		{Kind: Queued, Register: "L0000002", ID: "x", MTI: "0400", Original: "020000000112031010100000000000000000000000",
			Of: "L0000002000001", Amount: -5, Invoke: -1},
		{Kind: Acked, Register: `quote"back\slash`, RC: "<&>", Node: "tab\there", Outcome: "é", AuthCode: "\xff\xfe"},
		{Kind: Request, Register: "L1", Node: "\u2028"},
	}
	for i, e := range events {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendJSON([]byte("prefix"), &e)
		if err != nil || string(got) != "prefix"+string(want) {
			t.Errorf("event %d: got %s (err %v), want prefix%s", i, got, err, want)
		}
	}
}
