package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
)

// Reasons a handshake failed, as metric label values.
const (
	ReasonUnknownAuthority = "unknown_authority" // the peer's certificate does not chain to our CA
	ReasonServerName       = "server_name"       // the server's certificate is not for the name dialled
	ReasonExpired          = "expired"           // a certificate is expired or not valid yet
	ReasonBadCertificate   = "bad_certificate"   // a certificate is unusable otherwise (usage, constraints)
	ReasonPeerRefused      = "refused_by_peer"   // the peer refused our certificate, or the lack of one
	ReasonNotTLS           = "not_tls"           // the peer does not speak TLS
	ReasonTimeout          = "timeout"           // the handshake did not finish in time
	ReasonClosed           = "closed"            // the peer closed the connection in the handshake
	ReasonOther            = "other"             // anything else (version, cipher suites, I/O)
)

// Reasons lists every reason, for metrics that export each.
var Reasons = []string{ReasonUnknownAuthority, ReasonServerName, ReasonExpired, ReasonBadCertificate,
	ReasonPeerRefused, ReasonNotTLS, ReasonTimeout, ReasonClosed, ReasonOther}

// Reason classifies a handshake error (of either side).
func Reason(err error) string {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		verify   *tls.CertificateVerificationError
		op       *net.OpError
	)
	switch {
	case errors.As(err, &unknown):
		return ReasonUnknownAuthority
	case errors.As(err, &hostname):
		return ReasonServerName
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return ReasonExpired
		}
		return ReasonBadCertificate
	case errors.As(err, &verify):
		return ReasonBadCertificate
	case errors.As(err, &record):
		return ReasonNotTLS
	case errors.As(err, &op) && op.Op == "remote error":
		// The peer's alert: it refused what we presented (a certificate
		// it cannot verify, or none where one is required).
		return ReasonPeerRefused
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
		return ReasonClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ReasonTimeout
	case strings.Contains(err.Error(), "timeout") || strings.Contains(err.Error(), "deadline exceeded"):
		return ReasonTimeout
	}
	return ReasonOther
}

// ClientHint says what to change on the client side for a handshake that
// failed for reason; the words are the config keys (ca_file, cert_file,
// key_file, server_name).
func ClientHint(reason string) string {
	switch reason {
	case ReasonUnknownAuthority:
		return "check ca_file: the server's certificate is not issued by its CA"
	case ReasonServerName:
		return "check server_name (or the address): the server's certificate is not for it"
	case ReasonExpired:
		return "a certificate is expired or not valid yet: renew it, or check the clock"
	case ReasonBadCertificate:
		return "the server's certificate cannot be used for a TLS server"
	case ReasonPeerRefused:
		return "the server refused our client certificate: check cert_file and key_file (required, and issued by the CA the server trusts?)"
	case ReasonNotTLS:
		return "the server does not speak TLS at this address: check the address, or turn TLS off for it"
	case ReasonClosed:
		return "the server closed the connection in the handshake: does it speak TLS at this address?"
	case ReasonTimeout:
		return "no handshake in time: is this a TLS port, and is the server overloaded?"
	}
	return "check the TLS settings on both sides (versions, cipher suites)"
}
