package wire

import (
	"errors"
	"fmt"
)

// ValidateRequest checks that an unpacked request carries, well formed,
// the fields its MTI requires. Repeats are checked as their original.
// It returns a *FormatError (answer with its RC()) or nil.
//
//	0100, 0120, 0200, 0220 DE2 or DE35, DE3, DE4 (not for balance inquiry DE3 31xxxx), DE7, DE11, DE41, DE49;
//	                       0220 also DE90, and it may go without DE2 and DE35: its card is
//	                       the original's (a register's store-and-forward queue keeps no card)
//	0320                   DE3, DE4, DE7, DE11, DE41, DE90 (the original's MTI, DE11, DE7);
//	                       DE38 (6 characters) and DE39 (2 letters or digits) if present
//	0400, 0420             DE4, DE7, DE11, DE41, DE90
//	0500                   DE7, DE11, DE41, the nine totals DE74-77, DE86-89, DE97
//	                       (the first missing one is named); DE3, if present,
//	                       ProcSettle (920000) or ProcSettleAfterUpload (960000)
//	0800                   DE7, DE11, DE70
//
// Optional fields that are present are checked too (DE42 15 characters,
// DE12 hhmmss, DE13 MMDD, DE14 YYMM). The amount must be positive except
// for a balance inquiry; a bad amount is reported on field 4 (RC 13).
// Luhn is not checked here: ValidatePAN is a card decision (RC 14).
func ValidateRequest(m *Message) error {
	if m == nil {
		return &FormatError{Field: 0, Err: fmt.Errorf("%w: nil message", ErrMissingField)}
	}
	fe := func(field int, err error) error {
		return &FormatError{MTI: m.MTI, STAN: m.STAN, Field: field, Err: err}
	}
	if !validMTI(m.MTI) {
		return fe(0, fmt.Errorf("%w: MTI", ErrInvalidField))
	}
	var checks []check
	switch OriginalMTI(m.MTI) {
	case MTIAuth, MTIAuthAdvice, MTIFinancial:
		checks = financialChecks
	case MTIFinancialAdvice:
		checks = adviceChecks
	case MTIBatchUpload:
		checks = uploadChecks
	case MTIReversal, MTIReversalAdvice:
		checks = reversalChecks
	case MTIReconcile:
		checks = reconcileChecks
	case MTINetwork:
		checks = networkChecks
	default:
		return fe(0, fmt.Errorf("%w: MTI %s is not a supported request", ErrInvalidField, m.MTI))
	}
	for _, ch := range checks {
		if err := ch.fn(m); err != nil {
			var mf *missingTotal
			if errors.As(err, &mf) {
				return fe(mf.field, err)
			}
			return fe(ch.field, err)
		}
	}
	for _, ch := range optionalChecks {
		if err := ch.fn(m); err != nil {
			return fe(ch.field, err)
		}
	}
	return nil
}

type check struct {
	field int
	fn    func(m *Message) error
}

var (
	financialChecks = []check{
		{2, checkCard}, {3, checkProcCode}, {4, checkAmount}, {7, checkDE7},
		{11, checkSTAN}, {41, checkTerminal}, {49, checkCurrency},
	}
	adviceChecks = []check{
		{2, checkCardIfAny}, {3, checkProcCode}, {4, checkAmount}, {7, checkDE7},
		{11, checkSTAN}, {41, checkTerminal}, {49, checkCurrency}, {90, checkOriginal},
	}
	reversalChecks  = []check{{4, checkAmount}, {7, checkDE7}, {11, checkSTAN}, {41, checkTerminal}, {90, checkOriginal}}
	reconcileChecks = []check{{3, checkSettleCode}, {7, checkDE7}, {11, checkSTAN}, {41, checkTerminal}, {0, checkTotals}}
	uploadChecks    = []check{
		{3, checkProcCode}, {4, checkAmount}, {7, checkDE7}, {11, checkSTAN}, {41, checkTerminal}, {90, checkOriginal},
		{38, optional(func(m *Message) string { return m.AuthCode }, checkAuthCode)},
		{39, optional(func(m *Message) string { return m.ResponseCode }, checkResponseCode)},
	}
	networkChecks  = []check{{7, checkDE7}, {11, checkSTAN}, {70, checkNetworkCode}}
	optionalChecks = []check{
		{3, optional(func(m *Message) string { return m.ProcCode }, checkProcCode)},
		{12, optional(func(m *Message) string { return m.LocalTime }, checkLocalTime)},
		{13, optional(func(m *Message) string { return m.LocalDate }, checkLocalDate)},
		{14, optional(func(m *Message) string { return m.Expiry }, checkExpiry)},
		{42, optional(func(m *Message) string { return m.MerchantID }, checkMerchant)},
		{49, optional(func(m *Message) string { return m.Currency }, checkCurrency)},
		{90, optional(func(m *Message) string { return m.OriginalData }, checkOriginal)},
	}
)

// optional runs fn only when the field is present.
func optional(get func(*Message) string, fn func(*Message) error) func(*Message) error {
	return func(m *Message) error {
		if get(m) == "" {
			return nil
		}
		return fn(m)
	}
}

func missing(name string) error { return fmt.Errorf("%w: %s", ErrMissingField, name) }

func invalid(name string) error { return fmt.Errorf("%w: %s", ErrInvalidField, name) }

func digitsOf(s string, n int) bool { return len(s) == n && isDigits(s) }

// checkCard needs DE2 or DE35; a present DE2 must be 12-19 digits.
func checkCard(m *Message) error {
	if m.PAN == "" && m.Track2 == "" {
		return missing("DE2 or DE35")
	}
	if m.PAN != "" && (len(m.PAN) < 12 || len(m.PAN) > 19 || !isDigits(m.PAN)) {
		return invalid("DE2 must be 12-19 digits")
	}
	return nil
}

// checkCardIfAny is checkCard for a message that may name its card by its
// original (DE90) instead.
func checkCardIfAny(m *Message) error {
	if m.PAN == "" && m.Track2 == "" {
		return nil
	}
	return checkCard(m)
}

func checkProcCode(m *Message) error {
	if m.ProcCode == "" {
		return missing("DE3")
	}
	if !digitsOf(m.ProcCode, 6) {
		return invalid("DE3 must be 6 digits")
	}
	return nil
}

// isBalanceInquiry: DE3 31xxxx carries no amount.
func isBalanceInquiry(m *Message) bool {
	return len(m.ProcCode) == 6 && ProcKind(m.ProcCode) == KindBalance
}

func checkAmount(m *Message) error {
	if !m.HasAmount {
		if isBalanceInquiry(m) {
			return nil
		}
		return missing("DE4")
	}
	if m.Amount < 0 || m.Amount > 999999999999 {
		return invalid("DE4 out of range")
	}
	if m.Amount == 0 && !isBalanceInquiry(m) {
		return invalid("DE4 must be positive")
	}
	return nil
}

func checkDE7(m *Message) error {
	if m.TransmissionTime == "" {
		return missing("DE7")
	}
	t := m.TransmissionTime
	if !digitsOf(t, 10) || !validMonthDay(t[:4]) || !validClock(t[4:]) {
		return invalid("DE7 must be MMDDhhmmss")
	}
	return nil
}

func checkSTAN(m *Message) error {
	if m.STAN == "" {
		return missing("DE11")
	}
	if !digitsOf(m.STAN, 6) {
		return invalid("DE11 must be 6 digits")
	}
	return nil
}

func checkTerminal(m *Message) error {
	if m.TerminalID == "" {
		return missing("DE41")
	}
	if len(m.TerminalID) != 8 || csText.firstBadString(m.TerminalID) >= 0 {
		return invalid("DE41 must be 8 characters")
	}
	return nil
}

func checkMerchant(m *Message) error {
	if len(m.MerchantID) != 15 || csText.firstBadString(m.MerchantID) >= 0 {
		return invalid("DE42 must be 15 characters")
	}
	return nil
}

func checkCurrency(m *Message) error {
	if m.Currency == "" {
		return missing("DE49")
	}
	if !digitsOf(m.Currency, 3) {
		return invalid("DE49 must be 3 digits")
	}
	return nil
}

// checkSettleCode: a 0500's DE3 is optional (a plain ProcSettle), but a
// present one must say which of the two 0500s this is.
func checkSettleCode(m *Message) error {
	switch m.ProcCode {
	case "", ProcSettle, ProcSettleAfterUpload:
		return nil
	}
	return invalid("DE3 of a 0500 must be " + ProcSettle + " or " + ProcSettleAfterUpload)
}

// missingTotal names the totals field a 0500 lacks: the check covers nine
// fields, the FormatError must name the one at fault.
type missingTotal struct {
	field int
	err   error
}

func (e *missingTotal) Error() string { return e.err.Error() }
func (e *missingTotal) Unwrap() error { return e.err }

// checkTotals: a 0500 must carry all nine totals; reading an absent one as
// zero would compare a total the register never sent.
func checkTotals(m *Message) error {
	id := totalsFields[0]
	if m.Totals != nil {
		id = m.MissingTotal()
	}
	if id == 0 {
		return nil
	}
	return &missingTotal{field: id, err: missing(fmt.Sprintf("DE%d", id))}
}

// checkAuthCode: DE38 is 6 printable characters (the codec checks the
// character set; a Message built in code may not have been packed).
func checkAuthCode(m *Message) error {
	if len(m.AuthCode) != 6 || csText.firstBadString(m.AuthCode) >= 0 {
		return invalid("DE38 must be 6 characters")
	}
	return nil
}

// checkResponseCode: DE39 is two letters or digits.
func checkResponseCode(m *Message) error {
	rc := m.ResponseCode
	alnum := func(b byte) bool { return b >= '0' && b <= '9' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' }
	if len(rc) != 2 || !alnum(rc[0]) || !alnum(rc[1]) {
		return invalid("DE39 must be 2 letters or digits")
	}
	return nil
}

func checkNetworkCode(m *Message) error {
	if m.NetworkCode == "" {
		return missing("DE70")
	}
	if !digitsOf(m.NetworkCode, 3) {
		return invalid("DE70 must be 3 digits")
	}
	return nil
}

// checkOriginal: DE90 is 42 digits starting with a valid MTI and a
// transmission time.
func checkOriginal(m *Message) error {
	o := m.OriginalData
	if o == "" {
		return missing("DE90")
	}
	if !digitsOf(o, 42) || !validMonthDay(o[10:14]) || !validClock(o[14:20]) {
		return invalid("DE90 must be 42 digits: MTI, STAN, MMDDhhmmss, two institution ids")
	}
	return nil
}

func checkLocalTime(m *Message) error {
	if !digitsOf(m.LocalTime, 6) || !validClock(m.LocalTime) {
		return invalid("DE12 must be hhmmss")
	}
	return nil
}

func checkLocalDate(m *Message) error {
	if !digitsOf(m.LocalDate, 4) || !validMonthDay(m.LocalDate) {
		return invalid("DE13 must be MMDD")
	}
	return nil
}

func checkExpiry(m *Message) error {
	if !digitsOf(m.Expiry, 4) || !between(m.Expiry[2:], 1, 12) {
		return invalid("DE14 must be YYMM")
	}
	return nil
}

// validMonthDay checks MMDD (digits already checked).
func validMonthDay(s string) bool { return between(s[:2], 1, 12) && between(s[2:], 1, 31) }

// validClock checks hhmmss (digits already checked).
func validClock(s string) bool {
	return between(s[:2], 0, 23) && between(s[2:4], 0, 59) && between(s[4:6], 0, 59)
}

func between(two string, lo, hi int) bool {
	v := int(two[0]-'0')*10 + int(two[1]-'0')
	return v >= lo && v <= hi
}
