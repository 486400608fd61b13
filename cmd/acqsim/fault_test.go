package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/wire"
)

// TestFaultCommand sets faults on a running server with `acqsim fault` and
// over HTTP, and sees the link feel them.
func TestFaultCommand(t *testing.T) {
	a := startServe(t, t.TempDir())
	fault := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := (&faultCommand{out: &out}).Run(context.Background(), append([]string{"--admin", a.admin}, args...)); err != nil {
			t.Fatalf("fault %v: %v", args, err)
		}
		return out.String()
	}
	if out := fault("--late", "400ms", "--drop", "10"); !strings.Contains(out, `"late": "400ms"`) || !strings.Contains(out, `"drop_percent": 10`) {
		t.Fatalf("fault printed %s", out)
	}
	var got faultJSON
	getJSON(t, "http://"+a.admin+"/fault", &got)
	if got.Late != "400ms" || got.DropPercent != 10 {
		t.Fatalf("GET /fault %+v", got)
	}
	// Late answers time out a link with a shorter timeout.
	fault("--late", "400ms")
	link, err := acquirer.Open(acquirer.Config{Addr: a.iso, Dialect: wire.DefaultDialect(), Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	if _, err := link.Send(context.Background(), purchase("000001", 100)); !errors.Is(err, acquirer.ErrTimeout) {
		t.Fatalf("late answer: %v, want a timeout", err)
	}
	fault() // cleared
	got = faultJSON{}
	getJSON(t, "http://"+a.admin+"/fault", &got)
	if got != (faultJSON{}) {
		t.Fatalf("cleared fault reads %+v", got)
	}
	if err := (&faultCommand{out: &bytes.Buffer{}}).Run(context.Background(), []string{"--admin", a.admin, "--drop", "120"}); err == nil {
		t.Fatal("drop 120% accepted")
	}
	resp, err := http.DefaultClient.Do(mustReq(t, http.MethodPut, "http://"+a.admin+"/fault", `{"late":"soon"}`))
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad fault over HTTP: %v %v", resp, err)
	}
	resp.Body.Close()
	fault("--disconnect")
}

func mustReq(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}
