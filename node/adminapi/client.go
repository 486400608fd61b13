package adminapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tillgate/tillgate/internal/tlsconf"
)

// Client talks to one node's admin API.
type Client struct {
	// Base is the node's admin URL, e.g. "http://127.0.0.1:9101".
	Base string
	// Token is sent as a bearer token when set.
	Token string
	// HTTP defaults to a client with a 10 s timeout. Backup does not use
	// the timeout: a backup takes as long as the state is big.
	HTTP *http.Client
}

// NewClient returns a client for the node whose admin API listens on addr
// (host:port or a URL).
func NewClient(addr string) *Client {
	base := strings.TrimRight(addr, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		base = "http://" + base
	}
	return &Client{Base: base, HTTP: &http.Client{Timeout: 10 * time.Second}}
}

// TLSConfig is the client side of admin APIs served over HTTPS whose
// certificates are issued by a CA of caFile (PEM); TLS 1.2 at least.
func TLSConfig(caFile string) (*tls.Config, error) {
	tc, err := tlsconf.Client{CAFile: caFile}.Config()
	if err != nil {
		return nil, fmt.Errorf("adminapi: --cacert: %w", err)
	}
	return tc, nil
}

// NewTLSClient is NewClient for a node whose admin API serves HTTPS: an
// address without a scheme means https://, and the node's certificate is
// verified with tc (TLSConfig; nil: the system's roots).
func NewTLSClient(addr string, tc *tls.Config) *Client {
	if !strings.Contains(addr, "://") {
		addr = "https://" + addr
	}
	c := NewClient(addr)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	c.HTTP.Transport = tr
	return c
}

// APIError is a non-2xx answer of a node.
type APIError struct {
	Node         string // the node's admin URL
	Method, Path string
	StatusCode   int
	Body         Error
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("node %s: %s %s: %d %s", e.Node, e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body.Error != "" {
		msg += ": " + e.Body.Error
	}
	if e.Body.Hint != "" {
		msg += " (" + e.Body.Hint + ")"
	}
	return msg
}

// NotLeader reports whether the node refused a write because it is not the
// leader; LeaderID then names the leader, if the node knows one.
func (e *APIError) NotLeader() bool { return e.StatusCode == http.StatusMisdirectedRequest }

// NotYet reports an answer that may change by itself (409): the day is not
// settled yet, or this node has not applied the record asked for yet.
// Retrying later is the fix.
func (e *APIError) NotYet() bool { return e.StatusCode == http.StatusConflict }

// IsNotYet reports whether err is an APIError that NotYet.
func IsNotYet(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.NotYet()
}

// UnreachableError: the request got no HTTP answer (refused, reset, timed
// out). Whether a write took effect is then unknown; reads can go to
// another node.
type UnreachableError struct {
	Node         string
	Method, Path string
	Err          error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("node %s: %s %s: no answer: %v (%s)", e.Node, e.Method, e.Path, e.Err, e.hint())
}

// hint says what to check: the certificate when TLS failed, else the
// address.
func (e *UnreachableError) hint() string {
	if strings.Contains(e.Err.Error(), "server gave HTTP response to HTTPS client") {
		return "the node serves plain HTTP: use an http:// address, or give the node admin_cert_file and admin_key_file"
	}
	switch tlsconf.Reason(e.Err) {
	case tlsconf.ReasonUnknownAuthority:
		return "the node's certificate is not issued by a CA of --cacert: check --cacert"
	case tlsconf.ReasonServerName:
		return "the node's certificate is not for this address: use a name or IP address it was issued for"
	case tlsconf.ReasonExpired:
		return "the node's certificate is expired or not valid yet: renew it, or check the clock"
	case tlsconf.ReasonBadCertificate:
		return "the node's certificate cannot be used for a TLS server"
	}
	return "is the node running, and is this its admin_addr?"
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Status fetches GET /status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	return s, c.do(ctx, http.MethodGet, "/status", nil, &s)
}

// Leaders returns every (term, leader) the node has seen.
func (c *Client) Leaders(ctx context.Context) (Leaders, error) {
	var l Leaders
	return l, c.do(ctx, http.MethodGet, "/leaders", nil, &l)
}

// Totals fetches GET /totals.
func (c *Client) Totals(ctx context.Context) (Totals, error) {
	var t Totals
	return t, c.do(ctx, http.MethodGet, "/totals", nil, &t)
}

// Hash fetches GET /hash.
func (c *Client) Hash(ctx context.Context) (Hash, error) {
	var h Hash
	return h, c.do(ctx, http.MethodGet, "/hash", nil, &h)
}

// Members fetches GET /members.
func (c *Client) Members(ctx context.Context) (Members, error) {
	var m Members
	return m, c.do(ctx, http.MethodGet, "/members", nil, &m)
}

// AddMember adds a voter (POST /members). Leader only.
func (c *Client) AddMember(ctx context.Context, id, raftAddr string) (Members, error) {
	var m Members
	return m, c.do(ctx, http.MethodPost, "/members", AddMember{ID: id, RaftAddr: raftAddr}, &m)
}

// RemoveMember removes a server (DELETE /members/{id}). Leader only.
func (c *Client) RemoveMember(ctx context.Context, id string) (Members, error) {
	var m Members
	return m, c.do(ctx, http.MethodDelete, "/members/"+url.PathEscape(id), nil, &m)
}

// TransferLeader hands leadership to another voter (POST /leader/transfer).
// Leader only.
func (c *Client) TransferLeader(ctx context.Context) (Transfer, error) {
	var t Transfer
	return t, c.do(ctx, http.MethodPost, "/leader/transfer", nil, &t)
}

// Snapshot makes the node take a Raft snapshot now (POST /snapshot).
func (c *Client) Snapshot(ctx context.Context) (Snapshot, error) {
	var s Snapshot
	return s, c.do(ctx, http.MethodPost, "/snapshot", nil, &s)
}

// Txns searches transactions (GET /txns).
func (c *Client) Txns(ctx context.Context, q TxnQuery) (TxnPage, error) {
	var p TxnPage
	path := "/txns"
	if v := q.Values().Encode(); v != "" {
		path += "?" + v
	}
	return p, c.do(ctx, http.MethodGet, path, nil, &p)
}

// Txn fetches one transaction by id (GET /txns/{id}).
func (c *Client) Txn(ctx context.Context, id string) (Txn, error) {
	var t Txn
	return t, c.do(ctx, http.MethodGet, "/txns/"+url.PathEscape(id), nil, &t)
}

// Report fetches GET /reports.
func (c *Client) Report(ctx context.Context, q ReportQuery) (Report, error) {
	var r Report
	v := url.Values{"by": {q.By}}
	setIf(v, "day", q.Day)
	setIf(v, "type", q.Type)
	return r, c.do(ctx, http.MethodGet, "/reports?"+v.Encode(), nil, &r)
}

// Metrics fetches GET /metrics (the Prometheus text format).
func (c *Client) Metrics(ctx context.Context) ([]byte, error) {
	resp, err := c.send(ctx, c.httpClient(), http.MethodGet, "/metrics", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, &UnreachableError{Node: c.Base, Method: http.MethodGet, Path: "/metrics", Err: err}
	}
	return b, nil
}

// Backup streams a consistent copy of the node's state (a bbolt file, GET
// /backup) into w and returns the bytes written.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.send(ctx, c.untimed(), http.MethodGet, "/backup", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("node %s: GET /backup: stream broken after %d bytes: %w (the copy is incomplete: run the backup again)", c.Base, n, err)
	}
	return n, nil
}

// Values is the query as URL parameters.
func (q TxnQuery) Values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{
		"terminal": q.Terminal, "merchant": q.Merchant, "day": q.Day, "status": q.Status, "rc": q.RC,
		"rrn": q.RRN, "auth_code": q.AuthCode, "bin": q.BIN, "last4": q.Last4, "acquirer": q.Acquirer,
		"cursor": q.Cursor,
	} {
		setIf(v, k, s)
	}
	if q.MinAmount != nil {
		v.Set("min_amount", strconv.FormatInt(*q.MinAmount, 10))
	}
	if q.MaxAmount != nil {
		v.Set("max_amount", strconv.FormatInt(*q.MaxAmount, 10))
	}
	if !q.From.IsZero() {
		v.Set("from", q.From.Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.Format(time.RFC3339Nano))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

func setIf(v url.Values, k, s string) {
	if s != "" {
		v.Set(k, s)
	}
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP == nil {
		return http.DefaultClient
	}
	return c.HTTP
}

// do sends body (as JSON, if not nil) and decodes a 2xx answer into out.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, c.httpClient(), method, path, body)
	if err != nil {
		return err
	}
	return c.decode(resp, out)
}

// decode reads a 2xx response's JSON body into out and closes it.
func (c *Client) decode(resp *http.Response, out any) error {
	defer resp.Body.Close()
	method, path := resp.Request.Method, resp.Request.URL.Path
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return &UnreachableError{Node: c.Base, Method: method, Path: path, Err: fmt.Errorf("read answer: %w", err)}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("node %s: %s %s: decode answer: %w (is this a tillgate admin port of the same version?)", c.Base, method, path, err)
	}
	return nil
}

// send returns a 2xx response whose body the caller must close; any other
// answer becomes an *APIError, no answer an *UnreachableError.
func (c *Client) send(ctx context.Context, hc *http.Client, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("adminapi: %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("adminapi: %s %s%s: %w", method, c.Base, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.exec(hc, req)
}

// exec sends req with the token; see send.
func (c *Client) exec(hc *http.Client, req *http.Request) (*http.Response, error) {
	ctx, method, path := req.Context(), req.Method, req.URL.Path
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, fmt.Errorf("node %s: %s %s: %w", c.Base, method, path, ctx.Err())
		}
		return nil, &UnreachableError{Node: c.Base, Method: method, Path: path, Err: err}
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	e := &APIError{Node: c.Base, Method: method, Path: path, StatusCode: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if json.Unmarshal(b, &e.Body) != nil || e.Body.Error == "" {
		e.Body = Error{Error: strings.TrimSpace(string(b))}
	}
	if strings.Contains(e.Body.Error, "HTTP request to an HTTPS server") {
		e.Body.Hint = "the node serves HTTPS: use an https:// address, or --cacert with its CA"
	}
	return nil, e
}

// AddMerchant records a card-not-present merchant (a write: the leader).
func (c *Client) AddMerchant(ctx context.Context, m MerchantAdd) (Merchant, error) {
	var r Merchant
	return r, c.do(ctx, http.MethodPost, "/merchants", m, &r)
}

// SetMerchantWebhook sets (URL "": removes) a merchant's webhook (a
// write: the leader).
func (c *Client) SetMerchantWebhook(ctx context.Context, id string, h MerchantWebhook) (Merchant, error) {
	var r Merchant
	return r, c.do(ctx, http.MethodPost, "/merchants/"+url.PathEscape(id)+"/webhook", h, &r)
}

// Merchants lists the card-not-present merchants.
func (c *Client) Merchants(ctx context.Context) (Merchants, error) {
	var r Merchants
	return r, c.do(ctx, http.MethodGet, "/merchants", nil, &r)
}
