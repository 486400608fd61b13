package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestMerchantWebhook: a merchant added, its webhook set with a made
// secret (printed once, never listed), listed, refused for a bad URL,
// removed.
func TestMerchantWebhook(t *testing.T) {
	cl := startCluster(t, 1)
	ctl := func(args ...string) (string, string, int) {
		return tillctl(append(args, "--endpoints", cl.Configs[0].AdminAddr, "--token", "tok")...)
	}
	if out, errs, code := ctl("merchant", "add", "shop", "--key", "k-0123456789"); code != 0 {
		t.Fatalf("merchant add: %d %s %s", code, out, errs)
	}
	out, errs, code := ctl("merchant", "webhook", "shop", "https://shop.example/hooks", "-o", "json")
	var set struct {
		Webhook string `json:"webhook"`
		Secret  string `json:"webhook_secret"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &set) != nil || set.Webhook != "https://shop.example/hooks" || !strings.HasPrefix(set.Secret, "whsec_") {
		t.Fatalf("merchant webhook: %d %s %s", code, out, errs)
	}
	if out, _, code = ctl("merchant", "list"); code != 0 || !strings.Contains(out, "https://shop.example/hooks") || strings.Contains(out, set.Secret) {
		t.Fatalf("merchant list: %d\n%s", code, out)
	}
	if _, errs, code = ctl("merchant", "webhook", "shop", "ftp://shop.example/hooks"); code == 0 || !strings.Contains(errs, "url") {
		t.Fatalf("a bad URL: %d %s", code, errs)
	}
	if _, errs, code = ctl("merchant", "webhook", "nobody", "https://x.example/h"); code == 0 || !strings.Contains(errs, "404") {
		t.Fatalf("no such merchant: %d %s", code, errs)
	}
	if out, errs, code = ctl("merchant", "webhook", "shop", "off"); code != 0 {
		t.Fatalf("webhook off: %d %s %s", code, out, errs)
	}
	if out, _, _ = ctl("merchant", "list"); strings.Contains(out, "shop.example") {
		t.Fatalf("webhook still listed after off:\n%s", out)
	}
}
