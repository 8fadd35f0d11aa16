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
			})
			if err != nil {
				t.Fatal(err)
			}
			e.Seq, e.Prev = 7, tt.prev
			want, err := e.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			line, err := e.seal()
			if err != nil {
				t.Fatal(err)
			}
			if wantLine := withHash(want, e.Hash); !bytes.Equal(line, wantLine) {
				t.Errorf("seal = %s\nwant   %s", line, wantLine)
			}
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
			Before: json.RawMessage(before), After: json.RawMessage(after)})
		if err != nil {
			return
		}
		e.Seq, e.Prev = 1, prev
		want, err := e.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		line, err := e.seal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(line, withHash(want, e.Hash)) {
			t.Fatalf("seal = %s\nwant   %s", line, withHash(want, e.Hash))
		}
	})
}
