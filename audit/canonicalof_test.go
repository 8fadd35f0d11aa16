package audit

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestSealCanonical: the line seal writes for a normalized entry is byte
// for byte the one Canonical's json.Marshal gives, so that the hashes of
// chains written before seal appended the documents as they are still
// verify.
func TestSealCanonical(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	tests := []struct {
		name          string
		before, after string
		prev          string
	}{
		{"no documents", "", "", ""},
		{"after only", "", `{"status":"rejected","score":99}`, "ab12"},
		{"spaced", " { \"a\" : [ 1 , 2 ] } ", "\n{\"b\":\t\"c\"}\n", "00ff"},
		{"html and separators", `{"link":"https://x.test/?a=1&b=<2>","s":"` + "\u2028\u2029" + `"}`, `"<&>"`, "deadbeef"},
		{"separator only", "", `"a` + "\u2028" + `b"`, "ab"},
		{"escaped already", `{"a":"\u003c\u0026"}`, `{"b":"\"quoted\" \\ back"}`, ""},
		{"unicode", `{"name":"Zoë 東京 😀"}`, `[true,false,null,1e3,-0.5]`, "0123456789abcdef"},
		{"null documents", "null", " null ", ""},
		{"odd prev", "", `{}`, "not hex \"<x>\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := normalize(Entry{
				ID: "id-<1>", Time: at, Actor: "key:shop&co", Action: "order.created",
				Order: "o1", Account: "shop/42", Addr: "192.0.2.0/24",
				Before: json.RawMessage(tt.before), After: json.RawMessage(tt.after),
			}, false)
			if err != nil {
				t.Fatal(err)
			}
			e.Seq, e.Prev = 7, tt.prev
			checkSeal(t, &e)
			if h, _ := e.ComputeHash(); h != e.Hash {
				t.Errorf("Hash = %s, ComputeHash = %s", e.Hash, h)
			}
		})
	}
}

// FuzzSealCanonical: for any entry normalize accepts, seal's line is
// Canonical's encoding with the hash of exactly those bytes.
func FuzzSealCanonical(f *testing.F) {
	f.Add("i", "a", `{"a":"<b>"}`, ` [1, "&"] `, "ff")
	f.Add("i", "a", "", `"\u2028"`, "x\"y")
	f.Fuzz(func(t *testing.T, id, actor, before, after, prev string) {
		e, err := normalize(Entry{ID: id, Time: time.Unix(1, 0), Actor: actor, Action: "x",
			Before: json.RawMessage(before), After: json.RawMessage(after)}, false)
		if err != nil {
			return
		}
		e.Seq, e.Prev = 1, prev
		checkSeal(t, &e)
	})
}

// checkSeal seals e and checks the line against Canonical's encoding.
func checkSeal(t *testing.T, e *Entry) {
	t.Helper()
	want, err := e.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	line, err := e.seal()
	if err != nil {
		t.Fatal(err)
	}
	if wantLine := withHash(want, e.Hash); !bytes.Equal(line, wantLine) {
		t.Fatalf("seal = %s\nwant   %s", line, wantLine)
	}
}

// BenchmarkSeal compares the encoding seal uses (documents appended as
// they are) with Canonical (json.Marshal compacting them again), for an
// entry carrying an order's answer as After, as the relay's are.
func BenchmarkSeal(b *testing.B) {
	answer := `{"screening_id":"sc_3f9a1c0b7d2e4f6a8b0c1d2e3f4a5b6c","order_id":"ORD-100042","owner":"key:shop",` +
		`"status":"rejected","decision":"reject","score":99,"reasons":[{"code":"minfraud_risk","detail":"minFraud risk score 99 is at or above reject_at 90"},` +
		`{"code":"ip_velocity","detail":"12 orders from this address in the last hour"},{"code":"email_domain","detail":"disposable email domain"}],` +
		`"requirements":{"email_verification":"not_required","kyc":"not_required","manual_review":"not_required"},"links":{},"created_at":"2026-11-29T10:00:00.123456789Z"}`
	e, err := normalize(Entry{ID: "o1:1", Time: time.Now(), Actor: "key:shop", Action: "order.created",
		Order: "sc_3f9a1c0b7d2e4f6a8b0c1d2e3f4a5b6c", Account: "key:shop/42", Addr: "192.0.2.0/24", After: json.RawMessage(answer)}, false)
	if err != nil {
		b.Fatal(err)
	}
	e.Seq, e.Prev = 42, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	b.Run("Canonical", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.Canonical(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("canonicalOf", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.canonicalOf(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
