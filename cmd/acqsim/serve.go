package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/internal/cli"
	"github.com/tillgate/tillgate/internal/tlsconf"
	"github.com/tillgate/tillgate/wire"
)

type serveCommand struct {
	// ready, if set, learns the listening addresses (tests use :0).
	ready func(iso, admin string)
}

func (c *serveCommand) Usage() string {
	return `usage: acqsim serve --data DIR [flags]

Serves ISO 8583 (0100/0120/0200/0220/0400/0420/0800 and repeats) with the
simulator's card rules, recording every answer in DIR/sim.db before
sending it (fsync'd; --sync=false leaves it to the page cache: it
survives a crash of acqsim, not of the machine). --strict makes it as strict as a real host: an original MTI of
a known identity (within --dup-window) is a duplicate transmission (94),
DE41+DE11 reused the same UTC day with another DE7 is 94, a reversal or
completion of an unknown original is 25 and forgotten, and the host sends
its own 0800 echo on every connection every --echo-every, closing one that
does not answer within --echo-timeout.

--tls-cert and --tls-key serve TLS only (1.2 at least, 1.3 preferred): a
plain client, or one that does not finish its handshake within 10 s, is
closed. --tls-client-ca also requires a client certificate issued by that
CA, as an acquirer that authenticates its merchants' hosts does.

--acs serves the issuer's access control server (3-D Secure) over HTTP:
cards whose number starts with one of --acs-ranges need a challenge, whose
one-time code is logged ("acs: challenge: one-time code"), or is
--acs-code for every challenge; POST /acs/v1/authentications and
POST /acs/v1/authentications/{id}/challenge (see package sim, ACS). A passed
challenge issues an authentication value; the host declines (1A) an
e-commerce authorization of a card in --acs-ranges without a valid one.

The admin API answers GET /totals, /totals/days, /stats, /fault, /ledger
({"records": [...]}: every identity, declines and tombstones included,
with how often it was asked) and /healthz with JSON, and GET
/settlement?day=YYYYMMDD (or ?from=RFC3339&to=RFC3339) with the
settlement CSV; PUT /fault sets a fault (see acqsim fault) and POST
/disconnect closes every connection once. Stops cleanly on SIGINT or
SIGTERM.

`
}

func (c *serveCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var (
		listen   = fs.String("listen", "127.0.0.1:9583", "ISO 8583 listen address")
		dataDir  = fs.String("data", "", "data directory (required): holds sim.db")
		latency  = fs.String("latency", "0-5ms", "answer latency: fixed (2ms) or a uniform range (0-5ms)")
		admin    = fs.String("admin", "127.0.0.1:9584", "admin HTTP address (empty: none)")
		bitmap   = fs.String("bitmap", "binary", "bitmap encoding: binary or hex")
		header   = fs.String("header", "binary2", "frame length header: binary2 or ascii4")
		maxFrame = fs.Int("max-frame", wire.DefaultMaxFrame, "largest accepted payload in bytes")
		logLevel = fs.String("log-level", "info", "debug, info, warn or error")
		strict   = fs.Bool("strict", false, "behave as strictly as a real host (94 for duplicates and STAN reuse, 25 for unknown originals, host echoes)")
		dupWin   = fs.Duration("dup-window", sim.DefaultDupWindow, "--strict: how long an identity is remembered for duplicate detection")
		echoEach = fs.Duration("echo-every", sim.DefaultEchoEvery, "--strict: interval of the host's own echo on each connection")
		echoWait = fs.Duration("echo-timeout", sim.DefaultEchoTimeout, "--strict: close a connection that leaves the host's echo unanswered this long")
		tlsCert  = fs.String("tls-cert", "", "serve ISO 8583 over TLS only, with this certificate (PEM; with --tls-key)")
		tlsKey   = fs.String("tls-key", "", "the key of --tls-cert (PEM)")
		clientCA = fs.String("tls-client-ca", "", "with --tls-cert: require client certificates issued by this CA (PEM)")
		acsAddr  = fs.String("acs", "", "serve the issuer ACS (3-D Secure cardholder authentication) on this HTTP address (empty: none)")
		acsBINs  = fs.String("acs-ranges", "400000", "--acs: comma-separated card number prefixes that need a challenge")
		acsCode  = fs.String("acs-code", "", "--acs: every challenge's code (empty: a random 6-digit code per challenge, logged)")
		sync     = fs.Bool("sync", true, "fsync each ledger commit; false: an answer survives a crash of acqsim, not of the machine (load tests)")
	)
	fs.Usage = func() { fmt.Fprint(os.Stderr, c.Usage()); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dataDir == "" || fs.NArg() > 0 {
		return errUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	lat, err := sim.ParseLatency(*latency)
	if err != nil {
		return fmt.Errorf("--latency: %w", err)
	}
	dialect, err := parseDialect(*bitmap, *header, *maxFrame)
	if err != nil {
		return err
	}

	tc, err := serverTLS(*tlsCert, *tlsKey, *clientCA)
	if err != nil {
		return err
	}

	acs, err := newACS(*acsAddr, *acsBINs, *acsCode, log)
	if err != nil {
		return err
	}

	cli.TuneServerGC()
	s, err := sim.Open(sim.Config{Addr: *listen, DataDir: *dataDir, Latency: lat, Dialect: dialect, Logger: log,
		Strict: *strict, StrictConfig: sim.StrictConfig{DupWindow: *dupWin, EchoEvery: *echoEach, EchoTimeout: *echoWait},
		TLS: tc, ACS: acs, NoSync: !*sync})
	if err != nil {
		return err
	}
	var srv *http.Server
	adminAddr := ""
	if *admin != "" {
		ln, err := net.Listen("tcp", *admin)
		if err != nil {
			s.Close()
			return fmt.Errorf("--admin: %w", err)
		}
		adminAddr = ln.Addr().String()
		srv = &http.Server{Handler: adminHandler(s, log), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("admin server", "err", err)
			}
		}()
		log.Info("admin API listening", "addr", adminAddr)
	}
	acsSrv, err := serveACS(*acsAddr, acs, log)
	if err != nil {
		if srv != nil {
			srv.Close()
		}
		s.Close()
		return err
	}
	if c.ready != nil {
		c.ready(s.Addr(), adminAddr)
	}
	<-ctx.Done()
	log.Info("stopping")
	// The admin API goes first: it reads the ledger, which closes with
	// the simulator.
	if srv != nil {
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutCtx)
	}
	if acsSrv != nil {
		acsSrv.Close()
	}
	return s.Close()
}

// newACS is the issuer ACS of --acs (nil without one): the host checks
// the authentication values it issues.
func newACS(addr, ranges, code string, log *slog.Logger) (*sim.ACS, error) {
	if addr == "" {
		return nil, nil
	}
	bins, err := sim.ParseRanges(ranges)
	if err != nil {
		return nil, fmt.Errorf("--acs-ranges: %w", err)
	}
	return sim.NewACS(sim.ACSConfig{Ranges: bins, Code: code, Logger: log}), nil
}

// serveACS serves acs on addr (nil without one).
func serveACS(addr string, acs *sim.ACS, log *slog.Logger) (*http.Server, error) {
	if acs == nil {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--acs: %w", err)
	}
	srv := &http.Server{Handler: acs.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("acs server", "err", err)
		}
	}()
	log.Info("issuer ACS listening", "addr", ln.Addr().String())
	return srv, nil
}

// serverTLS is the TLS of the ISO 8583 listener: nil without --tls-cert.
func serverTLS(cert, key, clientCA string) (*tls.Config, error) {
	if cert == "" && key == "" {
		if clientCA != "" {
			return nil, fmt.Errorf("%w: --tls-client-ca needs --tls-cert and --tls-key", errUsage)
		}
		return nil, nil
	}
	tc, err := tlsconf.Server{CertFile: cert, KeyFile: key, ClientCAFile: clientCA}.Config()
	if err != nil {
		return nil, fmt.Errorf("--tls-cert, --tls-key, --tls-client-ca: %w", err)
	}
	return tc, nil
}

func parseDialect(bitmap, header string, maxFrame int) (wire.Dialect, error) {
	d := wire.DefaultDialect()
	switch bitmap {
	case "binary":
	case "hex":
		d.Bitmap = wire.BitmapHex
	default:
		return d, fmt.Errorf("--bitmap %q: want binary or hex", bitmap)
	}
	switch header {
	case "binary2":
	case "ascii4":
		d.Header = wire.HeaderASCII4
	default:
		return d, fmt.Errorf("--header %q: want binary2 or ascii4", header)
	}
	d.MaxFrame = maxFrame
	if err := d.Validate(); err != nil {
		return d, fmt.Errorf("dialect: %w", err)
	}
	return d, nil
}

// adminHandler serves the admin API: read-only but for the faults.
func adminHandler(s *sim.Sim, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, log, map[string]string{"status": "ok"}, nil)
	})
	mux.HandleFunc("GET /totals", func(w http.ResponseWriter, _ *http.Request) {
		t, err := s.Totals()
		writeJSON(w, log, t, err)
	})
	mux.HandleFunc("GET /totals/days", func(w http.ResponseWriter, _ *http.Request) {
		d, err := s.TotalsByDay()
		writeJSON(w, log, d, err)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, log, s.Stats(), nil)
	})
	mux.HandleFunc("GET /ledger", func(w http.ResponseWriter, _ *http.Request) {
		recs, err := s.Ledger()
		writeCompactJSON(w, log, ledgerJSON{Records: recs}, err)
	})
	settlementHandler(mux, s, log)
	faultHandlers(mux, s, log)
	// Profiles, as a node's admin API has them: acqsim shares the box
	// with the cluster under tillbench, and its CPU per transaction is
	// one of the figures tillbench prints.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	return mux
}

// ledgerJSON is the body of GET /ledger.
type ledgerJSON struct {
	Records []sim.LedgerRecord `json:"records"`
}

func writeJSON(w http.ResponseWriter, log *slog.Logger, v any, err error) {
	encodeJSON(w, log, v, err, "  ")
}

// writeCompactJSON is writeJSON without indentation, for bodies of a
// record per transaction (the ledger of a benchmark holds millions).
func writeCompactJSON(w http.ResponseWriter, log *slog.Logger, v any, err error) {
	encodeJSON(w, log, v, err, "")
}

// encodeJSON writes v, or a 500 with err.
func encodeJSON(w http.ResponseWriter, log *slog.Logger, v any, err error, indent string) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		log.Error("admin request", "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		v = map[string]string{"error": err.Error()}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", indent)
	enc.Encode(v)
}
