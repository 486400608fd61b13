package payments

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/tillgate/tillgate/store"
)

// linkOf finds the link of the path's token and its merchant, or renders
// why not.
func (s *Server) linkOf(w http.ResponseWriter, r *http.Request) (*store.Link, *store.Merchant, bool) {
	token := r.PathValue("token")
	var l *store.Link
	var m *store.Merchant
	var err error
	if len(token) >= 16 && len(token) <= 64 {
		if l, err = s.cfg.State.LinkByToken(token); err == nil && l != nil {
			m, err = s.cfg.State.Merchant(l.Merchant)
		}
	}
	switch {
	case err != nil:
		s.log.Error("payments: link page", "err", err)
		s.render(w, http.StatusServiceUnavailable, "pay", &page{Title: "Please try again", Error: "The payment service is busy: reload this page in a moment."})
		return nil, nil, false
	case l == nil || m == nil:
		s.render(w, http.StatusNotFound, "pay", &page{Title: "Payment link not found", Error: "This payment link is not valid. Check that you opened the whole link you were sent, or ask the shop for a new one."})
		return nil, nil, false
	}
	return l, m, true
}

// linkPage is the page of link l as it stands.
func linkPage(m *store.Merchant, l *store.Link) *page {
	return &page{Title: "Pay " + merchantName(m), Merchant: merchantName(m), Description: l.Description, Amount: money(l.Amount, l.Currency)}
}

// payPage is GET /pay/{token}: the link's payment form, or its receipt
// once paid, or why it can no longer be paid.
func (s *Server) payPage(w http.ResponseWriter, r *http.Request) {
	l, m, ok := s.linkOf(w, r)
	if !ok {
		return
	}
	st, e := s.linkState(l)
	if e != nil {
		s.render(w, http.StatusServiceUnavailable, "pay", &page{Title: "Please try again", Error: "The payment service is busy: reload this page in a moment."})
		return
	}
	p := linkPage(m, l)
	switch st.status {
	case LinkPaid:
		// The receipt is recorded here too: the node that took the
		// payment may have died before it recorded it.
		if err := s.receipts(r.Context(), m, l, st.paidBy, st.paid); err != nil {
			s.log.Warn("payments: receipt", "link", l.ID, "err", err)
		}
		p.Title = "Payment received"
		p.Notice = "Thank you: your payment to " + merchantName(m) + " is complete. This link cannot be paid again."
		p.Receipt = receiptOf(m, l, st.paidBy, st.paid)
		s.render(w, http.StatusOK, "pay", p)
		return
	case LinkExpired:
		p.Title = "Payment link expired"
		p.Error = "This payment link expired on " + time.Unix(0, l.ExpiresAt).UTC().Format("2 January 2006 15:04 UTC") + " and cannot be paid. Ask " + merchantName(m) + " for a new one."
		s.render(w, http.StatusGone, "pay", p)
		return
	}
	if last, v := st.last, st.lastV; last != nil {
		switch {
		case v.Status == StatusRequiresAuthentication && s.cfg.Clock().Sub(time.Unix(0, last.At)) < store.LinkAttemptWindow:
			p.Notice = "A payment with your " + cardText(last) + " is waiting for your bank's verification."
			p.Action, p.ActionText = challengePath(last), "Continue verification"
		case v.Status == StatusPending && last.Auth.Status == store.AuthAuthenticated && !s.sent(last):
			// The challenge passed on a node that no longer holds the card
			// (a failover, a restart, or the time ran out): the same
			// attempt again, with the card entered anew, finishes it.
			p.Notice = "Your bank confirmed it was you. Enter your card again to finish the payment: its details were not kept."
			p.Pay = &payForm{CSRF: csrfToken(w, r), Attempt: strings.TrimPrefix(last.IdemKey, "link-"+l.ID+"-")}
			s.render(w, http.StatusOK, "pay", p)
			return
		case v.Status == StatusPending && s.cfg.Clock().Sub(time.Unix(0, last.At)) < store.LinkAttemptWindow:
			p.Notice = "A payment with your " + cardText(last) + " is being processed: reload this page in a moment."
			s.render(w, http.StatusOK, "pay", p)
			return
		case v.Status == StatusDeclined:
			p.Error = "The payment with your " + cardText(last) + " was declined: " + declineText(v) + ". You can try again, or with another card."
		}
	}
	p.Pay = &payForm{CSRF: csrfToken(w, r), Attempt: randomToken()}
	s.render(w, http.StatusOK, "pay", p)
}

// paySubmit is POST /pay/{token}: pay the link with the form's card, then
// go to the challenge or back to the link's page, which shows the result
// (post, redirect, get: a reload never pays twice). The form's attempt
// is the payment's idempotency key: the same form sent again is the same
// payment.
func (s *Server) paySubmit(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		s.render(w, http.StatusBadRequest, "pay", &page{Title: "Payment not sent", Error: "The form could not be read: go back and try again."})
		return
	}
	l, m, ok := s.linkOf(w, r)
	if !ok {
		return
	}
	back := "/pay/" + l.Token
	p := linkPage(m, l)
	if !csrfOK(r) {
		p.Title, p.Error = "Payment not sent", "This form expired or was not sent from this page. Nothing was charged: reload the page and try again."
		p.Action, p.ActionText = back, "Reload the payment page"
		s.render(w, http.StatusForbidden, "pay", p)
		return
	}
	attempt := r.PostFormValue("attempt")
	if len(attempt) != 32 || strings.Trim(attempt, "0123456789abcdef") != "" {
		p.Title, p.Error = "Payment not sent", "This form is incomplete. Nothing was charged: reload the page and try again."
		p.Action, p.ActionText = back, "Reload the payment page"
		s.render(w, http.StatusBadRequest, "pay", p)
		return
	}
	if st, e := s.linkState(l); e != nil || st.status != LinkOpen {
		http.Redirect(w, r, back, http.StatusSeeOther) // the page says why
		return
	}
	amount := l.Amount
	req := PaymentRequest{Amount: &amount, Currency: l.Currency, OrderID: l.ID, Description: l.Description, Card: &Card{
		Number: r.PostFormValue("card_number"), Expiry: strings.TrimSpace(r.PostFormValue("expiry")), CVC: strings.TrimSpace(r.PostFormValue("cvc")),
	}}
	c, e := req.check(s.cfg.Clock())
	if e == nil {
		var pay *store.Payment
		var v *PaymentView
		pay, v, e = s.pay(r.Context(), m, "link-"+l.ID+"-"+attempt, c, l)
		if e == nil {
			s.afterPay(r.Context(), w, r, m, l, pay, v)
			return
		}
		switch e.body.Code {
		case "link_in_progress", "link_paid", "link_expired", "link_superseded", "outcome_unknown":
			http.Redirect(w, r, back, http.StatusSeeOther)
			return
		case "idempotency_key_reused":
			e.body.Message = "this form was already sent with another card; enter the card again"
		}
	}
	s.log.Info("payments: link payment refused", "link", l.ID, "code", e.body.Code, "param", e.body.Param)
	p.Error = "The payment was not made: " + formMessage(e.body.Message) + "."
	p.Pay = &payForm{CSRF: csrfToken(w, r), Attempt: randomToken()}
	s.render(w, e.status, "pay", p)
}

// afterPay goes on from a link payment's answer: to the challenge, or to
// the link's page (which shows the receipt, the decline, or that the
// outcome is not known yet).
func (s *Server) afterPay(ctx context.Context, w http.ResponseWriter, r *http.Request, m *store.Merchant, l *store.Link, p *store.Payment, v *PaymentView) {
	if v.Status == StatusRequiresAuthentication {
		http.Redirect(w, r, challengePath(p), http.StatusSeeOther)
		return
	}
	if paidStatus(v.Status) {
		if err := s.receipts(ctx, m, l, p, v); err != nil {
			s.log.Warn("payments: receipt", "link", l.ID, "payment", p.ID, "err", err)
		}
	}
	http.Redirect(w, r, "/pay/"+l.Token, http.StatusSeeOther)
}

// sent reports whether p's authorization reached the pipeline (its
// INTENT is recorded).
func (s *Server) sent(p *store.Payment) bool {
	_, known, err := s.cfg.State.Get(p.Steps[0].TxnID)
	return err != nil || known // unreadable: do not offer to send it again
}

// formMessage puts an API message in the form's words.
func formMessage(msg string) string {
	return strings.NewReplacer("card.number", "the card number", "card.expiry", "the expiry", "card.cvc", "the CVC").Replace(msg)
}

// receiptOf is the receipt the page shows.
func receiptOf(m *store.Merchant, l *store.Link, p *store.Payment, v *PaymentView) *receiptView {
	return &receiptView{Email: l.CustomerEmail, Rows: [][2]string{
		{"Merchant", merchantName(m)},
		{"Description", l.Description},
		{"Amount", money(p.Amount, p.Currency)},
		{"Card", cardText(p)},
		{"Authorization code", v.AuthCode},
		{"Payment", p.ID},
		{"Date", time.Unix(0, p.At).UTC().Format("2006-01-02 15:04 UTC")},
	}}
}
