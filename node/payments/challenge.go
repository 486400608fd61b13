package payments

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/tillgate/tillgate/store"
)

// The challenge page relays the cardholder's one-time code to the
// issuer's ACS. Its URL (authentication.challenge_url of a payment that
// requires_authentication) carries the payment and an unguessable token:
// the shop sends its customer there, and a link's page goes there itself.
// When the code passes, the result is recorded and the payment is
// authorized with the card held in this node's memory since it was
// created; if the card is no longer held (another node is the active
// now, or it waited too long), the customer enters it again and the
// challenge passed counts.

// challengeOf finds the path's payment and its merchant and link, or
// renders why not.
func (s *Server) challengeOf(w http.ResponseWriter, r *http.Request) (*store.Payment, *store.Merchant, *store.Link, bool) {
	p, err := s.cfg.State.Payment(r.PathValue("id"))
	var m *store.Merchant
	var l *store.Link
	if err == nil && p != nil {
		if m, err = s.cfg.State.Merchant(p.Merchant); err == nil && p.Link != "" {
			l, err = s.cfg.State.Link(p.Link)
		}
	}
	switch {
	case err != nil:
		s.log.Error("payments: challenge page", "err", err)
		s.render(w, http.StatusServiceUnavailable, "challenge", &page{Title: "Please try again", Error: "The payment service is busy: reload this page in a moment."})
		return nil, nil, nil, false
	case p == nil || m == nil || p.Auth.Token == "" || subtle.ConstantTimeCompare([]byte(p.Auth.Token), []byte(r.PathValue("token"))) != 1:
		s.render(w, http.StatusNotFound, "challenge", &page{Title: "Verification not found", Error: "This verification page is not valid. Go back to the shop and pay again."})
		return nil, nil, nil, false
	}
	return p, m, l, true
}

func challengePage(m *store.Merchant, p *store.Payment) *page {
	return &page{Title: "Confirm your payment", Merchant: merchantName(m), Description: p.Description, Amount: money(p.Amount, p.Currency)}
}

// challengePage is GET /challenge/{id}/{token}.
func (s *Server) challengePage(w http.ResponseWriter, r *http.Request) {
	p, m, l, ok := s.challengeOf(w, r)
	if !ok {
		return
	}
	if p.Auth.Status != store.AuthPending {
		s.challengeDone(w, r, m, l, p, "")
		return
	}
	pg := challengePage(m, p)
	pg.Challenge = &challengeForm{CSRF: csrfToken(w, r), Card: cardText(p)}
	s.render(w, http.StatusOK, "challenge", pg)
}

// challengeSubmit is POST /challenge/{id}/{token} {code}.
func (s *Server) challengeSubmit(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		s.render(w, http.StatusBadRequest, "challenge", &page{Title: "Code not sent", Error: "The form could not be read: go back and try again."})
		return
	}
	p, m, l, ok := s.challengeOf(w, r)
	if !ok {
		return
	}
	if p.Auth.Status != store.AuthPending {
		s.challengeDone(w, r, m, l, p, "")
		return
	}
	pg := challengePage(m, p)
	retry := func(code int, msg string) {
		pg.Error = msg
		pg.Challenge = &challengeForm{CSRF: csrfToken(w, r), Card: cardText(p)}
		s.render(w, code, "challenge", pg)
	}
	if !csrfOK(r) {
		retry(http.StatusForbidden, "This form expired or was not sent from this page: enter the code again.")
		return
	}
	code := strings.TrimSpace(r.PostFormValue("code"))
	if !digits(code, 4, 8) {
		retry(http.StatusBadRequest, "Enter the code your bank sent you: 4 to 8 digits.")
		return
	}
	if s.acs == nil {
		retry(http.StatusServiceUnavailable, "Your bank's verification service is not reachable from here: try again in a moment.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	ans, err := s.acs.post(ctx, "/acs/v1/authentications/"+p.Auth.ACSID+"/challenge", map[string]string{"code": code})
	if err != nil {
		s.log.Warn("payments: issuer ACS unavailable", "payment", p.ID, "err", err)
		retry(http.StatusServiceUnavailable, "Your bank's verification service did not answer: try again in a moment.")
		return
	}
	var status store.AuthStatus
	switch ans.Status {
	case "retry":
		s.metrics.auth.WithLabelValues("retry").Inc()
		retry(http.StatusOK, fmt.Sprintf("That code is not right: %d attempt(s) left.", ans.AttemptsLeft))
		return
	case "authenticated":
		status = store.AuthAuthenticated
		if ans.AuthenticationValue == "" || len(ans.AuthenticationValue) > 255 || len(ans.ECI) > 2 {
			// An acquirer that checks authentication would decline the
			// authorization without the value: it is recorded as it came
			// (the acquirer has the last word), and the oddity logged.
			s.log.Warn("payments: issuer ACS authenticated without a usable authentication value", "payment", p.ID)
			ans.AuthenticationValue, ans.ECI = "", ""
		}
	case "failed":
		status = store.AuthFailed
		ans.AuthenticationValue, ans.ECI = "", ""
	default:
		s.log.Warn("payments: issuer ACS answered an unknown status", "payment", p.ID, "status", ans.Status)
		retry(http.StatusBadGateway, "Your bank's verification service gave an answer this page does not know: try again.")
		return
	}
	s.metrics.auth.WithLabelValues(ans.Status).Inc()
	res, err := s.cfg.Raft.Apply(ctx, store.PaymentAuthCmd(p.ID, status, ans.Reason, ans.AuthenticationValue, ans.ECI, s.cfg.Clock()))
	ar, ok := res.(store.Result)
	if err != nil || !ok || (ar.Err != nil && ar.Payment == nil) {
		s.log.Warn("payments: recording the challenge's result", "payment", p.ID, "err", err)
		retry(http.StatusServiceUnavailable, "Your answer could not be recorded: enter the code again.")
		return
	}
	p = ar.Payment
	s.log.Info("payments: cardholder authentication", "payment", p.ID, "result", p.Auth.Status.String())
	if p.Auth.Status != store.AuthAuthenticated {
		s.hold.drop(p.ID)
		s.challengeDone(w, r, m, l, p, "")
		return
	}
	card, held := s.hold.get(p.ID)
	if !held {
		s.challengeDone(w, r, m, l, p, "Your bank confirmed it was you, but your card details are no longer held here (the service moved to another server, or 15 minutes passed). Enter your card again to finish: the verification counts.")
		return
	}
	if l != nil {
		defer s.links.lock(l.ID)()
		if e := s.latestAttempt(p); e != nil {
			s.hold.drop(p.ID)
			s.log.Warn("payments: challenge passed for a superseded link attempt: not sent", "link", l.ID, "payment", p.ID, "code", e.body.Code)
			s.challengeDone(w, r, m, l, p, "")
			return
		}
	}
	v, e := s.execStep(ctx, p, p.Steps[0], card, false)
	if e == nil && l != nil && paidStatus(v.Status) {
		if err := s.receipts(ctx, m, l, p, v); err != nil {
			s.log.Warn("payments: receipt", "link", l.ID, "payment", p.ID, "err", err)
		}
	}
	s.challengeDone(w, r, m, l, p, "")
}

// challengeDone shows where a payment stands once its challenge is over:
// a link's payment on the link's page, an API payment here.
func (s *Server) challengeDone(w http.ResponseWriter, r *http.Request, m *store.Merchant, l *store.Link, p *store.Payment, again string) {
	if l != nil && again == "" {
		http.Redirect(w, r, "/pay/"+l.Token, http.StatusSeeOther)
		return
	}
	pg := challengePage(m, p)
	if again != "" {
		pg.Title, pg.Notice = "Verified", again
		if l != nil {
			pg.Action, pg.ActionText = "/pay/"+l.Token, "Enter your card again"
		}
		s.render(w, http.StatusOK, "challenge", pg)
		return
	}
	v, e := s.viewOf(p, nil)
	switch {
	case e != nil || v.Status == StatusPending:
		pg.Title, pg.Notice = "Payment being processed", "Your payment's outcome is not known yet: "+merchantName(m)+" will see it in a moment. You can close this page."
	case paidStatus(v.Status):
		pg.Title, pg.Notice = "Payment authorized", "Thank you: you can close this page and return to "+merchantName(m)+"."
	default:
		pg.Title, pg.Error = "Payment declined", "The payment was declined: "+declineText(v)+". Return to "+merchantName(m)+" to try again."
	}
	s.render(w, http.StatusOK, "challenge", pg)
}
