package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

const globalsUsage = `  --endpoints A,B,C   admin addresses (host:port or URL); else $TILLCTL_ENDPOINTS, else the
                      config file, else 127.0.0.1:9101
  --token T           bearer token; else $TILLCTL_TOKEN, else the config file's token or token_file
  --cacert FILE       CA certificate (PEM) of the nodes' HTTPS admin API: endpoints without a
                      scheme are then https://; else $TILLCTL_CACERT, else the config file's cacert
  --config FILE       JSON {"endpoints": [...], "token": "...", "token_file": "...", "cacert": "..."}
                      (default ~/.config/tillctl.json, used when present)
  -o table|json       output: tables for people (default), JSON for scripts
  --timeout D         per request (default 10s)
`

// globals are the flags every command takes, and where it writes.
type globals struct {
	out       io.Writer
	endpoints string
	token     string
	cacert    string
	config    string
	output    string
	timeout   time.Duration
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.endpoints, "endpoints", "", "comma-separated admin addresses")
	fs.StringVar(&g.token, "token", "", "admin bearer token")
	fs.StringVar(&g.cacert, "cacert", "", "CA certificate of the admin API's HTTPS")
	fs.StringVar(&g.config, "config", "", "config file")
	fs.StringVar(&g.output, "o", "table", "output: table or json")
	fs.DurationVar(&g.timeout, "timeout", 10*time.Second, "per request")
}

// parse parses flags and positional arguments in any order.
func (g *globals) parse(name string, args []string, extra func(*flag.FlagSet)) ([]string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.register(fs)
	if extra != nil {
		extra(fs)
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if g.output != "table" && g.output != "json" {
		return nil, usagef("-o %q: want table or json", g.output)
	}
	return pos, nil
}

// fileConfig is the config file.
type fileConfig struct {
	Endpoints []string `json:"endpoints"`
	Token     string   `json:"token"`
	TokenFile string   `json:"token_file"`
	CACert    string   `json:"cacert"`
}

// pool resolves endpoints and token: flag, then environment, then file.
func (g *globals) pool() (*pool, error) {
	fc, err := g.loadConfig()
	if err != nil {
		return nil, err
	}
	eps := splitList(g.endpoints)
	if len(eps) == 0 {
		eps = splitList(os.Getenv("TILLCTL_ENDPOINTS"))
	}
	if len(eps) == 0 {
		eps = fc.Endpoints
	}
	if len(eps) == 0 {
		eps = []string{"127.0.0.1:9101"}
	}
	tok := firstNonEmpty(g.token, os.Getenv("TILLCTL_TOKEN"), fc.Token)
	if tok == "" && fc.TokenFile != "" {
		b, err := os.ReadFile(fc.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("config token_file: %w", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	var tc *tls.Config
	if ca := firstNonEmpty(g.cacert, os.Getenv("TILLCTL_CACERT"), fc.CACert); ca != "" {
		if tc, err = adminapi.TLSConfig(ca); err != nil {
			return nil, err
		}
	}
	p := &pool{}
	for _, e := range eps {
		c := adminapi.NewClient(e)
		if tc != nil {
			c = adminapi.NewTLSClient(e, tc)
		}
		c.Token = tok
		c.HTTP.Timeout = g.timeout
		p.clients = append(p.clients, c)
	}
	return p, nil
}

// loadConfig reads --config, or the default file if it exists.
func (g *globals) loadConfig() (fileConfig, error) {
	var fc fileConfig
	path := g.config
	if path == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return fc, nil
		}
		path = filepath.Join(dir, "tillctl.json")
		if _, err := os.Stat(path); err != nil {
			return fc, nil
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fc, fmt.Errorf("config: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		return fc, fmt.Errorf("config %s: %w (want {\"endpoints\": [...], \"token\": \"...\", \"cacert\": \"...\"})", path, err)
	}
	return fc, nil
}

func (g *globals) json(v any) error {
	enc := json.NewEncoder(g.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// pool is the endpoints, in the order given.
type pool struct {
	clients []*adminapi.Client
}

// read runs fn on the first endpoint that answers; unreachable ones are
// skipped.
func (p *pool) read(ctx context.Context, fn func(*adminapi.Client) error) error {
	var errs []error
	for _, c := range p.clients {
		err := fn(c)
		var ue *adminapi.UnreachableError
		if !errors.As(err, &ue) {
			return err
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("no endpoint answered; check that the nodes run and that --endpoints lists their admin addresses:\n  %w", joinLines(errs))
}

// write runs fn like read and, when the node answering is not the leader,
// once more on the endpoint that is.
func (p *pool) write(ctx context.Context, fn func(*adminapi.Client) error) error {
	var leaderID string
	err := p.read(ctx, func(c *adminapi.Client) error {
		err := fn(c)
		var ae *adminapi.APIError
		if errors.As(err, &ae) && ae.NotLeader() && ae.Body.LeaderID != "" {
			leaderID = ae.Body.LeaderID
		}
		return err
	})
	if leaderID == "" {
		return err
	}
	leader := p.find(ctx, leaderID)
	if leader == nil {
		return fmt.Errorf("%w\nnone of the endpoints is the leader %s: add its admin address to --endpoints", err, leaderID)
	}
	return fn(leader)
}

// standby returns the first endpoint whose node answers and is not the
// leader, or nil.
func (p *pool) standby(ctx context.Context) *adminapi.Client {
	for _, c := range p.clients {
		if st, err := c.Status(ctx); err == nil && st.Role != "leader" && st.LeaderID != "" {
			return c
		}
	}
	return nil
}

// find returns the endpoint whose node has id, or nil.
func (p *pool) find(ctx context.Context, id string) *adminapi.Client {
	for _, c := range p.clients {
		if st, err := c.Status(ctx); err == nil && st.ID == id {
			return c
		}
	}
	return nil
}

func joinLines(errs []error) error {
	var b strings.Builder
	for i, e := range errs {
		if i > 0 {
			b.WriteString("\n  ")
		}
		b.WriteString(e.Error())
	}
	return errors.New(b.String())
}
