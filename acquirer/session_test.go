package acquirer

import (
	"encoding/binary"
	"io"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/wire"
)

// TestLinkAnswersHostEcho: a host-initiated 0800 is answered 0810 00 with
// its DE7, DE11 and DE70, not dropped as an unmatched answer.
func TestLinkAnswersHostEcho(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l := openLink(t, ln.Addr().String(), func(c *Config) { c.Conns = 1 })
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	codec := wire.NewCodec(wire.DefaultDialect())
	for _, code := range []string{wire.NetEcho, wire.NetSignOn} {
		echo := &wire.Message{MTI: "0800", TransmissionTime: "1203101112", STAN: "424242", NetworkCode: code}
		frame, err := codec.PackFrame(nil, echo)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nc.Write(frame); err != nil {
			t.Fatal(err)
		}
		got, err := codec.Unpack(readPayload(t, nc))
		if err != nil {
			t.Fatal(err)
		}
		want := &wire.Message{MTI: "0810", TransmissionTime: "1203101112", STAN: "424242", NetworkCode: code, ResponseCode: "00"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("answer %+v, want %+v", got, want)
		}
	}
	if st := l.Stats(); st.Late != 0 || st.Malformed != 0 || st.Connected != 1 {
		t.Errorf("stats %+v: a host 0800 is neither late nor malformed", st)
	}
}

// readPayload reads one 2-byte-length frame from nc.
func readPayload(t *testing.T, nc net.Conn) []byte {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var h [2]byte
	if _, err := io.ReadFull(nc, h[:]); err != nil {
		t.Fatalf("read header: %v", err)
	}
	p := make([]byte, binary.BigEndian.Uint16(h[:]))
	if _, err := io.ReadFull(nc, p); err != nil {
		t.Fatalf("read payload: %v", err)
	}
	return p
}

// TestLinkStrictHostEchoes: a link left idle under a strict host's echoes
// answers them all, stays connected and keeps working.
func TestLinkStrictHostEchoes(t *testing.T) {
	s := startSim(t, sim.Config{Strict: true,
		StrictConfig: sim.StrictConfig{EchoEvery: 10 * time.Millisecond, EchoTimeout: 5 * time.Second}})
	l := openLink(t, s.Addr(), func(c *Config) { c.Conns = 2 })
	waitFor(t, "host echoes on both connections", func() bool { return s.Stats().HostEchoes >= 10 })
	if st := s.Stats(); st.HostEchoTimeouts != 0 || st.Malformed != 0 {
		t.Errorf("host stats %+v", st)
	}
	if st := l.Stats(); st.Reconnects != 0 || st.Late != 0 || st.Connected != 2 {
		t.Errorf("link stats %+v: want both connections kept, no echo taken for a late answer", st)
	}
	if r := mustSend(t, l, purchase("000001", 1000)); r.ResponseCode != "00" {
		t.Errorf("after the echoes: RC %s", r.ResponseCode)
	}
}
