package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// answerDoc is a document as the order relay hands them over: an order's
// answer as json.Marshal writes it (compact, <, > and & escaped).
const answerDoc = `{"screening_id":"scr_Bq1Zd2K7SaZpgNMRlY61xQ","order_id":"load-1","status":"rejected","decision":"reject","score":90,` +
	`"reasons":[{"code":"minfraud_ip_risk_high","detail":"minFraud rates the IP address\u0027s risk at 99 (of 99) \u003c\u0026\u003e."}],` +
	`"requirements":{"email_verification":"not_required","kyc":"not_required","manual_review":"not_required"},` +
	`"links":{"kyc":"https://shop.example/_gateway/kyc?token=a\u0026b=\"c d\""},"note":"a \"quoted\" \\ back  slash"}`

// oldNormalizedDoc is normalize's document before it took compact
// documents as they are: json.Compact into a new buffer, then escapeDoc.
func oldNormalizedDoc(t testing.TB, raw string) json.RawMessage {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	return escapeDoc(buf.Bytes())
}

// A document that comes compact (the order relay's) is taken as it is,
// not copied, and the entry hashes exactly as it did when normalize
// compacted every document: the chain's hashes, and Verify, are
// unchanged.
func TestNormalizeCompactDocumentHashesAsBefore(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.UTC)
	before := []byte(`{"status":"held","links":{"verify_email":"https://x.test/?a=1\u0026b=2"}}`)
	after := []byte(answerDoc)
	e, err := normalize(Entry{ID: "scr_x/v2", Time: at, Actor: "officer", Action: "order.reviewed", Order: "scr_x",
		Before: before, After: after}, false)
	if err != nil {
		t.Fatal(err)
	}
	if &e.After[0] != &after[0] || &e.Before[0] != &before[0] {
		t.Errorf("normalize copied a compact document")
	}
	old := e
	old.Before, old.After = oldNormalizedDoc(t, string(before)), oldNormalizedDoc(t, answerDoc)
	if !bytes.Equal(e.After, old.After) || !bytes.Equal(e.Before, old.Before) {
		t.Fatalf("normalized documents differ from the compacted ones:\n%s\n%s", e.After, old.After)
	}
	e.Seq, e.Prev = 3, "ab12"
	old.Seq, old.Prev = 3, "ab12"
	if _, err := e.seal(); err != nil {
		t.Fatal(err)
	}
	canon, err := old.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(canon)
	if want := hex.EncodeToString(sum[:]); e.Hash != want {
		t.Errorf("Hash = %s, want %s (as before)", e.Hash, want)
	}
}

// A caller's document that is not compact is still compacted (and one that
// is not JSON refused), whoever the caller: only the bytes json.Compact
// would leave unchanged are taken as they are.
func TestNormalizeCompactsOtherDocuments(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name, doc, want string
	}{
		{"spaced", ` { "a" : [ 1 , 2 ] } `, `{"a":[1,2]}`},
		{"newlines", "{\n\t\"reason\": \"officer action\"\r\n}", `{"reason":"officer action"}`},
		{"space after an escaped quote", `{"a":"\"", "b":1}`, `{"a":"\"","b":1}`},
		{"space after an escaped backslash", `{"a":"\\" ,"b":1}`, `{"a":"\\","b":1}`},
		{"spaces only in strings", `{"a":"x  y","b":" "}`, `{"a":"x  y","b":" "}`},
		{"html", `{ "a":"<&>" }`, `{"a":"\u003c\u0026\u003e"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := normalize(Entry{ID: "i", Time: at, Actor: "officer:ann", Action: "blocklist.added", After: json.RawMessage(tt.doc)}, false)
			if err != nil {
				t.Fatal(err)
			}
			if string(e.After) != tt.want {
				t.Errorf("normalize(%q).After = %s, want %s", tt.doc, e.After, tt.want)
			}
			if !bytes.Equal(e.After, oldNormalizedDoc(t, tt.doc)) {
				t.Errorf("normalize(%q).After = %s, not what json.Compact and escapeDoc give", tt.doc, e.After)
			}
		})
	}
	for _, doc := range []string{`{"a":`, `{"a":1}x`, `{'a':1}`} {
		if _, err := normalize(Entry{ID: "i", Time: at, Actor: "a", Action: "b", After: json.RawMessage(doc)}, false); err == nil {
			t.Errorf("normalize(%q): no error", doc)
		}
	}
}

// FuzzIsCompact: for valid JSON, isCompact says exactly whether
// json.Compact leaves the bytes unchanged.
func FuzzIsCompact(f *testing.F) {
	for _, s := range []string{answerDoc, ` {"a" : 1}`, `{"a":"\\"}`, `"\" "`, `[1,2, 3]`, `"a\tb"`, `{"a":"\u0022 "}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if !json.Valid(doc) {
			return
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, doc); err != nil {
			t.Fatal(err)
		}
		if got, want := isCompact(doc), bytes.Equal(buf.Bytes(), doc); got != want {
			t.Errorf("isCompact(%q) = %v, want %v", doc, got, want)
		}
	})
}

// BenchmarkNormalize normalizes the audit entry of a new rejected order
// (its after: an answer of 0.7 KB, compact).
func BenchmarkNormalize(b *testing.B) {
	e := Entry{ID: "scr_x/v1", Time: time.Now(), Actor: "key:shop", Action: "order.created", Order: "scr_x", After: json.RawMessage(answerDoc)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := normalize(e, false); err != nil {
			b.Fatal(err)
		}
	}
}

// marshaledDocs are documents as json.Marshal writes them, with what
// escapeDoc and Compact care about: <, > and &, U+2028 and U+2029,
// quotes, backslashes, spaces in strings, other Unicode, nesting.
func marshaledDocs(t testing.TB, extra ...string) [][]byte {
	t.Helper()
	vals := []any{
		map[string]any{"status": "held", "links": map[string]string{"kyc": "https://x.test/?a=1&b=<2>"}},
		map[string]any{"note": "a \"quoted\" \\ back  slash\u2028\u2029 é 😀", "n": 1.5, "ok": true, "none": nil, "list": []int{1, 2}},
		"just a string", 42, []string{},
	}
	for _, s := range extra {
		vals = append(vals, map[string]string{s: s}, []string{s})
	}
	docs := make([][]byte, 0, len(vals))
	for _, v := range vals {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	return docs
}

// checkMarshaledAsChecked: doc, declared json.Marshal's output, is
// normalized and sealed to the same bytes and hash as when it is checked.
func checkMarshaledAsChecked(t *testing.T, doc []byte) {
	t.Helper()
	e := Entry{ID: "scr_x/v2", Time: time.Unix(1, 5), Actor: "key:shop", Action: "order.reviewed", Before: doc, After: doc}
	checked, err := normalize(e, false)
	if err != nil {
		t.Fatalf("normalize(%s, checked) = %v", doc, err)
	}
	trusted, err := normalize(e, true)
	if err != nil {
		t.Fatalf("normalize(%s, marshaled) = %v", doc, err)
	}
	if !bytes.Equal(trusted.After, checked.After) || !bytes.Equal(trusted.Before, checked.Before) {
		t.Fatalf("normalize(%s): marshaled %s, checked %s", doc, trusted.After, checked.After)
	}
	checked.Seq, trusted.Seq = 7, 7
	lc, err := checked.seal()
	if err != nil {
		t.Fatal(err)
	}
	lt, err := trusted.seal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(lt, lc) || trusted.Hash != checked.Hash {
		t.Errorf("sealed line of %s: marshaled %s, checked %s", doc, lt, lc)
	}
}

// Documents declared json.Marshal's output (AppendBatchMarshaled) are
// stored and hashed exactly as checked ones.
func TestNormalizeMarshaledAsChecked(t *testing.T) {
	for _, doc := range marshaledDocs(t) {
		checkMarshaledAsChecked(t, doc)
	}
}

func FuzzNormalizeMarshaled(f *testing.F) {
	for _, s := range []string{"", "<a&b>", "\u2028", "\\\" \t", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, doc := range marshaledDocs(t, s) {
			checkMarshaledAsChecked(t, doc)
		}
	})
}

// Declared documents are still bounded in size, and null is still no
// document.
func TestNormalizeMarshaledKeepsBounds(t *testing.T) {
	e := Entry{ID: "i", Time: time.Unix(1, 0), Actor: "a", Action: "b", Before: []byte("null")}
	e.After, _ = json.Marshal(strings.Repeat("x", maxDocLen))
	if _, err := normalize(e, true); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("normalize(%d-byte document, marshaled) = %v, want ErrInvalidInput", len(e.After), err)
	}
	e.After = []byte(`{"a":1}`)
	n, err := normalize(e, true)
	if err != nil || n.Before != nil {
		t.Errorf("normalize(before null, marshaled) = before %q, %v; want none", n.Before, err)
	}
}

// BenchmarkNormalizeMarshaled is BenchmarkNormalize with the document
// declared json.Marshal's output (AppendBatchMarshaled).
func BenchmarkNormalizeMarshaled(b *testing.B) {
	e := Entry{ID: "scr_x/v1", Time: time.Now(), Actor: "key:shop", Action: "order.created", Order: "scr_x", After: json.RawMessage(answerDoc)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := normalize(e, true); err != nil {
			b.Fatal(err)
		}
	}
}
