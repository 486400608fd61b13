package payments

import (
	"crypto/subtle"
	"html/template"
	"net/http"
	"strings"

	"github.com/tillgate/tillgate/store"
)

// The customer's pages (a payment link's page, the challenge page): HTML
// rendered on the server, with their style inline and no script, so that
// they work without JavaScript and load nothing from elsewhere. Every form
// carries a CSRF token that must equal the one in a SameSite=Strict
// cookie (a double submit: no server state, so it survives a failover).

// page is what the template shows; the empty parts are left out.
type page struct {
	Title       string
	Merchant    string
	Description string
	Amount      string
	Notice      string // information
	Error       string // what went wrong, what to do
	Action      string // a link to go on: its href and text
	ActionText  string
	Pay         *payForm
	Challenge   *challengeForm
	Receipt     *receiptView
}

type payForm struct {
	CSRF, Attempt string
}

type challengeForm struct {
	CSRF, Card, AttemptsNote string
}

type receiptView struct {
	Rows  [][2]string
	Email string
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}
main{max-width:28rem;margin:2.5rem auto;background:#fff;border-radius:10px;box-shadow:0 1px 4px rgba(0,0,0,.12);padding:1.75rem 2rem}
h1{font-size:1.3rem;margin:0 0 1rem}
.merchant{font-size:.95rem;color:#5a6272;margin:0 0 .25rem}
.amount{font-size:2rem;font-weight:600;margin:.25rem 0 .25rem}
.desc{margin:0 0 1.25rem;color:#333}
label{display:block;font-size:.9rem;font-weight:600;margin:.9rem 0 .3rem}
input[type=text]{width:100%;box-sizing:border-box;font-size:1.05rem;padding:.55rem .6rem;border:1px solid #b8bfcc;border-radius:6px}
.row{display:flex;gap:1rem}.row>div{flex:1}
button,a.button{display:inline-block;margin-top:1.4rem;width:100%;box-sizing:border-box;text-align:center;font-size:1.05rem;font-weight:600;padding:.7rem;border:0;border-radius:6px;background:#1f5fd6;color:#fff;text-decoration:none;cursor:pointer}
.notice{background:#eef4ff;border:1px solid #b9cdf5;border-radius:6px;padding:.7rem .8rem;margin:.8rem 0}
.error{background:#fdecec;border:1px solid #f0b4b4;border-radius:6px;padding:.7rem .8rem;margin:.8rem 0;color:#8a1f1f}
table{border-collapse:collapse;width:100%;margin-top:.5rem}td{padding:.35rem 0;border-bottom:1px solid #eceef2;font-size:.95rem;vertical-align:top}
td:first-child{color:#5a6272;width:40%}td+td{word-break:break-all}
.foot{font-size:.8rem;color:#7a8190;margin-top:1.5rem}
</style></head><body><main>
<h1>{{.Title}}</h1>
{{if .Merchant}}<p class="merchant">{{.Merchant}}</p>{{end}}
{{if .Amount}}<p class="amount" id="amount">{{.Amount}}</p>{{end}}
{{if .Description}}<p class="desc" id="description">{{.Description}}</p>{{end}}
{{if .Notice}}<p class="notice" id="notice">{{.Notice}}</p>{{end}}
{{if .Error}}<p class="error" id="error" role="alert">{{.Error}}</p>{{end}}
{{with .Receipt}}<table id="receipt">{{range .Rows}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>{{end}}</table>
{{if .Email}}<p class="foot">A copy of this receipt will be e-mailed to {{.Email}}.</p>{{end}}{{end}}
{{with .Pay}}<form method="post" autocomplete="off">
<input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="attempt" value="{{.Attempt}}">
<label for="card_number">Card number</label>
<input type="text" id="card_number" name="card_number" inputmode="numeric" autocomplete="cc-number" required maxlength="23">
<div class="row"><div><label for="expiry">Expiry (MM/YY)</label>
<input type="text" id="expiry" name="expiry" autocomplete="cc-exp" placeholder="MM/YY" required maxlength="5"></div>
<div><label for="cvc">CVC</label>
<input type="text" id="cvc" name="cvc" inputmode="numeric" autocomplete="cc-csc" required maxlength="4"></div></div>
<button type="submit">Pay</button>
</form>{{end}}
{{with .Challenge}}<p>Your bank asks you to confirm this payment with card {{.Card}}. Enter the code it sent you.</p>
{{if .AttemptsNote}}<p class="foot">{{.AttemptsNote}}</p>{{end}}
<form method="post" autocomplete="off">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="code">Verification code</label>
<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required maxlength="8">
<button type="submit">Verify</button>
</form>{{end}}
{{if .Action}}<a class="button" id="action" href="{{.Action}}">{{.ActionText}}</a>{{end}}
<p class="foot">Payment page served by tillgate: the merchant never sees your card details.</p>
</main></body></html>
`))

// render writes p with status code and the headers that keep the page to
// itself: nothing loads from elsewhere, no framing, no caching, no
// referrer (the URL carries the link's token).
func (s *Server) render(w http.ResponseWriter, code int, name string, p *page) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(code)
	if err := pageTemplate.Execute(w, p); err != nil {
		s.log.Error("payments: page", "page", name, "err", err)
	}
	s.metrics.pages.WithLabelValues(name, http.StatusText(code)).Inc()
}

// csrfCookie holds the double-submit token of the customer's forms.
const csrfCookie = "tillgate_csrf"

// csrfToken is the browser's token (set now if it has none).
func csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 32 && strings.Trim(c.Value, "0123456789abcdef") == "" {
		return c.Value
	}
	t := randomToken()
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: t, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	return t
}

// csrfOK reports a form whose token matches the browser's cookie: a form
// another site made the browser post has neither.
func csrfOK(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	return err == nil && c.Value != "" && subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) == 1
}

// parseForm reads a small urlencoded form.
func parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	return r.ParseForm() == nil
}

// declineText says in the customer's words why a payment was declined.
func declineText(v *PaymentView) string {
	if a := v.Authentication; a != nil && a.Status == store.AuthFailed.String() {
		if a.Reason != "" {
			return "your bank could not confirm it was you (" + a.Reason + ")"
		}
		return "your bank could not confirm it was you"
	}
	switch v.DeclineCode {
	case "51":
		return "insufficient funds"
	case "54":
		return "the card has expired"
	case "N7":
		return "the security code (CVC) is not right"
	case "14":
		return "the card number is not valid"
	case "05":
		return "the card issuer did not approve it"
	}
	return "the card issuer declined it (code " + v.DeclineCode + ")"
}

// cardText is how the pages name a card.
func cardText(p *store.Payment) string {
	return strings.ToUpper(p.Brand) + " ending " + p.Last4
}
