package wire

// Message is a typed view of the fields tillgate uses. An empty string, zero
// value or nil means the field is absent.
type Message struct {
	MTI              string  // 4 digits
	PAN              string  // DE2
	ProcCode         string  // DE3, 6 digits
	Amount           int64   // DE4, minor units; packed only if HasAmount
	HasAmount        bool    // DE4 present
	TransmissionTime string  // DE7 MMDDhhmmss (UTC)
	STAN             string  // DE11, 6 digits
	LocalTime        string  // DE12 hhmmss
	LocalDate        string  // DE13 MMDD
	Expiry           string  // DE14 YYMM
	POSEntryMode     string  // DE22
	POSCondition     string  // DE25
	Track2           string  // DE35
	RRN              string  // DE37, 12
	AuthCode         string  // DE38, 6
	ResponseCode     string  // DE39, 2
	TerminalID       string  // DE41, 8
	MerchantID       string  // DE42, 15
	Private          TLVs    // DE48 (LLLVAR): tag(2) + len(3 digits) + value, repeated
	Currency         string  // DE49, 3 digits
	PINBlock         []byte  // DE52, 8 bytes
	AddAmounts       string  // DE54
	ICC              []byte  // DE55
	NetworkCode      string  // DE70, 3 digits (001 sign-on, 002 sign-off, 301 echo)
	Totals           *Totals // DE74-77, DE86-89, DE97 (0500/0510)
	OriginalData     string  // DE90, 42 digits: orig MTI(4) STAN(6) DE7(10) acq inst(11) fwd inst(11)

	// totalsAbsent has bit i set when totalsFields[i] was not in the
	// unpacked message although others were (MissingTotal); zero for a
	// message built in code, whose Totals are all there.
	totalsAbsent uint16
}

// Key is the identity of a transaction: TerminalID + STAN + TransmissionTime.
func (m *Message) Key() string { return m.TerminalID + m.STAN + m.TransmissionTime }

// Response codes (DE39).
const (
	RCApproved          = "00"
	RCInvalidMerchant   = "03" // DE42 is not the merchant the terminal is registered to
	RCDoNotHonour       = "05"
	RCInvalidAmount     = "13"
	RCInvalidCard       = "14"
	RCFormatError       = "30"
	RCInsufficientFunds = "51"
	RCExpired           = "54"
	RCIncorrectPIN      = "55"
	// RCNotPermittedTerminal: the terminal is not registered, is blocked,
	// or belongs to another store than the client certificate's.
	RCNotPermittedTerminal = "58"
	RCIssuerInoperative    = "91"
	RCDuplicate            = "94"
	RCReconcileError       = "95"
	RCSystemError          = "96"
)

// Processing codes (DE3) of a 0500. A 0500 without DE3 is a ProcSettle.
const (
	// ProcSettle: compare the register's totals with the cluster's; equal
	// closes the batch (0510 00), different answers 0510 95.
	ProcSettle = "920000"
	// ProcSettleAfterUpload: totals sent after a batch upload (0320s); the
	// batch closes whatever the totals, the difference is reported.
	ProcSettleAfterUpload = "960000"
)

// Network management codes (DE70).
const (
	NetSignOn  = "001"
	NetSignOff = "002"
	NetEcho    = "301"
)
