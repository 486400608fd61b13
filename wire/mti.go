package wire

// Message type indicators (ISO 8583:1987) that tillgate sends or serves.
// A repeat is the original's MTI with the last digit 1 (RepeatMTI): 0101,
// 0201, 0221, 0401, 0421. Requests and advices are handled as their
// original (OriginalMTI); Classify says what one means.
const (
	MTIAuth                    = "0100" // authorization request (a pre-auth)
	MTIAuthResponse            = "0110"
	MTIAuthAdvice              = "0120" // a pre-auth the register approved itself, told afterwards
	MTIAuthAdviceResponse      = "0130"
	MTIFinancial               = "0200" // financial request: purchase, refund, cashback, balance inquiry
	MTIFinancialResponse       = "0210"
	MTIFinancialAdvice         = "0220" // completion of a pre-auth, or a stand-in advice
	MTIFinancialAdviceResponse = "0230"
	MTIBatchUpload             = "0320" // one transaction of a register's batch upload
	MTIBatchUploadResponse     = "0330"
	MTIReversal                = "0400"
	MTIReversalResponse        = "0410"
	MTIReversalAdvice          = "0420"
	MTIReversalAdviceResponse  = "0430"
	MTIReconcile               = "0500" // batch reconciliation: the nine totals (Totals)
	MTIReconcileResponse       = "0510"
	MTINetwork                 = "0800" // network management: sign-on, sign-off, echo (DE70)
	MTINetworkResponse         = "0810"
)

// validMTI reports four ASCII digits.
func validMTI(mti string) bool {
	return len(mti) == 4 && isDigits(mti)
}

func isDigits(s string) bool {
	return csNumeric.firstBadString(s) < 0
}

// IsRepeat reports a repeat MTI (last digit 1, e.g. 0201), which tillgate
// handles as the original.
func IsRepeat(mti string) bool {
	return validMTI(mti) && mti[3] == '1'
}

// OriginalMTI maps a repeat ("xxx1") to its original ("xxx0"); any other
// value is returned unchanged.
func OriginalMTI(mti string) string {
	if !IsRepeat(mti) {
		return mti
	}
	return mti[:3] + "0"
}

// RepeatMTI maps an original ("xxx0") to its repeat ("xxx1"); any other
// value is returned unchanged.
func RepeatMTI(mti string) string {
	if !validMTI(mti) || mti[3] != '0' {
		return mti
	}
	return mti[:3] + "1"
}

// ResponseMTI returns the response to a request or advice MTI: "0200" and
// "0201" -> "0210", "0221" -> "0230", "0401" -> "0410", "0800" -> "0810".
// It returns "" for anything that is not a request or advice (a response,
// a notification, or not four digits), so a caller never answers a response.
func ResponseMTI(mti string) string {
	if !validMTI(mti) || (mti[2] != '0' && mti[2] != '2') {
		return ""
	}
	return mti[:2] + string(mti[2]+1) + "0"
}
