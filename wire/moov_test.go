package wire

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/moov-io/iso8583"
)

// fieldValues is an independent rendering of a Message as the transmitted
// text of each field (binary fields as bytes), for moov's own packer.
func fieldValues(m *Message) (text map[int]string, bin map[int][]byte) {
	text, bin = map[int]string{}, map[int][]byte{}
	put := func(id int, v string) {
		if v != "" {
			text[id] = v
		}
	}
	put(2, m.PAN)
	put(3, m.ProcCode)
	if m.HasAmount {
		text[4] = fmt.Sprintf("%012d", m.Amount)
	}
	put(7, m.TransmissionTime)
	put(11, m.STAN)
	put(12, m.LocalTime)
	put(13, m.LocalDate)
	put(14, m.Expiry)
	put(22, m.POSEntryMode)
	put(25, m.POSCondition)
	put(35, m.Track2)
	put(37, m.RRN)
	put(38, m.AuthCode)
	put(39, m.ResponseCode)
	put(41, m.TerminalID)
	put(42, m.MerchantID)
	put(48, m.Private.String())
	put(49, m.Currency)
	put(54, m.AddAmounts)
	put(70, m.NetworkCode)
	put(90, m.OriginalData)
	if len(m.PINBlock) > 0 {
		bin[52] = m.PINBlock
	}
	if len(m.ICC) > 0 {
		bin[55] = m.ICC
	}
	if t := m.Totals; t != nil {
		for id, v := range map[int]int64{74: t.CreditsCount, 75: t.CreditsReversalCount, 76: t.DebitsCount, 77: t.DebitsReversalCount} {
			text[id] = fmt.Sprintf("%010d", v)
		}
		for id, v := range map[int]int64{86: t.CreditsAmount, 87: t.CreditsReversalAmount, 88: t.DebitsAmount, 89: t.DebitsReversalAmount} {
			text[id] = fmt.Sprintf("%016d", v)
		}
		if t.NetAmount < 0 {
			text[97] = fmt.Sprintf("D%016d", -t.NetAmount)
		} else {
			text[97] = fmt.Sprintf("C%016d", t.NetAmount)
		}
	}
	return text, bin
}

// TestMoovAgrees checks that the dialect really is the moov spec: moov's
// iso8583.Message packs every sample to the codec's bytes and unpacks the
// codec's bytes to the same field values.
func TestMoovAgrees(t *testing.T) {
	for _, td := range testDialects {
		c := NewCodec(td.d)
		for _, s := range samples() {
			t.Run(td.name+"/"+s.name, func(t *testing.T) {
				text, bin := fieldValues(s.m)
				msg := iso8583.NewMessage(c.ds.spec)
				msg.MTI(s.m.MTI)
				for id, v := range text {
					if err := msg.Field(id, v); err != nil {
						t.Fatalf("moov Field %d: %v", id, err)
					}
				}
				for id, v := range bin {
					if err := msg.BinaryField(id, v); err != nil {
						t.Fatalf("moov BinaryField %d: %v", id, err)
					}
				}
				want, err := msg.Pack()
				if err != nil {
					t.Fatalf("moov Pack: %v", err)
				}
				got := mustPack(t, c, s.m)
				if !bytes.Equal(got, want) {
					t.Fatalf("codec and moov differ\ncodec:\n%smoov:\n%s", formatHex(got), formatHex(want))
				}

				back := iso8583.NewMessage(c.ds.spec)
				if err := back.Unpack(got); err != nil {
					t.Fatalf("moov Unpack: %v", err)
				}
				for id, v := range text {
					if g, err := back.GetString(id); err != nil || g != v {
						t.Fatalf("moov field %d = %q, %v; want %q", id, g, err, v)
					}
				}
				for id, v := range bin {
					if g, err := back.GetBytes(id); err != nil || !bytes.Equal(g, v) {
						t.Fatalf("moov field %d = %X, %v; want %X", id, g, err, v)
					}
				}
			})
		}
	}
}
