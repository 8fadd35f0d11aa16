package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
		Before: before, After: after})
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
			e, err := normalize(Entry{ID: "i", Time: at, Actor: "officer:ann", Action: "blocklist.added", After: json.RawMessage(tt.doc)})
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
		if _, err := normalize(Entry{ID: "i", Time: at, Actor: "a", Action: "b", After: json.RawMessage(doc)}); err == nil {
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
		if _, err := normalize(e); err != nil {
			b.Fatal(err)
		}
	}
}
