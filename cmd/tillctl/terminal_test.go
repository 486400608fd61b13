package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

// TestTerminalCommands: a range added in one command, listed, one of it
// blocked (its sale refused 58) and unblocked again.
func TestTerminalCommands(t *testing.T) {
	cl := startCluster(t, 3)
	var eps []string
	for _, c := range cl.Configs {
		eps = append(eps, c.AdminAddr)
	}
	ctl := func(args ...string) (string, string, int) {
		return tillctl(append(args, "--endpoints", strings.Join(eps, ","), "--token", "tok")...)
	}
	out, errs, code := ctl("terminal", "add", "SHOP0001-SHOP2000", "--merchant", "MERCHANT0000001", "--store", "shop-7")
	if code != 0 || out != "terminals added: 2000 added, 0 changed, 0 unchanged\n" {
		t.Fatalf("add: exit %d %q %s", code, out, errs)
	}
	if out, _, code = ctl("terminal", "add", "SHOP0001-SHOP2000", "--merchant", "MERCHANT0000001", "--store", "shop-7"); code != 0 || out != "terminals added: 0 added, 0 changed, 2000 unchanged\n" {
		t.Fatalf("re-add: exit %d %q", code, out)
	}
	// A read may go to a standby: wait until it has applied the add.
	var list adminapi.Terminals
	for deadline := time.Now().Add(30 * time.Second); len(list.Terminals) != 2000; time.Sleep(20 * time.Millisecond) {
		out, _, code = ctl("terminal", "list", "--store", "shop-7", "--all", "-o", "json")
		list = adminapi.Terminals{}
		if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || list.Next != "" || time.Now().After(deadline) {
			t.Fatalf("list: exit %d %v %d terminals next %q", code, err, len(list.Terminals), list.Next)
		}
	}
	if x := list.Terminals[41]; x.ID != "SHOP0042" || x.Merchant != "MERCHANT0000001" || x.Store != "shop-7" || x.Blocked {
		t.Fatalf("SHOP0042: %+v", x)
	}
	if out, errs, code = ctl("terminal", "block", "SHOP0042"); code != 0 || out != "terminals blocked: 0 added, 1 changed, 0 unchanged\n" {
		t.Fatalf("block: exit %d %q %s", code, out, errs)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out, _, _ = ctl("terminal", "list", "--store", "shop-7", "--after", "SHOP0041", "--limit", "1")
		if strings.Contains(out, " true ") || time.Now().After(deadline) {
			break
		}
	}
	if !strings.Contains(out, "SHOP0042  MERCHANT0000001  shop-7  true") || !strings.Contains(out, "more: tillctl terminal list --after SHOP0042") {
		t.Fatalf("list after block:\n%s", out)
	}
	reg := cl.Configs[0].RegisterAddr
	if rc := purchase(t, reg, "SHOP0042", 1, 1000); rc != "58" {
		t.Fatalf("sale of a blocked terminal: %s, want 58", rc)
	}
	if _, _, code = ctl("terminal", "unblock", "SHOP0040-SHOP0044"); code != 0 {
		t.Fatalf("unblock: exit %d", code)
	}
	if rc := purchase(t, reg, "SHOP0042", 2, 1000); rc != "00" {
		t.Fatalf("sale of the unblocked terminal: %s", rc)
	}
	// The terminal moves to another merchant: purchase's DE42
	// (MERCHANT0000001) is no longer its merchant.
	if out, _, code = ctl("terminal", "add", "SHOP0042", "--merchant", "MERCHANT0000007", "--store", "shop-7"); code != 0 || out != "terminals added: 0 added, 1 changed, 0 unchanged\n" {
		t.Fatalf("move: exit %d %q", code, out)
	}
	if rc := purchase(t, reg, "SHOP0042", 3, 1000); rc != "03" {
		t.Fatalf("sale with another merchant: %s, want 03", rc)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"terminal", "add", "SHOP0001"}, "needs --merchant M and --store S"},
		{[]string{"terminal", "add", "SHOP1", "--merchant", "MERCHANT0000007", "--store", "s"}, "400"},
		{[]string{"terminal", "block", "NOPE0001"}, "404"},
		{[]string{"terminal", "frob"}, "want 'terminal list'"},
	} {
		if _, errs, code := ctl(bad.args...); code == 0 || !strings.Contains(errs, bad.want) {
			t.Errorf("%v: exit %d %q, want %q", bad.args, code, errs, bad.want)
		}
	}
}
