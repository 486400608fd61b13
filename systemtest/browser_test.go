package systemtest

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// findChromium returns Debian's chromium. Under CI it installs it when
// missing; elsewhere the test is skipped with how to install it (the
// status page test in package node does the same).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "" {
		t.Skip("headless Chromium not found: install it with `apt-get install -y chromium` (Debian) to run the payment page browser test; under CI (env CI set) the test installs it")
	}
	t.Log("chromium missing: installing it with apt-get (CI is set); this can take a minute")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("installing chromium: %v\n%s", err, out)
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium installed but not on PATH: %v", err)
	}
	return p
}

// browser is headless Chromium driven over the DevTools protocol on a
// pipe (--remote-debugging-pipe: JSON messages ending in NUL on fds 3 and
// 4), so the test needs no WebSocket library. One page, one session.
type browser struct {
	t       *testing.T
	cmd     *exec.Cmd
	w       *os.File
	msgs    chan []byte
	id      int
	session string
}

func startBrowser(t *testing.T, chrome string) *browser {
	t.Helper()
	toChrome, chromeIn, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	chromeOut, fromChrome, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(chrome, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--remote-debugging-pipe", "--user-data-dir="+t.TempDir(), "--window-size=720,1000", "about:blank")
	cmd.ExtraFiles = []*os.File{toChrome, fromChrome} // fd 3: what Chromium reads; fd 4: what it writes
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	toChrome.Close()
	fromChrome.Close()
	b := &browser{t: t, cmd: cmd, w: chromeIn, msgs: make(chan []byte, 64)}
	go func() {
		r := bufio.NewReaderSize(chromeOut, 1<<20)
		for {
			m, err := r.ReadBytes(0)
			if err != nil {
				close(b.msgs)
				return
			}
			b.msgs <- m[:len(m)-1]
		}
	}()
	t.Cleanup(func() {
		chromeIn.Close()
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("chromium stderr:\n%s", stderr.String())
		}
	})
	var target struct {
		TargetID string `json:"targetId"`
	}
	b.call("Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var att struct {
		SessionID string `json:"sessionId"`
	}
	b.call("Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	b.session = att.SessionID
	b.call("Page.setBypassCSP", map[string]any{"enabled": true}, nil) // the test's own script only; the pages have none
	b.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 720, "height": 1000, "deviceScaleFactor": 1, "mobile": false}, nil)
	return b
}

// call sends one command and waits for its answer (events are dropped).
func (b *browser) call(method string, params any, out any) {
	b.t.Helper()
	b.id++
	msg := map[string]any{"id": b.id, "method": method, "params": params}
	if b.session != "" && !strings.HasPrefix(method, "Target.") {
		msg["sessionId"] = b.session
	}
	raw, _ := json.Marshal(msg)
	if _, err := b.w.Write(append(raw, 0)); err != nil {
		b.t.Fatalf("devtools %s: %v", method, err)
	}
	timeout := time.After(60 * time.Second)
	for {
		select {
		case m, ok := <-b.msgs:
			if !ok {
				b.t.Fatalf("devtools %s: chromium closed the pipe", method)
			}
			var resp struct {
				ID     int             `json:"id"`
				Result json.RawMessage `json:"result"`
				Error  *struct {
					Message string `json:"message"`
				} `json:"error"`
			}
			if json.Unmarshal(m, &resp) != nil || resp.ID != b.id {
				continue
			}
			if resp.Error != nil {
				b.t.Fatalf("devtools %s: %s", method, resp.Error.Message)
			}
			if out != nil {
				if err := json.Unmarshal(resp.Result, out); err != nil {
					b.t.Fatalf("devtools %s: %v", method, err)
				}
			}
			return
		case <-timeout:
			b.t.Fatalf("devtools %s: no answer in 60 s", method)
		}
	}
}

// eval runs JavaScript in the page and returns its value as a string.
func (b *browser) eval(js string) string {
	b.t.Helper()
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	b.call("Runtime.evaluate", map[string]any{"expression": js, "returnByValue": true}, &r)
	if r.Exception != nil {
		b.t.Fatalf("script failed: %s %s\n%s", r.Exception.Text, r.Exception.Exception.Description, js)
	}
	return fmt.Sprint(r.Result.Value)
}

func (b *browser) navigate(url string) {
	b.t.Helper()
	b.call("Page.navigate", map[string]any{"url": url}, nil)
}

// waitFor waits until the loaded page's URL contains urlPart and its text
// contains text, and returns the text.
func (b *browser) waitFor(urlPart, text string) string {
	b.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := b.eval(`document.readyState + "\n" + location.href + "\n" + (document.body ? document.body.innerText : "")`)
		parts := strings.SplitN(got, "\n", 3)
		if len(parts) == 3 && parts[0] == "complete" && strings.Contains(parts[1], urlPart) && strings.Contains(parts[2], text) {
			return parts[2]
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waiting for a page at %q showing %q; the browser is at:\n%s", urlPart, text, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fill types value into the input whose label reads exactly label.
func (b *browser) fill(label, value string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`(() => {
  const l = [...document.querySelectorAll("label")].find(x => x.textContent.trim() === %q);
  if (!l) throw new Error("no label %s");
  const i = document.getElementById(l.htmlFor);
  if (!i) throw new Error("label %s names no input");
  i.value = %q;
  return "ok";
})()`, label, label, label, value))
}

// click presses the button whose text reads exactly text.
func (b *browser) click(text string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`(() => {
  const x = [...document.querySelectorAll("button")].find(x => x.textContent.trim() === %q);
  if (!x) throw new Error("no button %s");
  x.click();
  return "ok";
})()`, text, text))
}

// screenshot saves the page as dir/name.png and returns the path.
func (b *browser) screenshot(dir, name string) string {
	b.t.Helper()
	var shot struct {
		Data string `json:"data"`
	}
	b.call("Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
	return path
}
