package store

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/wire"
)

func TestCommandRoundTrip(t *testing.T) {
	v := mustVault(t)
	in := linkedTxn(t, v, 7, TypeReversal, -42, 3) // negative amounts survive zig-zag
	in.Status, in.RC, in.AuthCode, in.StandIn, in.Day, in.UpdatedAt = StatusUnknown, "91", "ABC123", true, testDay, -1
	c, err := DecodeCommand(IntentCmd(in))
	if err != nil || c.Op != OpIntent || c.Outcome != nil || !reflect.DeepEqual(c.Intent, in) {
		t.Fatalf("intent round trip: %+v, %v", c, err)
	}
	out := &Outcome{ID: idOf(7), Status: StatusApproved, RC: "00", AuthCode: "123456", StandIn: true, At: testEpoch}
	c, err = DecodeCommand(OutcomeCmd(Outcome{ID: out.ID, Status: out.Status, RC: out.RC, AuthCode: out.AuthCode, StandIn: out.StandIn, At: out.At}))
	if err != nil || c.Op != OpOutcome || c.Intent != nil || !reflect.DeepEqual(c.Outcome, out) {
		t.Fatalf("outcome round trip: %+v, %v", c, err)
	}
	// Empty byte slices come back as nil, so records compare equal.
	c, err = DecodeCommand(IntentCmd(&Txn{ID: "x", PANEnc: []byte{}}))
	if err != nil || c.Intent.PANEnc != nil {
		t.Fatalf("empty PANEnc: %v %v", c.Intent.PANEnc, err)
	}
}

// TestOutcomeGolden pins the wire format: replicas of different builds must
// read each other's log.
func TestOutcomeGolden(t *testing.T) {
	got := OutcomeCmd(Outcome{ID: "T1", Status: StatusDeclined, RC: "51", StandIn: true, At: -3, Repeat: true})
	want, _ := hex.DecodeString("0202" + "025431" + "03" + "023531" + "00" + "01" + "05" + "01")
	if !bytes.Equal(got, want) {
		t.Fatalf("outcome bytes %x, want %x", got, want)
	}
	in := IntentCmd(&Txn{ID: "I", Type: TypePurchase, Amount: 300, Status: StatusPending, CreatedAt: 1})
	wantIntent := "0201" + "03" + "0149" + "01" + "0000" + "d804" + // versions, ID, type, MTI, DE3, amount 300
		strings.Repeat("00", 7) + // currency .. local date
		strings.Repeat("00", 9) + // PAN fields, acquirer identity, original
		"01" + strings.Repeat("00", 4) + "02" + "00" + "00" + "00" // status, RC, auth, stand-in, day, created 1, updated 0, batch 0, repeat
	if hex.EncodeToString(in) != wantIntent {
		t.Fatalf("intent bytes %x, want %s", in, wantIntent)
	}
}

func TestDecodeGarbage(t *testing.T) {
	outcome := OutcomeCmd(Outcome{ID: "T1", Status: StatusApproved, RC: "00", AuthCode: "", StandIn: false, At: 1})
	intent := IntentCmd(&Txn{ID: "I", Type: TypePurchase})
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"nil", nil, ErrCorrupt},
		{"one byte", []byte{1}, ErrCorrupt},
		{"newer version", []byte{cmdVersion + 1, 1}, ErrUnknownOp},
		{"older version", []byte{cmdVersion - 1, 1}, ErrUnknownOp},
		{"unknown op", []byte{cmdVersion, 0}, ErrUnknownOp},
		{"future op", []byte{cmdVersion, 99, 0}, ErrUnknownOp},
		{"saf ack without body", []byte{cmdVersion, 4}, ErrCorrupt},
		{"intent without body", []byte{cmdVersion, 1}, ErrCorrupt},
		{"outcome without body", []byte{cmdVersion, 2}, ErrCorrupt},
		{"truncated outcome", outcome[:len(outcome)-1], ErrCorrupt},
		{"truncated intent", intent[:len(intent)-1], ErrCorrupt},
		{"trailing byte", append(append([]byte(nil), outcome...), 0), ErrCorrupt},
		{"record version", append([]byte{cmdVersion, 1, 9}, intent[3:]...), ErrCorrupt},
		{"length past the end", []byte{cmdVersion, 2, 0x7f, 'a'}, ErrCorrupt},
		{"huge length", []byte{cmdVersion, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrCorrupt},
		{"varint overflow", []byte{cmdVersion, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ErrCorrupt},
		{"bool of 2", append(append([]byte(nil), outcome[:len(outcome)-1]...), 2), ErrCorrupt},
		{"version zero", []byte{0, 1}, ErrUnknownOp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DecodeCommand(tc.b)
			if !errors.Is(err, tc.want) || !reflect.DeepEqual(c, Command{}) {
				t.Fatalf("got %+v, %v; want %v", c, err, tc.want)
			}
		})
	}
}

func FuzzDecodeCommand(f *testing.F) {
	v := mustVault(f)
	_, cmds := randomLog(f, v, 11, 40)
	for _, c := range cmds {
		f.Add(c)
	}
	_, safCmds := safLog(f, v, 12, 20)
	for _, c := range safCmds {
		f.Add(c)
	}
	// Every other op, valid, so the fuzzer starts from each encoding.
	for _, c := range [][]byte{
		CutoverCmd(testDay, "20261202", "operator", testEpoch),
		SettleCmd(testDay, testEpoch),
		DayFileCmd(testDay, DayFile{Acquirer: "acq", CSVSHA256: strings.Repeat("a", 64), JSONSHA256: strings.Repeat("b", 64), Rows: 3, At: testEpoch}),
		DayReconciledCmd(testDay, Reconciliation{Acquirer: "acq", Reconciled: true, At: testEpoch}),
		BatchCloseCmd(idOf(1), "T0000001", BatchSettle, 0, wire.Totals{DebitsCount: 1, DebitsAmount: 100, NetAmount: 100}, testEpoch),
		BatchUploadCmd(idOf(2), "T0000001", Upload{OriginalID: idOf(1), ProcCode: "000000", Amount: 100, RC: "00", AuthCode: "A1"}, testEpoch),
		OutcomeSAFCmd(Outcome{ID: idOf(1), Status: StatusApproved, RC: "00", StandIn: true, At: testEpoch},
			SAFEntry{Acquirer: "acq", Kind: SAFCancel}, SAFEntry{Acquirer: "acq", Kind: SAFAdvice, STAN: "000001", AcqTime: "1203101112"}),
		TerminalsAddCmd(testEpoch, TerminalRange{From: "T0000001", To: "T0000009", Merchant: testMerchant, Store: "store-1"}),
		TerminalsBlockCmd(TerminalRange{From: "T0000002"}, true, testEpoch),
		AuditCmd(Audit{Keep: 10, Record: AuditRecord{ID: "a1", At: testEpoch, Actor: "ops", Role: "operator", Action: "cutover", Params: []AuditParam{{Name: "day", Value: testDay}}}}),
		MerchantAddCmd(Merchant{ID: "shop", Name: "Shop", Keys: []APIKey{{Name: "k1", Hash: make([]byte, 32)}}, At: testEpoch}),
		PaymentCreateCmd(Payment{ID: "pay_1", Merchant: "shop", IdemKey: "i1", Amount: 500, Currency: "978", Manual: true,
			Steps: []*PaymentStep{{Kind: StepAuth, Amount: 500, DE7: testDE7}}, At: testEpoch}),
		PaymentStepCmd("pay_1", PaymentStep{Kind: StepCapture, Amount: 400, DE7: testDE7, At: testEpoch}),
		KeyCmdOf(KeyCmd{Action: KeyRotate, ID: 2, Check: "c2", HashCheck: "h", At: testEpoch}),
		ResealCmdOf(ResealCmd{From: 0, Next: 3, Items: []ResealItem{{Seq: 1, Enc: make([]byte, 50)}}}),
		PaymentAuthCmd("pay_1", AuthAuthenticated, "", "dmFsdWU=", "05", time.Unix(0, testEpoch)),
		LinkCreateCmd(Link{ID: "l", Merchant: "shop", Token: "t", Amount: 1, Currency: "978", ExpiresAt: 2, At: 1}),
		OutboxAddCmd(Message{ID: "m1", Kind: "receipt", Body: "b"}),
		MerchantWebhookCmd(Webhook{Merchant: "shop", URL: "https://shop.example/hook", Secret: "s", At: testEpoch}),
		WebhookAckCmd(WebhookAck{Merchant: "shop", Seq: 1, At: testEpoch}),
		SchemaCmd(SchemaLean),
	} {
		f.Add(c)
	}
	// One store for the whole run: state builds up, so outcomes find
	// intents that earlier inputs recorded.
	s := mustOpen(f, true)
	f.Fuzz(func(t *testing.T, b []byte) {
		// Applying anything never panics, and answers every command (nil
		// is a configuration entry: no answer).
		if _, ok := s.ApplyBatch([]uint64{s.AppliedIndex() + 1}, [][]byte{b})[0].(Result); ok != (b != nil) {
			t.Fatalf("result for %x: %v", b, ok)
		}
		c, err := DecodeCommand(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownOp) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		// Whatever decodes re-encodes to a command that decodes the same.
		again := Encode(c)
		c2, err := DecodeCommand(again)
		if err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("re-encoding differs: %+v vs %+v, %v", c, c2, err)
		}
	})
}
