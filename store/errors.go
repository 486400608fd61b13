package store

import "errors"

// Errors. Callers test them with errors.Is; every error this package returns
// wraps one of these or an error from bbolt or the file system.
var (
	// ErrNotFound: an OUTCOME names a transaction that has no INTENT.
	ErrNotFound = errors.New("store: transaction not found")
	// ErrTerminalNotFound: a block or unblock names no registered terminal.
	ErrTerminalNotFound = errors.New("store: terminal not registered")
	// ErrCorrupt: bytes that do not decode as a command or a stored record.
	ErrCorrupt = errors.New("store: corrupt encoding")
	// ErrUnknownOp: a command of a version or kind this binary does not know
	// (written by a newer binary): refused rather than guessed at.
	ErrUnknownOp = errors.New("store: unknown command")
	// ErrInvalid: a well-formed command that breaks a rule, e.g. an INTENT
	// whose ID is not TerminalID+STAN+TransmissionTime.
	ErrInvalid = errors.New("store: invalid command")
	// ErrFailed: a batch could not be committed (disk full, I/O error). The
	// store then refuses every later batch and every snapshot until a
	// Restore or a restart, because Raft counts the lost entries as applied:
	// carrying on would let this replica diverge silently. A restart replays
	// them from the log.
	ErrFailed = errors.New("store: state machine stopped after a storage failure")
	// ErrClosed: the store is closed (or a Restore could not reopen it).
	ErrClosed = errors.New("store: closed")
	// ErrStaleDay: a cutover names a day that is not the open one: it was
	// closed before (the cutover happened), or is not open yet.
	ErrStaleDay = errors.New("store: not the open business day")
	// ErrNoDay: a command names a business day that never existed.
	ErrNoDay = errors.New("store: no such business day")
	// ErrDayBusy: the day is not in the state the command needs yet (a
	// settle while its transactions are still pending, a file before it is
	// settled). Retry later.
	ErrDayBusy = errors.New("store: business day not ready")
	// ErrMismatch: a settlement file's checksum differs from the one
	// recorded for the same day and acquirer.
	ErrMismatch = errors.New("store: settlement file differs from the recorded one")
	// ErrBadKey: a card key that is not 32 bytes (64 hex characters in a
	// key file).
	ErrBadKey = errors.New("store: card key must be 32 bytes (64 hex characters)")
	// ErrConflict: a card-not-present command conflicts with what is
	// recorded (a merchant id taken, an idempotency key used for another
	// request, a second capture).
	ErrConflict = errors.New("store: conflicts with what is recorded")
	// ErrState: a payment is not in a state that allows the step (a
	// capture of a declined authorization, a void after a capture).
	ErrState = errors.New("store: payment state does not allow it")
	// ErrAmount: a capture over the authorized amount, refunds over the
	// captured one.
	ErrAmount = errors.New("store: amount over what the payment allows")
)
