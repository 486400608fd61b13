package sim

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

func acsCall(t *testing.T, h http.Handler, path, body string) (int, AuthAnswer) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", path, strings.NewReader(body)))
	var a AuthAnswer
	if w.Code == 200 {
		if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
			t.Fatal(err)
		}
	}
	return w.Code, a
}

// TestACS: a card outside the ranges passes frictionless; one inside
// gets a challenge whose code is logged; wrong codes count down to a
// failure; the right code authenticates; a challenge expires.
func TestACS(t *testing.T) {
	var logs bytes.Buffer
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	acs := NewACS(ACSConfig{Ranges: []string{"400000"}, Clock: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	h := acs.Handler()
	const auth = "/acs/v1/authentications"
	if code, a := acsCall(t, h, auth, `{"pan":"4761739001010119","amount":100,"currency":"EUR","merchant":"m"}`); code != 200 || a.Status != ACSFrictionless || a.ID == "" {
		t.Fatalf("outside the range: %d %+v", code, a)
	}
	if code, _ := acsCall(t, h, auth, `{"pan":"4000000000000011"}`); code != 400 {
		t.Fatalf("a number failing Luhn: %d", code)
	}
	code, a := acsCall(t, h, auth, `{"pan":"4000000000000010","amount":100,"currency":"EUR","merchant":"m"}`)
	if code != 200 || a.Status != ACSChallenge || a.AttemptsLeft != 3 {
		t.Fatalf("in the range: %d %+v", code, a)
	}
	m := regexp.MustCompile(`one-time code.*card=400000\*+0010.* code=(\d{6})`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no code in the log:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "4000000000000010") {
		t.Fatal("the full card number is in the log")
	}
	wrong := m[1][:5] + string('0'+(m[1][5]-'0'+1)%10)
	ch := auth + "/" + a.ID + "/challenge"
	if _, r := acsCall(t, h, ch, `{"code":"`+wrong+`"}`); r.Status != ACSRetry || r.AttemptsLeft != 2 {
		t.Fatalf("wrong code: %+v", r)
	}
	if _, r := acsCall(t, h, ch, `{"code":"`+m[1]+`"}`); r.Status != ACSAuthenticated {
		t.Fatalf("right code: %+v", r)
	}
	if _, r := acsCall(t, h, ch, `{"code":"`+wrong+`"}`); r.Status != ACSAuthenticated {
		t.Fatalf("after the end, the result stays: %+v", r)
	}
	// Three wrong codes fail; an expired challenge fails.
	_, b := acsCall(t, h, auth, `{"pan":"4000000000000010"}`)
	for i, want := range []string{ACSRetry, ACSRetry, ACSFailed} {
		if _, r := acsCall(t, h, auth+"/"+b.ID+"/challenge", `{"code":"x"}`); r.Status != want {
			t.Fatalf("wrong code %d: %+v", i+1, r)
		}
	}
	_, c := acsCall(t, h, auth, `{"pan":"4000000000000010"}`)
	now = now.Add(11 * time.Minute)
	if _, r := acsCall(t, h, auth+"/"+c.ID+"/challenge", `{"code":"123456"}`); r.Status != ACSFailed || r.Reason != "the challenge expired" {
		t.Fatalf("expired: %+v", r)
	}
	if _, r := acsCall(t, h, auth+"/nope/challenge", `{"code":"123456"}`); r.Status != ACSFailed {
		t.Fatalf("unknown: %+v", r)
	}
}
