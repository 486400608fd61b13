package store

import "fmt"

// Commands are what the leader appends to the Raft log and every replica
// applies. Layout: version byte, op byte, then the op's fields in the
// encoding of encoding.go. Commands carry every input Apply needs (times
// included, stamped by the leader), so applying them is deterministic.

// Op is a command's kind. New kinds take new numbers (SAF enqueue and ack,
// day cutover, ...); a binary that does not know one answers ErrUnknownOp.
type Op uint8

// Ops.
const (
	OpIntent  Op = 1 // record a transaction before it goes to the acquirer
	OpOutcome Op = 2 // record the answer (acquirer, stand-in, or unknown)
	// OpOutcomeSAF records the answer and enqueues the advice or reversal
	// it owes the acquirer (saf.go).
	OpOutcomeSAF Op = 3
	OpSAFAck     Op = 4 // the acquirer acknowledged a SAF entry
	// Business days (day.go).
	OpCutover       Op = 5 // close the open day, open the next
	OpSettle        Op = 6 // freeze a closed day once nothing of it is pending
	OpDayFile       Op = 7 // the checksums of a settled day's file
	OpDayReconciled Op = 8 // the outcome of a reconciliation
	// Register batches (batch.go).
	OpBatchClose  Op = 9  // a register's 0500, or an operator closing a batch
	OpBatchUpload Op = 10 // a register's 0320: one transaction of its batch
	// OpAudit records an operator action or its outcome (audit.go).
	OpAudit Op = 11
	// The terminal registry (terminal.go).
	OpTerminalsAdd   Op = 12 // add or change ranges of terminals
	OpTerminalsBlock Op = 13 // block or unblock a range of terminals
)

// cmdVersion leads every command. 2: OUTCOME's Repeat, several SAF
// entries per OUTCOME_SAF.
const cmdVersion = 2

// Command is a decoded command: Op says which of the other fields is set.
type Command struct {
	Op      Op
	Intent  *Txn       // OpIntent
	Outcome *Outcome   // OpOutcome, OpOutcomeSAF
	SAF     []SAFEntry // OpOutcomeSAF: what the outcome owes, in send order
	SAFAck  *SAFAck    // OpSAFAck
	day     *dayCmd    // the day ops
	Batch   *BatchReq  // OpBatchClose, OpBatchUpload
	terms   *terminalsCmd
	Audit   *Audit // OpAudit
	// Card-not-present (merchant.go, payment.go).
	Merchant *Merchant       // OpMerchantAdd
	Payment  *Payment        // OpPaymentCreate
	pstep    *paymentStepCmd // OpPaymentStep
	pauth    *paymentAuthCmd // OpPaymentAuth
	Link     *Link           // OpLinkCreate
	Messages []Message       // OpOutboxAdd
	// Card keys (cardkeys.go).
	Key    *KeyCmd    // OpCardKey
	Reseal *ResealCmd // OpReseal
	// Merchant notification (webhook.go).
	Webhook    *Webhook    // OpMerchantWebhook
	WebhookAck *WebhookAck // OpWebhookAck
	schema     string      // OpSchema: the version to convert to
}

// Outcome is the answer to a transaction.
type Outcome struct {
	ID           string
	Status       Status
	RC, AuthCode string
	StandIn      bool
	At           int64 // unix nanos, stamped by the leader
	// Repeat: the transaction was resolved through the repeat path (an
	// INTENT left open by a predecessor or by a request that gave up),
	// whose askings go as repeats (xx01), by this active or by one that
	// died before committing. Only such a transaction may appear twice at
	// the acquirer.
	Repeat bool
}

// Result is what ApplyBatch returns for each applied command (as an any, as
// Raft hands it back to the caller of Apply).
type Result struct {
	Txn     *Txn // the transaction as stored after the command: the caller's own copy
	Existed bool // an INTENT found its identity already recorded; Txn is the stored one
	Day     *Day // the day ops: the day as stored after the command
	// Batch is a batch command's answer (for a repeat, the first answer).
	Batch *BatchAnswer
	// SAF are the entries an OUTCOME_SAF enqueued, as stored (seq and the
	// acquirer identity filled in); empty for a repeated outcome.
	SAF []SAFEntry
	// Terminals is what a terminal command did.
	Terminals *TerminalChange
	// Audit is the audit record as stored after an audit command.
	Audit *AuditRecord
	// Card-not-present: the merchant or payment as stored after the
	// command, and the step a payment step command added (or found).
	Merchant *Merchant
	Payment  *Payment
	Step     *PaymentStep
	Link     *Link // OpLinkCreate: the link as stored
	// Keys is the card keys' state after a card key or re-seal command.
	Keys *KeyState
	// Webhook is the webhook a webhook command set (URL "": removed).
	Webhook *Webhook
	Err     error
}

// IntentCmd encodes the INTENT for t. Apply ignores t's Status and Day and
// sets them itself; it also gives t its acquirer STAN and RRN when they are
// empty (see applier.identify).
func IntentCmd(t *Txn) []byte {
	return appendTxn(append(make([]byte, 0, 320), cmdVersion, byte(OpIntent)), t)
}

// OutcomeCmd encodes the OUTCOME o. Applying it twice changes nothing the
// second time.
func OutcomeCmd(o Outcome) []byte {
	w := writer{b: append(make([]byte, 0, 48+len(o.ID)), cmdVersion, byte(OpOutcome))}
	appendOutcome(&w, &o)
	return w.b
}

func appendOutcome(w *writer, o *Outcome) {
	w.str(o.ID)
	w.byte(byte(o.Status))
	w.str(o.RC)
	w.str(o.AuthCode)
	w.bool(o.StandIn)
	w.int(o.At)
	w.bool(o.Repeat)
}

// Encode encodes any decoded command again: DecodeCommand(Encode(c))
// equals c.
func Encode(c Command) []byte {
	switch c.Op {
	case OpIntent:
		return IntentCmd(c.Intent)
	case OpOutcome:
		return OutcomeCmd(*c.Outcome)
	case OpOutcomeSAF:
		return OutcomeSAFCmd(*c.Outcome, c.SAF...)
	case OpSAFAck:
		return SAFAckCmd(*c.SAFAck)
	case OpCutover:
		return CutoverCmd(c.day.Day, c.day.Next, c.day.By, c.day.At)
	case OpSettle:
		return SettleCmd(c.day.Day, c.day.At)
	case OpDayFile:
		return DayFileCmd(c.day.Day, c.day.File)
	case OpDayReconciled:
		return DayReconciledCmd(c.day.Day, c.day.Recon)
	case OpBatchClose:
		b := c.Batch
		return BatchCloseCmd(b.ID, b.Terminal, b.Mode, b.Number, b.Register, b.At)
	case OpBatchUpload:
		return BatchUploadCmd(c.Batch.ID, c.Batch.Terminal, c.Batch.Upload, c.Batch.At)
	case OpTerminalsAdd, OpTerminalsBlock:
		return encodeTerminalsCmd(c.Op, c.terms)
	case OpAudit:
		return AuditCmd(*c.Audit)
	case OpMerchantAdd:
		return MerchantAddCmd(*c.Merchant)
	case OpPaymentCreate:
		return PaymentCreateCmd(*c.Payment)
	case OpPaymentStep:
		return PaymentStepCmd(c.pstep.ID, *c.pstep.Step)
	case OpPaymentAuth:
		w := writer{b: []byte{cmdVersion, byte(OpPaymentAuth)}}
		appendPaymentAuthCmd(&w, c.pauth)
		return w.b
	case OpLinkCreate:
		return LinkCreateCmd(*c.Link)
	case OpOutboxAdd:
		return OutboxAddCmd(c.Messages...)
	case OpCardKey:
		return KeyCmdOf(*c.Key)
	case OpReseal:
		return ResealCmdOf(*c.Reseal)
	case OpMerchantWebhook:
		return MerchantWebhookCmd(*c.Webhook)
	case OpWebhookAck:
		return WebhookAckCmd(*c.WebhookAck)
	case OpSchema:
		return SchemaCmd(c.schema)
	}
	return []byte{cmdVersion, byte(c.Op)}
}

// DecodeCommand decodes a command. Bytes that are not a command give an
// error wrapping ErrCorrupt (or ErrUnknownOp for a newer command); it never
// panics. It checks form only: the rules are Apply's.
func DecodeCommand(b []byte) (Command, error) {
	if len(b) < 2 {
		return Command{}, fmt.Errorf("%w: command of %d bytes", ErrCorrupt, len(b))
	}
	if b[0] != cmdVersion {
		return Command{}, fmt.Errorf("%w: command version %d", ErrUnknownOp, b[0])
	}
	c := Command{Op: Op(b[1])}
	r := reader{b: b[2:]}
	switch c.Op {
	case OpIntent:
		c.Intent = readTxn(&r)
	case OpOutcome:
		c.Outcome = readOutcome(&r)
	case OpOutcomeSAF:
		c.Outcome, c.SAF = readOutcome(&r), readSAFRequests(&r)
	case OpSAFAck:
		c.SAFAck = readSAFAck(&r)
	case OpCutover, OpSettle, OpDayFile, OpDayReconciled:
		c.day = readDayCmd(c.Op, &r)
	case OpBatchClose, OpBatchUpload:
		c.Batch = readBatchReq(c.Op, &r)
	case OpTerminalsAdd, OpTerminalsBlock:
		c.terms = readTerminalsCmd(c.Op, &r)
	case OpAudit:
		c.Audit = readAudit(&r)
	case OpMerchantAdd:
		c.Merchant = readMerchant(&r)
	case OpPaymentCreate:
		c.Payment = readPayment(&r)
	case OpPaymentStep:
		c.pstep = readPaymentStepCmd(&r)
	case OpPaymentAuth:
		c.pauth = readPaymentAuthCmd(&r)
	case OpLinkCreate:
		c.Link = readLink(&r)
	case OpOutboxAdd:
		c.Messages = readMessages(&r)
	case OpCardKey:
		c.Key = readKeyCmd(&r)
	case OpReseal:
		c.Reseal = readResealCmd(&r)
	case OpMerchantWebhook:
		c.Webhook = readWebhook(&r)
	case OpWebhookAck:
		c.WebhookAck = readWebhookAck(&r)
	case OpSchema:
		c.schema = r.str()
	default:
		return Command{}, fmt.Errorf("%w: op %d", ErrUnknownOp, c.Op)
	}
	if err := r.done(); err != nil {
		return Command{}, fmt.Errorf("decode op %d: %w", c.Op, err)
	}
	return c, nil
}

func readOutcome(r *reader) *Outcome {
	return &Outcome{ID: r.str(), Status: Status(r.byte()), RC: r.str(), AuthCode: r.str(), StandIn: r.bool(), At: r.int(), Repeat: r.bool()}
}
