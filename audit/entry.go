package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vpsgate/gateway/internal/kind"
	"github.com/vpsgate/gateway/internal/strictjson"
)

// Entry is one audit record. Append sets Seq, Prev and Hash; the caller
// sets the rest.
type Entry struct {
	ID      string          `json:"id"`                // unique; Append of an ID already in the log returns the stored entry and changes nothing
	Seq     int64           `json:"seq"`               // set by Append: 1, 2, 3, ...
	Time    time.Time       `json:"time"`              // when it happened; Append stores it in UTC
	Actor   string          `json:"actor"`             // "key:<name>", "officer:<name>", "admin:<name>", "customer", "system"
	Action  string          `json:"action"`            // "order.created", "order.reviewed", "order.cleared", "email.verified", "blocklist.added", ...
	Order   string          `json:"order,omitempty"`   // screening id
	Account string          `json:"account,omitempty"` // "<owner>/<account id>"
	Addr    string          `json:"addr,omitempty"`    // masked client address
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
	Prev    string          `json:"prev"` // set by Append: the previous entry's Hash ("" for seq 1)
	Hash    string          `json:"hash"` // set by Append: hex SHA-256 of the canonical encoding (see the package doc)
}

// Field limits. They keep one entry, and the Redis keys derived from its
// fields (the secondary indexes), small.
const (
	maxIDLen    = 200
	maxFieldLen = 500
	maxDocLen   = 64 << 10 // Before and After, each
)

// canonical is the entry without Hash, in the order the package doc
// specifies. encoding/json writes struct fields in declaration order (an
// embedded struct's in its place) and compacts json.RawMessage, so the
// bytes depend only on the values.
type canonical struct {
	canonicalHead
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	Prev   string          `json:"prev"`
}

func (e Entry) head() canonicalHead {
	return canonicalHead{
		ID: e.ID, Seq: e.Seq, Time: e.Time.UTC().Format(time.RFC3339Nano),
		Actor: e.Actor, Action: e.Action, Order: e.Order, Account: e.Account, Addr: e.Addr,
	}
}

// Canonical returns the canonical encoding of e: the bytes its Hash is the
// SHA-256 of. It ignores e.Hash.
func (e Entry) Canonical() ([]byte, error) {
	b, err := json.Marshal(canonical{canonicalHead: e.head(), Before: e.Before, After: e.After, Prev: e.Prev})
	if err != nil {
		return nil, fmt.Errorf("encoding entry %q: %w", e.ID, err)
	}
	return b, nil
}

// ComputeHash returns the hex SHA-256 of e's canonical encoding.
func (e Entry) ComputeHash() (string, error) {
	b, err := e.Canonical()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// canonicalHead is canonical's members before the documents.
type canonicalHead struct {
	ID      string `json:"id"`
	Seq     int64  `json:"seq"`
	Time    string `json:"time"`
	Actor   string `json:"actor"`
	Action  string `json:"action"`
	Order   string `json:"order,omitempty"`
	Account string `json:"account,omitempty"`
	Addr    string `json:"addr,omitempty"`
}

// canonicalOf is Canonical for a normalized entry, whose Before and After
// are in canonical form (escapeDoc): they are appended as they are, as
// is Prev when it is hex (a hash; else it is encoded). The documents are
// most of an entry (an order's whole answer), and json.Marshal would scan
// them again to compact them.
//
// Its buffer has room for the hash member seal adds (hashMemberLen).
func (e Entry) canonicalOf() ([]byte, error) {
	head, err := json.Marshal(e.head())
	if err != nil {
		return nil, fmt.Errorf("encoding entry %q: %w", e.ID, err)
	}
	out := make([]byte, 0, len(head)+len(e.Before)+len(e.After)+len(e.Prev)+len(`,"before":,"after":,"prev":""`)+hashMemberLen)
	out = append(out, head[:len(head)-1]...) // without its closing brace
	if len(e.Before) > 0 {
		out = append(append(out, `,"before":`...), e.Before...)
	}
	if len(e.After) > 0 {
		out = append(append(out, `,"after":`...), e.After...)
	}
	out = append(out, `,"prev":`...)
	if isHex(e.Prev) {
		out = append(append(append(out, '"'), e.Prev...), '"')
	} else {
		p, err := json.Marshal(e.Prev)
		if err != nil {
			return nil, fmt.Errorf("encoding entry %q: %w", e.ID, err)
		}
		out = append(out, p...)
	}
	return append(out, '}'), nil
}

func isHex(s string) bool {
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// escapeDoc turns a compacted document into the form Canonical's
// json.Marshal writes a json.RawMessage in: with <, >, &, U+2028 and
// U+2029 escaped. Normalized entries carry their documents in this form,
// so that seal need not encode them again.
func escapeDoc(compact []byte) []byte {
	// U+2028 and U+2029 are E2 80 A8 and E2 80 A9 in UTF-8; looking for
	// E2 80 (and the three ASCII bytes apart) keeps both scans on
	// bytes' fast paths, which ContainsAny with runes outside ASCII
	// leaves. A false alarm only costs HTMLEscape's copy.
	if bytes.IndexAny(compact, "<>&") < 0 && !bytes.Contains(compact, []byte("\xe2\x80")) {
		return compact
	}
	var esc bytes.Buffer
	json.HTMLEscape(&esc, compact)
	return esc.Bytes()
}

// line is the stored form of a sealed entry (Redis and the S3 archive): the
// canonical encoding with `,"hash":"<hex>"` before its closing brace, so
// that removing that member gives back the hashed bytes.
func (e Entry) line() ([]byte, error) {
	b, err := e.Canonical()
	if err != nil {
		return nil, err
	}
	return withHash(b, e.Hash), nil
}

// hashMemberLen is the length of `,"hash":"<hex SHA-256>"`.
const hashMemberLen = len(`,"hash":""`) + 2*sha256.Size

// withHash is canonical with `,"hash":"<hash>"` before its closing brace,
// in a new buffer.
func withHash(canonical []byte, hash string) []byte {
	return appendHash(make([]byte, 0, len(canonical)+len(`,"hash":""`)+len(hash)), canonical, hash)
}

// appendHash appends canonical to dst with `,"hash":"<hash>"` before its
// closing brace. dst may be canonical[:0]: each byte is read before it
// is written over.
func appendHash(dst, canonical []byte, hash string) []byte {
	dst = append(dst, canonical[:len(canonical)-1]...)
	dst = append(dst, `,"hash":"`...)
	dst = append(dst, hash...)
	return append(dst, `"}`...)
}

// seal sets e.Hash from e's canonical encoding and returns the stored
// line, encoding the entry once for both. e must be normalized: its
// documents are in their canonical form already (see escapeDoc), so
// they are appended as they are (canonicalOf), byte for byte what
// Canonical writes, without json.Marshal scanning them again.
func (e *Entry) seal() ([]byte, error) {
	b, err := e.canonicalOf()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	e.Hash = hex.EncodeToString(sum[:])
	// In place: canonicalOf left room for the hash member, and the
	// canonical bytes are not needed again (a 2 KB copy per entry saved).
	return appendHash(b[:0], b, e.Hash), nil
}

// parseLine decodes a stored entry strictly: an unknown or repeated
// member, or trailing data, is tampering as much as an edited value.
func parseLine(b []byte) (Entry, error) {
	var e Entry
	if err := strictjson.Unmarshal(b, &e); err != nil {
		return Entry{}, fmt.Errorf("decoding entry: %w", err)
	}
	return e, nil
}

// isCompact says whether doc, valid JSON, has no whitespace outside its
// strings: json.Compact would return it unchanged.
func isCompact(doc []byte) bool {
	inString := false
	for i := 0; i < len(doc); i++ {
		switch c := doc[i]; {
		case inString && c == '\\':
			i++ // the escaped byte
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return false
		}
	}
	return true
}

// ErrInvalidInput marks an entry Append refuses.
var ErrInvalidInput = kind.New(kind.ErrInvalidInput, "invalid audit entry")

// normalize checks the caller's fields and brings them to the form that is
// hashed: time in UTC, Before and After in canonical form (escapeDoc).
// Most documents come compact already (json.Marshal's output: the order
// relay's answers, 1-2 KB each, are most of the log), so a valid one with
// no whitespace between tokens is taken as it is rather than copied by
// json.Compact, which gives the same bytes: json.Valid and isCompact scan
// it without allocating. The returned entry may then share the caller's
// document bytes.
//
// marshaled declares the documents json.Marshal's output
// (AppendBatchMarshaled): valid, compact and HTML-escaped. They are then
// not scanned as JSON at all; the size bound, the null check and
// escapeDoc still apply.
func normalize(e Entry, marshaled bool) (Entry, error) {
	var errs []error
	bad := func(field, problem string) {
		errs = append(errs, fmt.Errorf("%w: %s %s", ErrInvalidInput, field, problem))
	}
	text := func(field, v string, required bool, max int) {
		switch {
		case v == "" && required:
			bad(field, "is required")
		case len(v) > max:
			bad(field, fmt.Sprintf("is longer than %d bytes", max))
		case !utf8.ValidString(v):
			bad(field, "is not valid UTF-8")
		case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			bad(field, "contains control characters")
		}
	}
	text("id", e.ID, true, maxIDLen)
	text("actor", e.Actor, true, maxFieldLen)
	text("action", e.Action, true, maxFieldLen)
	text("order", e.Order, false, maxFieldLen)
	text("account", e.Account, false, maxFieldLen)
	text("addr", e.Addr, false, maxFieldLen)
	if e.Time.IsZero() {
		bad("time", "is required")
	} else if y := e.Time.UTC().Year(); y < 1 || y > 9999 {
		bad("time", "is outside the years RFC 3339 can write")
	}
	doc := func(field string, raw json.RawMessage) json.RawMessage {
		if len(raw) == 0 {
			return nil
		}
		if !marshaled && (!json.Valid(raw) || !isCompact(raw)) {
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				bad(field, "is not JSON: "+err.Error())
				return nil
			}
			raw = buf.Bytes()
		}
		if len(raw) > maxDocLen {
			bad(field, fmt.Sprintf("is longer than %d bytes", maxDocLen))
		}
		if string(raw) == "null" {
			return nil
		}
		return escapeDoc(raw)
	}
	e.Before, e.After = doc("before", e.Before), doc("after", e.After)
	e.Time = e.Time.UTC()
	e.Seq, e.Prev, e.Hash = 0, "", ""
	return e, errors.Join(errs...)
}
