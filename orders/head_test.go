package orders

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// typicalHead is the head of a new rejected order, as json.Marshal wrote
// it (478 bytes).
const typicalHead = `{"events":[{"type":"order.rejected","time":"2026-11-29T13:58:21.573491603Z"}],"audit":{"id":"sc_4f3a9b2c8d7e6f5a4b3c2d1e0f9a8b7c/v1","time":"2026-11-29T13:58:21.573491603Z","actor":"api:bench","action":"order.created","order":"sc_4f3a9b2c8d7e6f5a4b3c2d1e0f9a8b7c","account":"bench/acct-123456","addr":"198.18.0.0/24"},"accounts":[{"owner":"bench","account":"acct-123456","order":"sc_4f3a9b2c8d7e6f5a4b3c2d1e0f9a8b7c","created":"2026-11-29T13:58:21.573491603Z","rejected":true}]}`

// sampleHeads are heads of every kind of work: each field present and
// absent, each flag, times in UTC and at an offset.
func sampleHeads() map[string]workHead {
	now := time.Date(2026, 11, 29, 13, 58, 21, 573491603, time.UTC)
	paris := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("", 3600))
	round := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return map[string]workHead{
		"empty": {},
		"rejected": {
			Events: []workEvent{{Type: "order.rejected", Time: now}},
			Audit: &AuditEntry{ID: "sc_4f/v1", Time: now, Actor: "api:bench", Action: "order.created",
				Order: "sc_4f", Account: "bench/acct-1", Addr: "198.18.0.0/24"},
			Accounts: []pendingAccount{{Owner: "bench", Account: "acct-1", Order: "sc_4f", Created: now, Rejected: true}},
		},
		"held with mail": {
			Events:   []workEvent{{Type: "order.held", Time: now}},
			Audit:    &AuditEntry{ID: "sc_1/v1", Time: now, Actor: "checkout", Action: "order.created", Order: "sc_1"},
			Accounts: []pendingAccount{{Owner: CheckoutOwner, Account: "a1", Order: "sc_1", Created: paris, Held: true}},
			Mails:    []pendingMail{{Owner: CheckoutOwner, Account: "a1", Email: "ann@example.com", Ref: "sc_1"}},
		},
		"kyc mail": {
			Events:   []workEvent{{Type: "order.held", Time: round}},
			KYCMails: []pendingKYCMail{{Owner: "key:shop", OrderID: "o1", Email: "ann@example.com", Link: "https://k.example/x?a=1", Ref: "sc_2"}},
		},
		"events only": {
			Events: []workEvent{{Type: "order.cleared", Time: paris}, {Type: "order.flagged_for_termination", Time: paris}},
		},
		"audit only, no optional field": {
			Audit: &AuditEntry{ID: "sc_3/v2", Time: time.Time{}, Actor: "officer", Action: "order.reviewed"},
		},
		"accounts, every flag": {
			Accounts: []pendingAccount{
				{Owner: "key:shop", EmailHash: "h1"},
				{Owner: "key:shop", Account: "a2", Order: "sc_4"},
				{Owner: "key:shop", Account: "a3", Order: "sc_5", Created: now, Rejected: true, Held: true},
				{Owner: "", Account: ""},
			},
		},
		"mails only": {
			Mails:    []pendingMail{{Owner: "checkout", Account: "a", Email: "e", Ref: "r"}, {}},
			KYCMails: []pendingKYCMail{{}},
		},
		"DEL and quote-free punctuation": {
			Audit: &AuditEntry{ID: "x\x7f/'!#$%()*+,-.:;=?@[]^_`{|}~", Time: now, Actor: " ", Action: "a b"},
		},
	}
}

// checkDecoded says whether decodeHead(head) read what json.Unmarshal
// reads: the same values, times equal and at the same offset.
func checkDecoded(t *testing.T, head string, got workHead) {
	t.Helper()
	var want workHead
	if err := json.Unmarshal([]byte(head), &want); err != nil {
		t.Fatalf("decodeHead accepted %q, json.Unmarshal did not: %v", head, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("decodeHead(%q) differs from json.Unmarshal (-want +got):\n%s", head, diff)
	}
	wantJSON, errWant := json.Marshal(want)
	gotJSON, errGot := json.Marshal(got)
	if errWant != nil || errGot != nil || !bytes.Equal(wantJSON, gotJSON) {
		t.Fatalf("decodeHead(%q) encodes as %s (%v), json.Unmarshal's as %s (%v)", head, gotJSON, errGot, wantJSON, errWant)
	}
}

// The hand encoder writes json.Marshal's bytes, and the hand decoder
// reads them back, with no fallback, as json.Unmarshal does.
func TestHeadCodec(t *testing.T) {
	t.Parallel()
	for name, h := range sampleHeads() {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(h)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := appendHead([]byte("prefix"), h)
			if !ok || string(got) != "prefix"+string(want) {
				t.Fatalf("appendHead = %s, %v; want %s", got, ok, want)
			}
			dec, ok := decodeHead(string(want))
			if !ok {
				t.Fatalf("decodeHead(%s) gave up", want)
			}
			checkDecoded(t, string(want), dec)
		})
	}
	h, ok := decodeHead(typicalHead)
	if !ok {
		t.Fatalf("decodeHead gave up on the typical head")
	}
	checkDecoded(t, typicalHead, h)
	if b, ok := appendHead(nil, h); !ok || string(b) != typicalHead {
		t.Fatalf("appendHead(typical) = %s, %v", b, ok)
	}
}

// What the hand encoder cannot write as it is goes to json.Marshal, and
// marshalHead's output is json.Marshal's either way.
func TestHeadEncoderFallsBack(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	audit := func(s string) workHead {
		return workHead{Audit: &AuditEntry{ID: "id", Time: now, Actor: "a", Action: "b", Addr: s}}
	}
	for name, h := range map[string]workHead{
		"quote":          audit(`a"b`),
		"backslash":      audit(`a\b`),
		"html":           audit("<b>"),
		"ampersand":      audit("a&b"),
		"newline":        audit("a\nb"),
		"NUL":            audit("a\x00b"),
		"UTF-8":          audit("Zoë"),
		"line separator": audit("a\u2028b"),
		"invalid UTF-8":  audit("a\xffb"),
		"year 10000":     {Events: []workEvent{{Type: "t", Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}},
		"year -1":        {Accounts: []pendingAccount{{Created: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}}},
		"offset 24h":     {Events: []workEvent{{Type: "t", Time: now.In(time.FixedZone("", 24*3600))}}},
		"before":         {Audit: &AuditEntry{ID: "id", Time: now, Before: json.RawMessage(`{}`)}},
		"after":          {Audit: &AuditEntry{ID: "id", Time: now, After: json.RawMessage(`{}`)}},
		"kyc link":       {KYCMails: []pendingKYCMail{{Link: "https://k?a=1&b=2"}}},
	} {
		t.Run(name, func(t *testing.T) {
			if b, ok := appendHead([]byte("prefix"), h); ok || string(b) != "prefix" {
				t.Fatalf("appendHead = %s, %v; want prefix and a fallback", b, ok)
			}
			want, wantErr := json.Marshal(h)
			got, err := marshalHead(h)
			if (err == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
				t.Fatalf("marshalHead = %s, %v; json.Marshal: %s, %v", got, err, want, wantErr)
			}
		})
	}
}

// The hand decoder gives up on any other shape, and unmarshalHead then
// reads what json.Unmarshal reads.
func TestHeadDecoderGivesUp(t *testing.T) {
	t.Parallel()
	for name, head := range map[string]string{
		"space":             `{ "events":[{"type":"t","time":"2026-01-01T00:00:00Z"}]}`,
		"trailing space":    `{"mails":[{"owner":"o","account":"a","email":"e","ref":"r"}]} `,
		"trailing data":     `{}{}`,
		"unknown field":     `{"events":[{"type":"t","time":"2026-01-01T00:00:00Z","data":1}]}`,
		"unknown top field": `{"extra":1}`,
		"other order":       `{"audit":{"id":"i","time":"2026-01-01T00:00:00Z","actor":"a","action":"b"},"events":[{"type":"t","time":"2026-01-01T00:00:00Z"}]}`,
		"escape":            `{"mails":[{"owner":"o","account":"a","email":"e\u0026","ref":"r"}]}`,
		"escaped quote":     `{"mails":[{"owner":"o","account":"a","email":"e\"","ref":"r"}]}`,
		"invalid UTF-8":     "{\"mails\":[{\"owner\":\"o\",\"account\":\"a\",\"email\":\"\xff\",\"ref\":\"r\"}]}",
		"null":              `{"audit":null}`,
		"empty list":        `{"events":[]}`,
		"missing field":     `{"mails":[{"owner":"o","account":"a","ref":"r"}]}`,
		"upper-case key":    `{"Events":[{"type":"t","time":"2026-01-01T00:00:00Z"}]}`,
		"bad time":          `{"events":[{"type":"t","time":"2026-01-01"}]}`,
		"number":            `{"accounts":[{"owner":"o","account":"a","held":1}]}`,
		"duplicate":         `{"events":[{"type":"t","time":"2026-01-01T00:00:00Z"}],"events":[{"type":"u","time":"2026-01-01T00:00:00Z"}]}`,
		"truncated":         `{"events":[{"type":"t","time":"2026-01-01T00:00:00Z"}]`,
		"not an object":     `[]`,
		"empty":             ``,
	} {
		t.Run(name, func(t *testing.T) {
			if h, ok := decodeHead(head); ok {
				t.Fatalf("decodeHead(%s) = %+v, want it to give up", head, h)
			}
			var want workHead
			wantErr := json.Unmarshal([]byte(head), &want)
			got, err := unmarshalHead(head)
			if (err == nil) != (wantErr == nil) || !cmp.Equal(got, want) {
				t.Fatalf("unmarshalHead = %+v, %v; json.Unmarshal: %+v, %v", got, err, want, wantErr)
			}
		})
	}
}

// plainString says whether json.Marshal writes s as it is, in quotes.
func plainString(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x20 || r >= 0x80 || strings.ContainsRune(`"\<>&`, r)
	})
}

// FuzzHeadEncoding: on heads of fuzzed strings, times and flags, the hand
// encoder writes json.Marshal's bytes whenever it says ok, says ok
// whenever every string is plain and json.Marshal takes the times, and
// the hand decoder reads its output back without falling back.
func FuzzHeadEncoding(f *testing.F) {
	f.Add("order.rejected", "api:bench", "sc_4f3a9b2c8d7e6f5a4b3c2d1e0f9a8b7c", "", int64(1795960701), uint32(573491603), int32(0), uint8(0xff))
	f.Add("a<b", "", "Zoë", "x", int64(-62135596800), uint32(0), int32(3600), uint8(0x15))
	f.Add("", "", "", "", int64(253402300800), uint32(1), int32(-86399), uint8(0x2a))
	f.Fuzz(func(t *testing.T, s1, s2, s3, s4 string, sec int64, nsec uint32, offset int32, flags uint8) {
		tm := time.Unix(sec, int64(nsec%1e9)).In(time.FixedZone("", int(offset)))
		created := tm
		if flags&0x40 != 0 {
			created = time.Time{}
		}
		var h workHead
		if flags&0x01 != 0 {
			h.Events = []workEvent{{Type: s1, Time: tm}, {Type: s4, Time: tm}}
		}
		if flags&0x02 != 0 {
			h.Audit = &AuditEntry{ID: s1, Time: tm, Actor: s2, Action: s3, Order: s4, Account: s2, Addr: s3}
		}
		if flags&0x04 != 0 {
			h.Accounts = []pendingAccount{
				{Owner: Owner(s1), Account: s2, EmailHash: s3, Order: s4, Created: created, Rejected: flags&0x10 != 0, Held: flags&0x20 != 0},
				{Owner: Owner(s4), Account: s3},
			}
		}
		if flags&0x08 != 0 {
			h.Mails = []pendingMail{{Owner: Owner(s1), Account: s2, Email: s3, Ref: s4}}
		}
		if flags&0x80 != 0 {
			h.KYCMails = []pendingKYCMail{{Owner: Owner(s4), OrderID: s3, Email: s2, Link: s1, Ref: s4}}
		}
		want, wantErr := json.Marshal(h)
		got, ok := appendHead(nil, h)
		if ok && (wantErr != nil || !bytes.Equal(got, want)) {
			t.Fatalf("appendHead = %s; json.Marshal: %s, %v", got, want, wantErr)
		}
		plain := plainString(s1) && plainString(s2) && plainString(s3) && plainString(s4)
		if !ok && plain && wantErr == nil {
			t.Fatalf("appendHead fell back on %s", want)
		}
		if !ok {
			return
		}
		dec, ok := decodeHead(string(got))
		if !ok {
			t.Fatalf("decodeHead gave up on appendHead's %s", got)
		}
		checkDecoded(t, string(got), dec)
	})
}

// FuzzHeadDecoding: whatever the head, when the hand decoder reads it,
// json.Unmarshal reads it too, and the same.
func FuzzHeadDecoding(f *testing.F) {
	for _, h := range sampleHeads() {
		b, err := json.Marshal(h)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(typicalHead)
	f.Add(`{"accounts":[{"owner":"o","account":"a","rejected":false,"held":true}]}`)
	f.Add(`{"events":[{"type":"t","time":"2026-01-01T00:00:00+23:59"}]}`)
	f.Add(`{"events":[{"type":"Zoë","time":"2026-01-01T00:00:00.5-01:30"}]}`)
	f.Fuzz(func(t *testing.T, head string) {
		h, ok := decodeHead(head)
		if !ok {
			if !cmp.Equal(h, workHead{}) {
				t.Fatalf("decodeHead gave up with %+v", h)
			}
			return
		}
		checkDecoded(t, head, h)
	})
}

func BenchmarkHeadEncode(b *testing.B) {
	var h workHead
	if err := json.Unmarshal([]byte(typicalHead), &h); err != nil {
		b.Fatal(err)
	}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := marshalHead(h); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(h); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkHeadDecode(b *testing.B) {
	// A string of its own, as go-redis hands the relay one.
	head := strings.Clone(typicalHead)
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := unmarshalHead(head); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var h workHead
			if err := json.Unmarshal([]byte(head), &h); err != nil {
				b.Fatal(err)
			}
		}
	})
}
