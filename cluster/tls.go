package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// handshakeTimeout bounds a peer's TLS handshake: a connection that does
// not complete one in time is closed, so that a stalled or hostile dialer
// holds nothing but its own socket.
const handshakeTimeout = 10 * time.Second

// tlsStream is a raft.StreamLayer over mutual TLS. Every connection, in
// and out, must present a certificate that chains to the cluster's CA (the
// tls.Config's ClientCAs and RootCAs): a peer without one is refused at
// the handshake, before raft reads a byte of an RPC from it.
type tlsStream struct {
	net.Listener
	advertise net.Addr
	cfg       *tls.Config
}

// newTLSStream listens on bind. cfg must hold the node's certificate and
// the cluster CA; it is cloned and made strict (client certificates
// required and verified, TLS 1.2 at least).
func newTLSStream(bind string, advertise net.Addr, cfg *tls.Config) (*tlsStream, error) {
	if cfg == nil || len(cfg.Certificates) == 0 && cfg.GetCertificate == nil {
		return nil, errors.New("raft TLS: no node certificate")
	}
	if cfg.ClientCAs == nil || cfg.RootCAs == nil {
		return nil, errors.New("raft TLS: the cluster CA must be both ClientCAs and RootCAs")
	}
	c := cfg.Clone()
	c.ClientAuth = tls.RequireAndVerifyClientCert
	c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	if ta, ok := advertise.(*net.TCPAddr); !ok || ta.IP == nil || ta.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("raft TLS: %v is not an address peers can dial (set the advertise address)", advertise)
	}
	return &tlsStream{Listener: ln, advertise: advertise, cfg: c}, nil
}

// Accept returns the next connection; its handshake runs on its first read
// (raft reads each connection in a goroutine of its own), bounded by
// handshakeTimeout.
func (s *tlsStream) Accept() (net.Conn, error) {
	c, err := s.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &handshaking{Conn: tls.Server(c, s.cfg)}, nil
}

// Addr is the address peers dial.
func (s *tlsStream) Addr() net.Addr { return s.advertise }

// Dial connects to a peer and completes the handshake (its certificate
// must chain to the cluster CA and name the address dialled).
func (s *tlsStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: s.cfg}
	c, err := d.DialContext(ctx, "tcp", string(address))
	if err != nil {
		return nil, fmt.Errorf("raft TLS: dial %s: %w", address, err)
	}
	return c, nil
}

// handshaking is a server-side TLS connection whose handshake is finished,
// with a deadline, before its first read.
type handshaking struct {
	*tls.Conn
	once sync.Once
	err  error
}

func (h *handshaking) Read(b []byte) (int, error) {
	h.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		defer cancel()
		if h.err = h.Conn.HandshakeContext(ctx); h.err != nil {
			h.Conn.Close()
		}
	})
	if h.err == io.EOF {
		// Connected and left without a word (a follower asking whether
		// anything listens here, deadleader.go): raft reads EOF quietly.
		return 0, io.EOF
	}
	if h.err != nil {
		return 0, fmt.Errorf("raft TLS: handshake with %s: %w", h.RemoteAddr(), h.err)
	}
	return h.Conn.Read(b)
}
