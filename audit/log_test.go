package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAppendChainsEntries(t *testing.T) {
	t.Parallel()
	onBackends(t, 100, func(t *testing.T, e *env) {
		got := e.appendN(t, 5)
		prev := ""
		for i, g := range got {
			if g.Seq != int64(i+1) || g.Prev != prev {
				t.Errorf("entry %d: seq %d prev %q, want seq %d prev %q", i, g.Seq, g.Prev, i+1, prev)
			}
			h, err := g.ComputeHash()
			if err != nil || h != g.Hash {
				t.Errorf("entry %d: hash %q, recomputed %q (%v)", i, g.Hash, h, err)
			}
			prev = g.Hash
		}
		// Stored as given, Before compacted, time in UTC.
		if string(got[0].Before) != `{"state":"held"}` {
			t.Errorf("Before = %s, want it compacted", got[0].Before)
		}
		stored, err := e.log.bySeq(t.Context(), 3)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got[2], stored); diff != "" {
			t.Errorf("stored entry differs from Append's answer (-append +stored):\n%s", diff)
		}
		head, err := e.log.Head(t.Context())
		if err != nil || head.Seq != 5 || head.Hash != got[4].Hash {
			t.Errorf("Head = %+v, %v; want seq 5 hash %s", head, err, got[4].Hash)
		}
	})
}

// The relay delivers at least once: the same ID twice is one entry.
func TestAppendIdempotentByID(t *testing.T) {
	t.Parallel()
	onBackends(t, 100, func(t *testing.T, e *env) {
		first := e.appendN(t, 3)
		again := entry(2, e.now)
		again.After = json.RawMessage(`{"different":true}`) // a redelivery never rewrites
		got, err := e.log.Append(t.Context(), again)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(first[1], got); diff != "" {
			t.Errorf("Append of a known ID (-stored +got):\n%s", diff)
		}
		head, _ := e.log.Head(t.Context())
		if head.Seq != 3 {
			t.Errorf("head seq = %d after a duplicate, want 3", head.Seq)
		}
		if _, err := e.verify(t); err != nil {
			t.Errorf("Verify: %v", err)
		}
	})
}

func TestAppendRefusesBadEntries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 100)
	ok := entry(1, e.now)
	tests := []struct {
		name string
		edit func(*Entry)
	}{
		{"no id", func(x *Entry) { x.ID = "" }},
		{"no actor", func(x *Entry) { x.Actor = "" }},
		{"no action", func(x *Entry) { x.Action = "" }},
		{"no time", func(x *Entry) { x.Time = time.Time{} }},
		{"time past year 9999", func(x *Entry) { x.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"control character", func(x *Entry) { x.Order = "o\n1" }},
		{"invalid utf-8", func(x *Entry) { x.Actor = "officer:\xff" }},
		{"long id", func(x *Entry) { x.ID = strings.Repeat("x", maxIDLen+1) }},
		{"before not json", func(x *Entry) { x.Before = json.RawMessage(`{`) }},
		{"after too long", func(x *Entry) { x.After = json.RawMessage(`"` + strings.Repeat("x", maxDocLen) + `"`) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ok
			tt.edit(&in)
			if _, err := e.log.Append(t.Context(), in); !errors.Is(err, ErrInvalidInput) {
				t.Errorf("Append = %v, want ErrInvalidInput", err)
			}
		})
	}
	if head, _ := e.log.Head(t.Context()); head.Seq != 0 {
		t.Errorf("head seq = %d after refused entries, want 0", head.Seq)
	}
}

// Without Init a Redis that lost its data would restart the chain at 1.
func TestAppendRefusedUntilInit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 100)
	if err := e.rdb.Del(t.Context(), e.log.headKey()).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.log.Append(t.Context(), entry(1, e.now)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Append before Init = %v, want ErrUnavailable", err)
	}
	if err := e.arch.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.log.Append(t.Context(), entry(1, e.now)); err != nil {
		t.Fatalf("Append after Init: %v", err)
	}
}

// The package doc promises an auditor can check a line with standard
// tools: drop the hash member, SHA-256 the rest, compare, and find the
// previous hash in prev.
func TestStoredLineCheckableWithoutThisPackage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 100)
	e.appendN(t, 4)
	e.archiveAll(t)
	body, err := readObject(t.Context(), e.s3, e.cfg.Bucket, objectName(e.cfg.ArchivePrefix, 1, 4))
	if err != nil {
		t.Fatal(err)
	}
	// What `sed -E 's/,"hash":"([0-9a-f]{64})"}$/}/'` does.
	hashMember := regexp.MustCompile(`,"hash":"([0-9a-f]{64})"}$`)
	prev := ""
	for i, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		m := hashMember.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("line %d does not end with the hash member: %s", i+1, line)
		}
		sum := sha256.Sum256([]byte(hashMember.ReplaceAllString(line, "}")))
		if got := hex.EncodeToString(sum[:]); got != m[1] {
			t.Errorf("line %d: sha256 of the line without hash = %s, hash member %s", i+1, got, m[1])
		}
		var v struct{ Prev string }
		if err := json.Unmarshal([]byte(line), &v); err != nil || v.Prev != prev {
			t.Errorf("line %d: prev = %q (%v), want %q", i+1, v.Prev, err, prev)
		}
		prev = m[1]
	}
}

func FuzzParseLine(f *testing.F) {
	e := entry(1, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	e.Seq, e.Prev = 1, ""
	e.Before, e.After = json.RawMessage(`{"a":1}`), json.RawMessage(`[1,"<&>"]`)
	e.Hash, _ = e.ComputeHash()
	line, _ := e.line()
	f.Add(line)
	f.Add([]byte(`{"id":"x","seq":1}`))
	f.Add([]byte("\x00\xff{"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := parseLine(raw)
		if err != nil {
			return
		}
		// Property: an entry that passes the link check is exactly its
		// canonical line, so verifying the bytes verifies what they say.
		if _, problem := link(raw, got.Seq, got.Prev); problem == "" {
			again, err := got.line()
			if err != nil || string(again) != string(raw) {
				t.Errorf("sound line %q re-encodes as %q (%v)", raw, again, err)
			}
		}
	})
}
