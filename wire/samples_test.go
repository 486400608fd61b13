package wire

import (
	"encoding/hex"
	"testing"
)

// Test values. The PAN is a test card number (Luhn-valid).
const (
	testPAN    = "4111111111111111"
	testDE7    = "0612143015"
	testTerm   = "TERM0001"
	testMerch  = "MERCHANT0000001"
	testOrig90 = "0200" + "000101" + testDE7 + "00000000001" + "00000000002" // DE90, 42 digits
)

// sample is one message of the tillgate message set.
type sample struct {
	name string
	m    *Message
}

// samples returns fresh messages covering every MTI tillgate speaks.
func samples() []sample {
	pin := []byte{0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0}
	icc := []byte{0x9F, 0x26, 0x08, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x9F, 0x27, 0x01, 0x80}
	req := func(mti, proc string, amount int64, stan string) *Message {
		return &Message{
			MTI: mti, PAN: testPAN, ProcCode: proc, Amount: amount, HasAmount: true,
			TransmissionTime: testDE7, STAN: stan, LocalTime: "163015", LocalDate: "0612",
			Expiry: "2812", POSEntryMode: "051", POSCondition: "00",
			TerminalID: testTerm, MerchantID: testMerch, Currency: "978",
		}
	}
	resp := func(m *Message, rc string) *Message {
		r := *m
		r.MTI = ResponseMTI(m.MTI)
		r.PAN, r.Track2, r.PINBlock, r.ICC, r.Expiry = "", "", nil, nil, ""
		r.ResponseCode = rc
		r.RRN = "616314000101"
		if rc == RCApproved {
			r.AuthCode = "A1B2C3"
		}
		r.Private = TLVs{{TagActiveAddr, "10.0.0.1:8583"}, {TagNodeID, "n1"}, {TagTerm, "7"}}
		return &r
	}

	preauth := req("0100", "000000", 5000, "000101")
	preauth.PINBlock, preauth.ICC = pin, icc
	purchase := req("0200", "000000", 1234, "000102")
	purchase.PINBlock, purchase.ICC = pin, icc
	refund := req("0200", "200000", 999, "000103")
	cashback := req("0200", "090000", 6000, "000104")
	cashback.AddAmounts = "0040978D000000002000"
	balance := req("0200", "310000", 0, "000105")
	balance.HasAmount, balance.Amount = false, 0
	balanceResp := resp(balance, RCApproved)
	balanceResp.AddAmounts = "0002978C000000123456"
	track2 := req("0200", "000000", 700, "000106")
	track2.PAN, track2.Track2, track2.POSEntryMode = "", testPAN+"=28121010000000000", "901"
	completion := req("0220", "000000", 4500, "000107")
	completion.OriginalData = "0100" + "000101" + testDE7 + "00000000001" + "00000000002"
	standIn := req("0220", "000000", 1500, "000108")
	standIn.OriginalData = testOrig90
	standIn.Private = TLVs{{TagStandIn, "1"}}
	reversal := &Message{
		MTI: "0400", PAN: testPAN, ProcCode: "000000", Amount: 1234, HasAmount: true,
		TransmissionTime: "0612143115", STAN: "000109", TerminalID: testTerm, MerchantID: testMerch,
		Currency: "978", OriginalData: "0200" + "000102" + testDE7 + "00000000001" + "00000000002",
	}
	revAdvice := *reversal
	revAdvice.MTI, revAdvice.STAN = "0420", "000110"
	recon := &Message{
		MTI: "0500", TransmissionTime: "0612230000", STAN: "000111", TerminalID: testTerm,
		MerchantID: testMerch, Currency: "978",
		Totals: &Totals{
			CreditsCount: 2, CreditsReversalCount: 0, DebitsCount: 41, DebitsReversalCount: 3,
			CreditsAmount: 1998, CreditsReversalAmount: 0, DebitsAmount: 1234567, DebitsReversalAmount: 3702,
			NetAmount: -(1234567 - 3702 - 1998),
		},
	}
	reconResp := *recon
	reconResp.MTI, reconResp.ResponseCode = "0510", RCApproved
	reconResp.Totals = &Totals{CreditsCount: 5, NetAmount: 12345}
	settle := *recon
	settle.ProcCode, settle.STAN, settle.Totals = ProcSettle, "000114", &Totals{
		CreditsCount: 1, CreditsReversalCount: 1, DebitsCount: 12, DebitsReversalCount: 2,
		CreditsAmount: 999, CreditsReversalAmount: 500, DebitsAmount: 54321, DebitsReversalAmount: 2468,
		NetAmount: 54321 - 999,
	}
	mismatch := settle
	mismatch.MTI, mismatch.ResponseCode = "0510", RCReconcileError
	mismatch.Private = TLVs{{TagActiveAddr, "10.0.0.1:8583"}, {TagNodeID, "n1"}, {TagTerm, "7"}}
	mismatch.Totals = &Totals{
		CreditsCount: 1, CreditsReversalCount: 1, DebitsCount: 11, DebitsReversalCount: 2,
		CreditsAmount: 999, CreditsReversalAmount: 500, DebitsAmount: 53000, DebitsReversalAmount: 2468,
		NetAmount: 53000 - 999,
	}
	afterUpload := settle
	afterUpload.ProcCode, afterUpload.STAN = ProcSettleAfterUpload, "000117"
	upload := &Message{
		MTI: "0320", ProcCode: "000000", Amount: 1234, HasAmount: true, TransmissionTime: "0612230100",
		STAN: "000115", AuthCode: "A1B2C3", ResponseCode: RCApproved, TerminalID: testTerm,
		MerchantID: testMerch, Currency: "978",
		OriginalData: "0200" + "000102" + testDE7 + "00000000000" + "00000000000",
	}
	uploadResp := *upload
	uploadResp.MTI, uploadResp.ResponseCode, uploadResp.AuthCode = "0330", RCApproved, ""
	uploadResp.Private = TLVs{{TagActiveAddr, "10.0.0.1:8583"}, {TagNodeID, "n1"}, {TagTerm, "7"}}
	signOn := &Message{MTI: "0800", TransmissionTime: testDE7, STAN: "000112", TerminalID: testTerm, NetworkCode: NetSignOn}
	echo := &Message{MTI: "0800", TransmissionTime: testDE7, STAN: "000113", NetworkCode: NetEcho}
	signOnResp := *signOn
	signOnResp.MTI, signOnResp.ResponseCode = "0810", RCApproved
	signOnResp.Private = TLVs{{TagActiveAddr, "10.0.0.2:8583"}, {TagNodeID, "n2"}, {TagTerm, "12"}}
	echoResp := *echo
	echoResp.MTI, echoResp.ResponseCode = "0810", RCApproved
	repeat := *purchase
	repeat.MTI = "0201"

	return []sample{
		{"0100_preauth", preauth},
		{"0110_preauth", resp(preauth, RCApproved)},
		{"0200_purchase", purchase},
		{"0210_purchase", resp(purchase, RCApproved)},
		{"0210_declined", resp(purchase, RCInsufficientFunds)},
		{"0200_refund", refund},
		{"0210_refund", resp(refund, RCApproved)},
		{"0200_cashback", cashback},
		{"0210_cashback", resp(cashback, RCApproved)},
		{"0200_balance", balance},
		{"0210_balance", balanceResp},
		{"0200_track2", track2},
		{"0201_repeat", &repeat},
		{"0220_completion", completion},
		{"0230_completion", resp(completion, RCApproved)},
		{"0220_standin", standIn},
		{"0400_reversal", reversal},
		{"0410_reversal", resp(reversal, RCApproved)},
		{"0420_reversal_advice", &revAdvice},
		{"0430_reversal_advice", resp(&revAdvice, RCApproved)},
		{"0500_reconcile", recon},
		{"0510_reconcile", &reconResp},
		{"0500_settle", &settle},
		{"0510_settle_95", &mismatch},
		{"0320_upload", upload},
		{"0330_upload", &uploadResp},
		{"0500_after_upload", &afterUpload},
		{"0800_signon", signOn},
		{"0810_signon", &signOnResp},
		{"0800_echo", echo},
		{"0810_echo", &echoResp},
	}
}

// dialects are the two dialects every golden test covers.
var testDialects = []struct {
	name string
	d    Dialect
}{
	{"default", DefaultDialect()},
	{"hexbitmap_ascii4", Dialect{Bitmap: BitmapHex, Header: HeaderASCII4, MaxFrame: 4096}},
}

func mustPack(t testing.TB, c *Codec, m *Message) []byte {
	t.Helper()
	p, err := c.Pack(m)
	if err != nil {
		t.Fatalf("Pack %s: %v", m.MTI, err)
	}
	return p
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}
