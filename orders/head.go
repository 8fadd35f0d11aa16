package orders

import (
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"
)

// A kindWork entry's head is json.Marshal(workHead), and relays of the
// previous release read it with json.Unmarshal while a rolling upgrade
// runs: its bytes are a format shared across releases. Encoding and
// decoding it through reflection cost the relay and the commit more CPU
// per order than the rest of their own work, so the common case is
// written and read by hand here: appendHead writes exactly json.Marshal's
// bytes, decodeHead reads exactly that shape, and each hands anything
// else (a string json.Marshal would escape, a time it refuses, a head
// written some other way) to encoding/json.

// appendHead appends h to dst as json.Marshal(h) writes it. ok is false,
// and dst returned as it was, when that would take more than copying its
// strings (an escape, a byte outside ASCII) or json.Marshal would refuse
// a time: the caller then calls json.Marshal.
func appendHead(dst []byte, h workHead) (_ []byte, ok bool) {
	if a := h.Audit; a != nil && (len(a.Before) > 0 || len(a.After) > 0) {
		return dst, false // a head never carries the documents
	}
	e := headEncoder{b: append(dst, '{'), ok: true}
	sep := encodeList(&e, "", "events", h.Events, (*headEncoder).event)
	if h.Audit != nil {
		e.raw(sep + `"audit":`)
		e.audit(h.Audit)
		sep = ","
	}
	sep = encodeList(&e, sep, "accounts", h.Accounts, (*headEncoder).account)
	sep = encodeList(&e, sep, "mails", h.Mails, (*headEncoder).mail)
	encodeList(&e, sep, "kyc_mails", h.KYCMails, (*headEncoder).kycMail)
	e.raw("}")
	if !e.ok {
		return dst, false
	}
	return e.b, true
}

// headEncoder appends a head; ok turns false, for good, on the first
// value it cannot write as json.Marshal does.
type headEncoder struct {
	b  []byte
	ok bool
}

// encodeList writes the field name of xs, when not empty (omitempty),
// after sep; it returns the separator of the next field.
func encodeList[T any](e *headEncoder, sep, name string, xs []T, elem func(*headEncoder, *T)) string {
	if len(xs) == 0 {
		return sep
	}
	e.raw(sep + `"` + name + `":[`)
	for i := range xs {
		if i > 0 {
			e.raw(",")
		}
		elem(e, &xs[i])
	}
	e.raw("]")
	return ","
}

func (e *headEncoder) event(ev *workEvent) {
	e.str(`{"type":`, ev.Type)
	e.time(`,"time":`, ev.Time)
	e.raw("}")
}

func (e *headEncoder) audit(a *AuditEntry) {
	e.str(`{"id":`, a.ID)
	e.time(`,"time":`, a.Time)
	e.str(`,"actor":`, a.Actor)
	e.str(`,"action":`, a.Action)
	e.optStr(`,"order":`, a.Order)
	e.optStr(`,"account":`, a.Account)
	e.optStr(`,"addr":`, a.Addr)
	e.raw("}")
}

func (e *headEncoder) account(a *pendingAccount) {
	e.str(`{"owner":`, string(a.Owner))
	e.str(`,"account":`, a.Account)
	e.optStr(`,"email_hash":`, a.EmailHash)
	e.optStr(`,"order":`, a.Order)
	if !a.Created.IsZero() { // omitzero calls IsZero
		e.time(`,"created":`, a.Created)
	}
	if a.Rejected {
		e.raw(`,"rejected":true`)
	}
	if a.Held {
		e.raw(`,"held":true`)
	}
	e.raw("}")
}

func (e *headEncoder) mail(m *pendingMail) {
	e.str(`{"owner":`, string(m.Owner))
	e.str(`,"account":`, m.Account)
	e.str(`,"email":`, m.Email)
	e.str(`,"ref":`, m.Ref)
	e.raw("}")
}

func (e *headEncoder) kycMail(m *pendingKYCMail) {
	e.str(`{"owner":`, string(m.Owner))
	e.str(`,"order_id":`, m.OrderID)
	e.str(`,"email":`, m.Email)
	e.str(`,"link":`, m.Link)
	e.str(`,"ref":`, m.Ref)
	e.raw("}")
}

func (e *headEncoder) raw(s string) { e.b = append(e.b, s...) }

// str writes key and s, which json.Marshal writes in quotes as it is when
// every byte is printable ASCII other than '"' and '\\', and not one of
// the '<', '>' and '&' it escapes for HTML (DEL it leaves alone).
func (e *headEncoder) str(key, s string) {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			e.ok = false
			return
		}
	}
	e.b = append(e.b, key...)
	e.b = append(e.b, '"')
	e.b = append(e.b, s...)
	e.b = append(e.b, '"')
}

// optStr is str for an omitempty field.
func (e *headEncoder) optStr(key, s string) {
	if s != "" {
		e.str(key, s)
	}
}

// time writes key and t as time.Time's MarshalJSON does: AppendText in
// quotes, which refuses the times MarshalJSON refuses (a year outside
// 0-9999, an offset of a day or more).
func (e *headEncoder) time(key string, t time.Time) {
	e.b = append(e.b, key...)
	e.b = append(e.b, '"')
	b, err := t.AppendText(e.b)
	if err != nil {
		e.ok = false
		return
	}
	e.b = append(b, '"')
}

// decodeHead reads a head as json.Unmarshal does, or says it cannot
// (ok false, and a zero head): it takes only json.Marshal's shape (the
// fields in struct order, each at most once, no whitespace, no escape in
// a string, nothing after the head), in which json.Unmarshal would read
// the same head. The head's strings share head's memory.
func decodeHead(head string) (_ workHead, ok bool) {
	c := headCursor{s: head, ok: true}
	var h workHead
	c.expect("{")
	sep := ""
	if c.field(sep, "events") {
		for i := 0; c.next(i); i++ {
			h.Events = append(h.Events, c.event())
		}
		sep = ","
	}
	if c.field(sep, "audit") {
		h.Audit = c.audit()
		sep = ","
	}
	if c.field(sep, "accounts") {
		for i := 0; c.next(i); i++ {
			h.Accounts = append(h.Accounts, c.account())
		}
		sep = ","
	}
	if c.field(sep, "mails") {
		for i := 0; c.next(i); i++ {
			h.Mails = append(h.Mails, c.mail())
		}
		sep = ","
	}
	if c.field(sep, "kyc_mails") {
		for i := 0; c.next(i); i++ {
			h.KYCMails = append(h.KYCMails, c.kycMail())
		}
	}
	c.expect("}")
	if !c.ok || c.i != len(c.s) {
		return workHead{}, false
	}
	return h, true
}

// headCursor reads a head from s[i:]; ok turns false, for good, on the
// first byte it does not expect, and from then on it reads nothing.
type headCursor struct {
	s  string
	i  int
	ok bool
}

// next reads what comes before element i of an array ('[' before the
// first, ',' before another) and says whether an element follows;
// after the last, it reads the ']'. An empty array is refused: json.Marshal
// omits one, and json.Unmarshal would make it an empty slice, not nil.
func (c *headCursor) next(i int) bool {
	if i == 0 {
		c.expect("[")
		return c.ok
	}
	if c.skip(",") {
		return true
	}
	c.expect("]")
	return false
}

func (c *headCursor) event() workEvent {
	var ev workEvent
	ev.Type = c.str(`{"type":`)
	ev.Time = c.time(`,"time":`)
	c.expect("}")
	return ev
}

func (c *headCursor) audit() *AuditEntry {
	var a AuditEntry
	a.ID = c.str(`{"id":`)
	a.Time = c.time(`,"time":`)
	a.Actor = c.str(`,"actor":`)
	a.Action = c.str(`,"action":`)
	a.Order = c.optStr(`,"order":`)
	a.Account = c.optStr(`,"account":`)
	a.Addr = c.optStr(`,"addr":`)
	c.expect("}")
	return &a
}

func (c *headCursor) account() pendingAccount {
	var a pendingAccount
	a.Owner = Owner(c.str(`{"owner":`))
	a.Account = c.str(`,"account":`)
	a.EmailHash = c.optStr(`,"email_hash":`)
	a.Order = c.optStr(`,"order":`)
	if c.skip(`,"created":`) {
		a.Created = c.time("")
	}
	if c.skip(`,"rejected":`) {
		a.Rejected = c.bool()
	}
	if c.skip(`,"held":`) {
		a.Held = c.bool()
	}
	c.expect("}")
	return a
}

func (c *headCursor) mail() pendingMail {
	var m pendingMail
	m.Owner = Owner(c.str(`{"owner":`))
	m.Account = c.str(`,"account":`)
	m.Email = c.str(`,"email":`)
	m.Ref = c.str(`,"ref":`)
	c.expect("}")
	return m
}

func (c *headCursor) kycMail() pendingKYCMail {
	var m pendingKYCMail
	m.Owner = Owner(c.str(`{"owner":`))
	m.OrderID = c.str(`,"order_id":`)
	m.Email = c.str(`,"email":`)
	m.Link = c.str(`,"link":`)
	m.Ref = c.str(`,"ref":`)
	c.expect("}")
	return m
}

// skip reads lit when it comes next, and says whether it did.
func (c *headCursor) skip(lit string) bool {
	if c.ok && strings.HasPrefix(c.s[c.i:], lit) {
		c.i += len(lit)
		return true
	}
	return false
}

// expect reads lit, which must come next.
func (c *headCursor) expect(lit string) {
	if !c.skip(lit) {
		c.ok = false
	}
}

// field reads the name of an optional field of the head, after sep.
func (c *headCursor) field(sep, name string) bool {
	if !c.skip(sep) {
		return false
	}
	if c.skip(`"` + name + `":`) {
		return true
	}
	c.i -= len(sep) // not this field: the separator is the next one's
	return false
}

// str reads key, then a string without an escape, which json.Unmarshal
// would read as it is: no control byte (invalid JSON), no backslash, and
// valid UTF-8 (json.Unmarshal replaces invalid bytes with U+FFFD).
func (c *headCursor) str(key string) string {
	c.expect(key + `"`)
	if !c.ok {
		return ""
	}
	start, ascii := c.i, true
	for ; c.i < len(c.s); c.i++ {
		switch b := c.s[c.i]; {
		case b == '"':
			s := c.s[start:c.i]
			c.i++
			if !ascii && !utf8.ValidString(s) {
				c.ok = false
			}
			return s
		case b < 0x20 || b == '\\':
			c.ok = false
			return ""
		case b >= utf8.RuneSelf:
			ascii = false
		}
	}
	c.ok = false // unterminated
	return ""
}

// optStr reads an omitempty string field, when present.
func (c *headCursor) optStr(key string) string {
	if !c.skip(key) {
		return ""
	}
	return c.str("")
}

// time reads key, then a time as json.Unmarshal does: the quoted string,
// quotes and all, to time.Time's UnmarshalJSON.
func (c *headCursor) time(key string) time.Time {
	c.expect(key)
	start := c.i
	c.str("")
	if !c.ok {
		return time.Time{}
	}
	// A copy, on the stack: UnmarshalJSON takes bytes and keeps none.
	var buf [64]byte
	var t time.Time
	if err := t.UnmarshalJSON(append(buf[:0], c.s[start:c.i]...)); err != nil {
		c.ok = false
	}
	return t
}

func (c *headCursor) bool() bool {
	switch {
	case c.skip("true"):
		return true
	case c.skip("false"):
		return false
	}
	c.ok = false
	return false
}

// marshalHead is json.Marshal(h), by hand when appendHead can.
func marshalHead(h workHead) ([]byte, error) {
	if b, ok := appendHead(make([]byte, 0, headSizeHint), h); ok {
		return b, nil
	}
	return json.Marshal(h)
}

// unmarshalHead is json.Unmarshal of head, by hand when decodeHead can.
func unmarshalHead(head string) (workHead, error) {
	if h, ok := decodeHead(head); ok {
		return h, nil
	}
	var h workHead
	err := json.Unmarshal([]byte(head), &h)
	return h, err
}

// headSizeHint is the buffer appendHead starts with: enough for the head
// of a new order (its event, audit entry, account and mail).
const headSizeHint = 768
