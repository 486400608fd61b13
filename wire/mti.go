package wire

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
