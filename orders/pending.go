package orders

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// A pending stream entry carries the side work of one state change (a
// commit, a change of an account's standing, a verified address, a refund
// question) to the relay. Every writer appends ONE entry per change, of
// kind kindWork, through workFields: its stream fields are
//
//	kind    "work"
//	head    JSON workHead: the events' types and time, the audit entry
//	        without its documents, the account, mail and kyc-mail work
//	data    the events' data, as json.Marshal wrote it (absent: no event)
//	before  the audit entry's before, as json.Marshal wrote it (absent: none)
//	after   the audit entry's after, likewise
//
// The documents (the order's answer, 1-2 KB, and the event data) are
// most of an entry: kept apart from the head, they are written and read
// byte for byte, never scanned as JSON by the commit or the relay (the
// audit log checks them once, cheaply: audit's normalize).
//
// Gateways before the one-entry format appended one entry per piece of
// work, fields kind (kindEvent, kindAudit, kindAccount,
// kindAccountIndex, kindMail, kindKYCMail) and body (its JSON), to the
// shard's legacy stream (legacyPendingKey). kindWork entries go to a
// stream of their own (pendingKey): an older relay, still running during
// a rolling upgrade, never sees them (it would drop one as an unknown
// kind, and with it the change's events and audit entry), and the relay
// still reads and delivers the older entries (Relay.legacy).

// Pending kinds. kindWork is the one written; the others name the pieces
// of work (pending.kind) and are the kinds of entries written before it.
const (
	kindWork    = "work"    // one change's work, see above
	kindEvent   = "event"   // append to the shared outbox stream
	kindAudit   = "audit"   // append to the audit log
	kindMail    = "mail"    // request the verification mail
	kindAccount = "account" // index the order, mark the account (firstorder.go)
	// kindAccountIndex indexes a rejected order under its account.
	kindAccountIndex = "account-index"
	// kindKYCMail asks the relay to queue the customer's kyc_request mail
	// (an entry a relay from before issue 12/8 drops as unknown rather
	// than sending the wrong mail).
	kindKYCMail = "kyc-mail"
)

// pending is one piece of a change's work: kind and its value
// (pendingEvent, AuditEntry, pendingAccount, pendingMail, pendingKYCMail).
type pending struct {
	kind string
	body any
}

// pendingEvent is an event to publish (the body of a kindEvent entry).
type pendingEvent struct {
	Type string          `json:"type"`
	Time time.Time       `json:"time"`
	Data json.RawMessage `json:"data,omitempty"`
}

// pendingMail is a verification mail to request (the body of a kindMail
// entry).
type pendingMail struct {
	Owner   Owner  `json:"owner"`
	Account string `json:"account"`
	Email   string `json:"email"`
	Ref     string `json:"ref"`
}

// pendingAccount is an order to index under its account, the account
// marked as having a cleared order unless Held or Rejected (since issue
// 11; an entry without Order only marks: an order that cleared later,
// firstorder.go). It was the body of a kindAccount entry, and of a
// kindAccountIndex entry (a rejected order: only indexed).
type pendingAccount struct {
	Owner   Owner  `json:"owner"`
	Account string `json:"account"`
	// EmailHash names the email reference of an order without an account
	// id (Account ""): only marked, not indexed.
	EmailHash string    `json:"email_hash,omitempty"`
	Order     string    `json:"order,omitempty"`
	Created   time.Time `json:"created,omitzero"`
	Rejected  bool      `json:"rejected,omitempty"`
	// Held: the order was stored held, so it is indexed (and flagged
	// under a restriction) but the account is not marked: it is, by
	// clearedMark, when the order clears.
	Held bool `json:"held,omitempty"`
}

// Stream fields of a kindWork entry.
const (
	fieldKind   = "kind"
	fieldHead   = "head"
	fieldData   = "data"
	fieldBefore = "before"
	fieldAfter  = "after"
)

// workHead is the head of a kindWork entry: all its work but the
// documents, which are fields of their own.
type workHead struct {
	Events []workEvent `json:"events,omitempty"`
	// Audit has no Before and After: they are the before and after
	// fields.
	Audit    *AuditEntry      `json:"audit,omitempty"`
	Accounts []pendingAccount `json:"accounts,omitempty"`
	Mails    []pendingMail    `json:"mails,omitempty"`
	KYCMails []pendingKYCMail `json:"kyc_mails,omitempty"`
}

// workEvent is an event of a kindWork entry; its data is the entry's
// data field.
type workEvent struct {
	Type string    `json:"type"`
	Time time.Time `json:"time"`
}

// workFields is the kindWork entry of ws, as XADD's field and value pairs
// (nil when ws is empty). An entry holds one audit entry at most, and one
// data document its events share (a change's events are all about the
// same order or account): a change with more, or an event without data
// (the relay would drop it as undecodable), is a mistake here.
func workFields(ws []pending) ([]any, error) { return appendWork(nil, ws) }

// appendWork is dst followed by workFields(ws): the scripts that append
// a change's entry take its fields after their own arguments.
func appendWork(dst []any, ws []pending) ([]any, error) {
	if len(ws) == 0 {
		return dst, nil
	}
	var (
		h                   workHead
		data, before, after []byte
	)
	for _, w := range ws {
		switch b := w.body.(type) {
		case pendingEvent:
			if len(b.Data) == 0 {
				return nil, fmt.Errorf("encoding pending work: event %s without data", b.Type)
			}
			if h.Events != nil && !bytes.Equal(data, b.Data) {
				return nil, fmt.Errorf("encoding pending work: events %s and %s carry different data", h.Events[0].Type, b.Type)
			}
			h.Events = append(h.Events, workEvent{Type: b.Type, Time: b.Time})
			data = b.Data
		case AuditEntry:
			if h.Audit != nil {
				return nil, fmt.Errorf("encoding pending work: two audit entries, %s and %s", h.Audit.ID, b.ID)
			}
			before, after = b.Before, b.After
			b.Before, b.After = nil, nil
			h.Audit = &b
		case pendingAccount:
			b.Rejected = b.Rejected || w.kind == kindAccountIndex
			h.Accounts = append(h.Accounts, b)
		case pendingMail:
			h.Mails = append(h.Mails, b)
		case pendingKYCMail:
			h.KYCMails = append(h.KYCMails, b)
		default:
			return nil, fmt.Errorf("encoding pending work: %s work of type %T", w.kind, w.body)
		}
	}
	head, err := marshalHead(h)
	if err != nil {
		return nil, fmt.Errorf("encoding pending work: %w", err)
	}
	dst = append(dst, fieldKind, kindWork, fieldHead, head)
	for _, f := range [...]struct {
		name string
		doc  []byte
	}{{fieldData, data}, {fieldBefore, before}, {fieldAfter, after}} {
		if len(f.doc) > 0 {
			dst = append(dst, f.name, f.doc)
		}
	}
	return dst, nil
}

// decodeWork reads the kindWork entry of stream fields values into b,
// under the entry's id; it adds nothing when the entry is undecodable.
func (b *shardBatch) decodeWork(id string, values map[string]any) error {
	head, _ := values[fieldHead].(string)
	h, err := unmarshalHead(head)
	if err != nil {
		return fmt.Errorf("decoding the head: %w", err)
	}
	// The documents are taken as they are: json.Marshal wrote them, and
	// the sinks (the outbox, the audit log) check what they must.
	doc := func(name string) json.RawMessage {
		s, _ := values[name].(string)
		if s == "" {
			return nil
		}
		return json.RawMessage(s)
	}
	data := doc(fieldData)
	if len(h.Events) > 0 && data == nil {
		return errors.New("events without data")
	}
	for _, e := range h.Events {
		b.events = append(b.events, decoded[pendingEvent]{id, pendingEvent{Type: e.Type, Time: e.Time, Data: data}})
	}
	if a := h.Audit; a != nil {
		a.Before, a.After = doc(fieldBefore), doc(fieldAfter)
		b.audits = append(b.audits, decoded[AuditEntry]{id, *a})
	}
	for _, a := range h.Accounts {
		b.accounts = append(b.accounts, decoded[pendingAccount]{id, a})
	}
	for _, m := range h.Mails {
		b.mails = append(b.mails, decoded[pendingMail]{id, m})
	}
	for _, m := range h.KYCMails {
		b.kycMails = append(b.kycMails, decoded[pendingKYCMail]{id, m})
	}
	return nil
}

// decodeOld reads an entry of one piece of work (kind and body), as
// gateways before kindWork wrote them, into b under the entry's id.
func (b *shardBatch) decodeOld(id, kind, body string) error {
	var err error
	switch kind {
	case kindEvent:
		var e pendingEvent
		if err = json.Unmarshal([]byte(body), &e); err == nil {
			b.events = append(b.events, decoded[pendingEvent]{id, e})
		}
	case kindAudit:
		var e AuditEntry
		if err = json.Unmarshal([]byte(body), &e); err == nil {
			b.audits = append(b.audits, decoded[AuditEntry]{id, e})
		}
	case kindAccount, kindAccountIndex:
		var pa pendingAccount
		if err = json.Unmarshal([]byte(body), &pa); err == nil {
			pa.Rejected = kind == kindAccountIndex
			b.accounts = append(b.accounts, decoded[pendingAccount]{id, pa})
		}
	case kindMail:
		var pm pendingMail
		if err = json.Unmarshal([]byte(body), &pm); err == nil {
			b.mails = append(b.mails, decoded[pendingMail]{id, pm})
		}
	case kindKYCMail:
		var pm pendingKYCMail
		if err = json.Unmarshal([]byte(body), &pm); err == nil {
			b.kycMails = append(b.kycMails, decoded[pendingKYCMail]{id, pm})
		}
	default:
		err = fmt.Errorf("unknown kind %q", kind)
	}
	return err
}
