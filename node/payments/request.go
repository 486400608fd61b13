package payments

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// PaymentRequest is the body of POST /v1/payments.
type PaymentRequest struct {
	Amount      *int64 `json:"amount"`   // minor units
	Currency    string `json:"currency"` // ISO 4217 alpha (EUR) or numeric (978)
	Card        *Card  `json:"card"`
	Capture     string `json:"capture"` // "automatic" (default) or "manual"
	OrderID     string `json:"order_id"`
	Description string `json:"description"`
}

// Card is the card of a payment request.
type Card struct {
	Number string `json:"number"`
	Expiry string `json:"expiry"` // MM/YY
	CVC    string `json:"cvc"`
}

// AmountRequest is the body of a capture or refund ({} or none: the whole
// amount).
type AmountRequest struct {
	Amount *int64 `json:"amount"`
}

// Limits of the request fields.
const (
	maxAmount      = 999_999_999_999 // DE4: 12 digits
	maxOrderID     = 255
	maxDescription = 1024
	maxIdemKey     = 255
)

// currencies maps the ISO 4217 codes the API takes to DE49's numeric code,
// with the minor unit digits (documentation only: amounts are minor units).
var currencies = map[string]string{
	"EUR": "978", "USD": "840", "GBP": "826", "CHF": "756", "SEK": "752", "NOK": "578",
	"DKK": "208", "PLN": "985", "CZK": "203", "HUF": "348", "JPY": "392", "CAD": "124", "AUD": "036",
}

// currencyCode maps an alpha or numeric ISO 4217 code to its numeric one.
func currencyCode(c string) (string, bool) {
	if n, ok := currencies[strings.ToUpper(c)]; ok {
		return n, true
	}
	for _, n := range currencies {
		if n == c {
			return n, true
		}
	}
	return "", false
}

// currencyAlpha is the alpha code of a numeric one (the numeric itself if
// the table lacks it).
func currencyAlpha(n string) string {
	for a, v := range currencies {
		if v == n {
			return a
		}
	}
	return n
}

// decode reads a JSON body into v, strictly: unknown fields, trailing data
// and wrong types are refused with the parameter named. An empty body is
// allowed when emptyOK.
func decode(r *http.Request, v any, emptyOK bool) *apiError {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return invalid("", "request body unreadable or over %d bytes", maxBody)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return nil
		}
		return invalid("", "the request needs a JSON body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		return invalid(typeErr.Field, "%s must be a JSON %s", typeErr.Field, jsonKind(typeErr.Type.String()))
	case err != nil && strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalid(f, "unknown parameter %q", f)
	case err != nil:
		return invalid("", "the body is not valid JSON: %v", err)
	case dec.More():
		return invalid("", "the body holds more than one JSON value")
	}
	return nil
}

func jsonKind(goType string) string {
	switch {
	case strings.Contains(goType, "int"):
		return "integer (minor units)"
	case strings.Contains(goType, "string"):
		return "string"
	}
	return "object"
}

// checkedPayment is a validated PaymentRequest.
type checkedPayment struct {
	amount      int64
	currency    string // numeric
	pan         string
	expiry      string // DE14 YYMM
	cvc         string
	manual      bool
	orderID     string
	description string
}

// check validates req against the time now.
func (req *PaymentRequest) check(now time.Time) (*checkedPayment, *apiError) {
	c := &checkedPayment{orderID: req.OrderID, description: req.Description}
	if e := checkAmount(req.Amount, true); e != nil {
		return nil, e
	}
	c.amount = *req.Amount
	switch {
	case req.Currency == "":
		return nil, invalid("currency", "currency is required: an ISO 4217 code such as EUR or 978")
	default:
		n, ok := currencyCode(req.Currency)
		if !ok {
			return nil, apiErr(http.StatusUnprocessableEntity, "currency_unsupported", "currency", "currency %q is not one this API takes (%s)", req.Currency, currencyList())
		}
		c.currency = n
	}
	switch req.Capture {
	case "", "automatic":
	case "manual":
		c.manual = true
	default:
		return nil, invalid("capture", "capture must be \"automatic\" or \"manual\", not %q", req.Capture)
	}
	if len(req.OrderID) > maxOrderID {
		return nil, invalid("order_id", "order_id is longer than %d bytes", maxOrderID)
	}
	if len(req.Description) > maxDescription {
		return nil, invalid("description", "description is longer than %d bytes", maxDescription)
	}
	if req.Card == nil {
		return nil, invalid("card", "card is required: {\"number\", \"expiry\": \"MM/YY\", \"cvc\"}")
	}
	var e *apiError
	if c.pan, e = checkNumber(req.Card.Number); e != nil {
		return nil, e
	}
	if c.expiry, e = checkExpiry(req.Card.Expiry, now); e != nil {
		return nil, e
	}
	if !digits(req.Card.CVC, 3, 4) {
		return nil, invalid("card.cvc", "card.cvc must be the 3 or 4 digits printed on the card")
	}
	c.cvc = req.Card.CVC
	return c, nil
}

// checkAmount validates an amount; absent is an error when required.
func checkAmount(a *int64, required bool) *apiError {
	switch {
	case a == nil && required:
		return invalid("amount", "amount is required: a positive integer in minor units (1000 is 10.00 EUR)")
	case a == nil:
		return nil
	case *a <= 0:
		return invalid("amount", "amount must be positive (minor units), not %d", *a)
	case *a > maxAmount:
		return invalid("amount", "amount must be at most %d", int64(maxAmount))
	}
	return nil
}

func checkNumber(n string) (string, *apiError) {
	n = strings.ReplaceAll(n, " ", "")
	switch {
	case n == "":
		return "", invalid("card.number", "card.number is required")
	case !digits(n, 12, 19):
		return "", invalid("card.number", "card.number must be 12 to 19 digits")
	case !wire.ValidatePAN(n):
		return "", apiErr(http.StatusUnprocessableEntity, "invalid_card_number", "card.number", "card.number fails the Luhn check: a typing error")
	}
	return n, nil
}

// checkExpiry reads "MM/YY" into DE14's YYMM; a card is good through the
// last day of its month.
func checkExpiry(s string, now time.Time) (string, *apiError) {
	mm, yy, ok := strings.Cut(s, "/")
	if !ok || !digits(mm, 2, 2) || !digits(yy, 2, 2) {
		return "", invalid("card.expiry", "card.expiry must be \"MM/YY\", not %q", s)
	}
	m, _ := strconv.Atoi(mm)
	y, _ := strconv.Atoi(yy)
	if m < 1 || m > 12 {
		return "", invalid("card.expiry", "card.expiry month %q must be 01 to 12", mm)
	}
	now = now.UTC()
	if y*100+m < (now.Year()%100)*100+int(now.Month()) {
		return "", apiErr(http.StatusUnprocessableEntity, "expired_card", "card.expiry", "the card expired at the end of %s", s)
	}
	return yy + mm, nil
}

func digits(s string, lo, hi int) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// brand names the card scheme from its number's prefix.
func brand(pan string) string {
	p2, _ := strconv.Atoi(pan[:2])
	p4, _ := strconv.Atoi(pan[:4])
	switch {
	case pan[0] == '4':
		return "visa"
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720:
		return "mastercard"
	case p2 == 34 || p2 == 37:
		return "amex"
	case p4 == 6011 || p2 == 65:
		return "discover"
	}
	return "unknown"
}

func currencyList() string {
	return "EUR, USD, GBP, CHF, SEK, NOK, DKK, PLN, CZK, HUF, JPY, CAD, AUD or their numeric codes"
}

// idempotencyKey reads the Idempotency-Key header ("" when absent).
func idempotencyKey(r *http.Request) (string, *apiError) {
	k := r.Header.Get("Idempotency-Key")
	if len(k) > maxIdemKey {
		return "", invalid("Idempotency-Key", "the Idempotency-Key header is longer than %d bytes", maxIdemKey)
	}
	for _, c := range k {
		if c < 0x21 || c > 0x7e {
			return "", invalid("Idempotency-Key", "the Idempotency-Key header must be printable ASCII without spaces")
		}
	}
	return k, nil
}

// fingerprint identifies a payment request for the idempotency check: the
// same key with another request is refused. The card enters only by the
// vault's keyed hash; the CVC not at all (it must not be stored in any
// form), so a retry that differs only in the CVC is the same request.
func (c *checkedPayment) fingerprint(v Vault) []byte {
	b := fmt.Appendf(nil, "%d|%s|%s|%t|%q|%q|%x", c.amount, c.currency, c.expiry, c.manual, c.orderID, c.description, v.Hash(c.pan))
	return v.Hash(string(b))[:16]
}
