package payments

import (
	"net/http"
	"strings"
	"time"

	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// Payment statuses. A payment's status is derived from its cardholder
// authentication and what its transactions came to.
const (
	// StatusRequiresAuthentication: the issuer wants the cardholder to
	// pass a challenge (authentication.challenge_url) before the payment
	// is authorized.
	StatusRequiresAuthentication = "requires_authentication"
	StatusPending                = "pending" // the authorization's outcome is not known yet: retry the call
	StatusAuthorized             = "authorized"
	StatusCaptured               = "captured"
	StatusDeclined               = "declined"
	StatusVoided                 = "voided"
	StatusRefunded               = "refunded" // refunds took back everything captured
)

var statuses = map[string]bool{StatusRequiresAuthentication: true, StatusPending: true, StatusAuthorized: true, StatusCaptured: true,
	StatusDeclined: true, StatusVoided: true, StatusRefunded: true}

// PaymentView is the API's payment object.
type PaymentView struct {
	ID             string     `json:"id"`
	Status         string     `json:"status"`
	Amount         int64      `json:"amount"`
	Currency       string     `json:"currency"`
	Capture        string     `json:"capture"`
	OrderID        string     `json:"order_id"`
	Description    string     `json:"description,omitempty"`
	AuthCode       string     `json:"auth_code,omitempty"`
	DeclineCode    string     `json:"decline_code,omitempty"` // the ISO 8583 response code of a decline
	CreatedAt      string     `json:"created_at"`
	Card           CardView   `json:"card"`
	AmountCaptured int64      `json:"amount_captured"`
	AmountRefunded int64      `json:"amount_refunded"`
	Steps          []StepView `json:"transactions"`
	Terminal       string     `json:"terminal"` // the merchant's virtual terminal (DE41)
	// Authentication is the cardholder authentication (3-D Secure); absent
	// when no issuer ACS is configured.
	Authentication *AuthView `json:"authentication,omitempty"`
	Link           string    `json:"link,omitempty"` // the payment link it pays
}

// AuthView is a payment's cardholder authentication.
type AuthView struct {
	// Status: not_required (frictionless), pending (the challenge waits for
	// the cardholder), authenticated, failed.
	Status string `json:"status"`
	// ChallengeURL is the page where the cardholder passes the challenge
	// (while pending): the shop sends its customer there.
	ChallengeURL string `json:"challenge_url,omitempty"`
	Reason       string `json:"reason,omitempty"` // why it failed
}

// CardView is what the API shows of a card.
type CardView struct {
	Last4 string `json:"last4"`
	Brand string `json:"brand"`
}

// StepView is one ISO 8583 transaction of a payment.
type StepView struct {
	Type      string `json:"type"` // authorization, capture, void, refund
	Amount    int64  `json:"amount"`
	Status    string `json:"status"` // pending, approved, declined
	RC        string `json:"response_code,omitempty"`
	AuthCode  string `json:"auth_code,omitempty"`
	ID        string `json:"id"` // the transaction's identity: terminal + STAN + DE7
	CreatedAt string `json:"created_at"`
}

// stepState is where one step's transaction stands.
type stepState struct {
	st       store.Status // 0: no INTENT recorded yet
	rc, auth string
}

func (s stepState) approved() bool { return s.st == store.StatusApproved }

// final reports an outcome the API may show as one: approved, declined,
// or unknown (the acquirer is owed a reversal: a decline to the client).
func (s stepState) final() bool { return s.st != 0 && s.st != store.StatusPending }

// answered is a step's state from the pipeline's answer, for when this
// node's state has not applied the OUTCOME (the request was relayed).
func answered(resp *wire.Message) stepState {
	st := store.StatusDeclined
	if resp.ResponseCode == wire.RCApproved {
		st = store.StatusApproved
	}
	return stepState{st: st, rc: resp.ResponseCode, auth: resp.AuthCode}
}

// states reads the state of every step of p; fresh overrides the state
// for transactions this call has just seen answered.
func (s *Server) states(p *store.Payment, fresh map[string]stepState) ([]stepState, error) {
	out := make([]stepState, len(p.Steps))
	for i, step := range p.Steps {
		t, ok, err := s.cfg.State.Get(step.TxnID)
		if err != nil {
			return nil, err
		}
		if ok {
			out[i] = stepState{st: t.Status, rc: t.RC, auth: t.AuthCode}
		}
		if f, ok := fresh[step.TxnID]; ok && !out[i].final() {
			out[i] = f
		}
	}
	return out, nil
}

// view is p as the API shows it, given its steps' states.
func view(p *store.Payment, states []stepState) *PaymentView {
	v := &PaymentView{
		ID: p.ID, Amount: p.Amount, Currency: currencyAlpha(p.Currency), Capture: "automatic",
		OrderID: p.OrderID, Description: p.Description, CreatedAt: stamp(p.At),
		Card: CardView{Last4: p.Last4, Brand: p.Brand}, Terminal: p.Terminal, Steps: []StepView{},
	}
	if p.Manual {
		v.Capture = "manual"
	}
	v.Link = p.Link
	if p.Auth.Status != store.AuthNone {
		v.Authentication = &AuthView{Status: p.Auth.Status.String(), Reason: p.Auth.Reason}
		if p.Auth.Status == store.AuthPending {
			v.Authentication.ChallengeURL = challengePath(p)
		}
	}
	var captured, voided bool
	for i, s := range p.Steps {
		st := states[i]
		sv := StepView{Type: s.Kind.String(), Amount: s.Amount, Status: stepStatus(st), RC: st.rc, AuthCode: st.auth, ID: s.TxnID, CreatedAt: stamp(s.At)}
		v.Steps = append(v.Steps, sv)
		switch {
		case s.Kind == store.StepAuth && !p.Manual && st.approved(), s.Kind == store.StepCapture && st.approved():
			v.AmountCaptured += s.Amount
			captured = true
		case s.Kind == store.StepVoid && st.approved():
			voided = true
		case s.Kind == store.StepRefund && st.approved():
			v.AmountRefunded += s.Amount
		}
	}
	if p.Auth.Status == store.AuthFailed {
		// Nothing went to the acquirer.
		v.Steps = []StepView{}
	}
	auth := states[0]
	v.AuthCode = auth.auth
	switch {
	case p.Auth.Status == store.AuthFailed:
		v.Status, v.AuthCode = StatusDeclined, ""
	case p.Auth.Status == store.AuthPending && !auth.final():
		v.Status = StatusRequiresAuthentication
	case !auth.final():
		v.Status = StatusPending
	case voided:
		v.Status = StatusVoided
	case !auth.approved():
		v.Status, v.DeclineCode, v.AuthCode = StatusDeclined, auth.rc, ""
	case captured && v.AmountRefunded >= v.AmountCaptured:
		v.Status = StatusRefunded
	case captured:
		v.Status = StatusCaptured
	default:
		v.Status = StatusAuthorized
	}
	return v
}

func stepStatus(s stepState) string {
	switch {
	case !s.final():
		return "pending"
	case s.approved():
		return "approved"
	case s.st == store.StatusReversed:
		return "reversed"
	}
	return "declined"
}

// challengePath is the path of p's challenge page.
func challengePath(p *store.Payment) string {
	return "/challenge/" + p.ID + "/" + p.Auth.Token
}

// absolute makes v's challenge URL absolute on the address r was sent
// to (the client's, when a standby forwarded it).
func absolute(r *http.Request, v *PaymentView) {
	if a := v.Authentication; a != nil && strings.HasPrefix(a.ChallengeURL, "/") {
		a.ChallengeURL = baseURL(r) + a.ChallengeURL
	}
}

// baseURL is scheme://host the client used to reach this API.
func baseURL(r *http.Request) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if r.Header.Get(forwardedHeader) != "" {
		if h := r.Header.Get("X-Forwarded-Host"); h != "" {
			host = h
		}
		if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
			scheme = p
		}
	}
	return scheme + "://" + host
}

func stamp(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
