package blocklist

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/screening/ident"
)

// TestCheckMatchesEverySpelling (issue 7, finding 9): an entry blocks every
// spelling of what it names. Email domains match their subdomains at label
// boundaries only; cards match on the first six BIN digits and the last
// four whatever the BIN length of the entry or the order; with provider
// rules, an email entry matches the spellings its provider delivers to the
// same mailbox, and nothing else.
func TestCheckMatchesEverySpelling(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		rules       ident.EmailRules
		kind        Kind
		entry       string
		q           Query
		wantBlocked bool
	}{
		{"domain itself", ident.EmailProvider, KindEmailDomain, "evil.example", Query{Email: "x@evil.example"}, true},
		{"subdomain", ident.EmailProvider, KindEmailDomain, "evil.example", Query{Email: "x@sub.evil.example"}, true},
		{"deep subdomain", ident.EmailProvider, KindEmailDomain, "evil.example", Query{Email: "x@a.b.c.Evil.Example"}, true},
		{"subdomain as EmailDomain", ident.EmailProvider, KindEmailDomain, "evil.example", Query{EmailDomain: "@mx.evil.example"}, true},
		{"subdomain of an entry with @", ident.EmailProvider, KindEmailDomain, "@evil.example", Query{Email: "x@sub.evil.example"}, true},
		{"not at a label boundary", ident.EmailProvider, KindEmailDomain, "evil.example", Query{Email: "x@notevil.example"}, false},
		{"a suffix label more", ident.EmailProvider, KindEmailDomain, "evil.example", Query{Email: "x@evil.example.com"}, false},
		{"parent is not a child", ident.EmailProvider, KindEmailDomain, "sub.evil.example", Query{Email: "x@evil.example"}, false},
		{"provider alias domain", ident.EmailProvider, KindEmailDomain, "gmail.com", Query{Email: "x@googlemail.com"}, true},
		{"alias domain entry still matches", ident.EmailProvider, KindEmailDomain, "googlemail.com", Query{Email: "x@googlemail.com"}, true},

		{"card 6 vs order 8", ident.EmailProvider, KindCard, "411111:1111", Query{Card: "41111111:1111"}, true},
		{"card 6 vs other 8 of the same issuer", ident.EmailProvider, KindCard, "411111:1111", Query{Card: "41111199:1111"}, true},
		{"card 8 vs order 6", ident.EmailProvider, KindCard, "41111111:1111", Query{Card: "411111:1111"}, true},
		{"card 8 vs order 8", ident.EmailProvider, KindCard, "41111111:1111", Query{Card: "41111122:1111"}, true},
		{"card other issuer", ident.EmailProvider, KindCard, "411111:1111", Query{Card: "411112:1111"}, false},
		{"card other last4", ident.EmailProvider, KindCard, "41111111:1111", Query{Card: "41111111:1112"}, false},

		{"gmail dots", ident.EmailProvider, KindEmail, "john.doe@gmail.com", Query{Email: "johndoe@gmail.com"}, true},
		{"gmail dots, tag, case, googlemail", ident.EmailProvider, KindEmail, "johndoe@gmail.com", Query{Email: "J.o.h.n.D.o.e+vps@GoogleMail.com"}, true},
		{"googlemail entry", ident.EmailProvider, KindEmail, "john.doe@googlemail.com", Query{Email: "johndoe@gmail.com"}, true},
		{"proton short domain", ident.EmailProvider, KindEmail, "bob@pm.me", Query{Email: "bob+x@protonmail.com"}, true},
		{"iCloud legacy domain", ident.EmailProvider, KindEmail, "ann@me.com", Query{Email: "ann@icloud.com"}, true},
		{"fastmail subdomain addressing", ident.EmailProvider, KindEmail, "user@fastmail.com", Query{Email: "shop@user.fastmail.com"}, true},
		{"tag at any domain", ident.EmailProvider, KindEmail, "ann@example.com", Query{Email: "ann+1@example.com"}, true},
		{"dots matter elsewhere", ident.EmailProvider, KindEmail, "j.doe@example.com", Query{Email: "jdoe@example.com"}, false},
		{"other gmail user", ident.EmailProvider, KindEmail, "john.doe@gmail.com", Query{Email: "john.doe1@gmail.com"}, false},
		{"basic rules: dots matter at gmail", ident.EmailBasic, KindEmail, "john.doe@gmail.com", Query{Email: "johndoe@gmail.com"}, false},
		{"basic rules: same spelling", ident.EmailBasic, KindEmail, "John.Doe@gmail.com", Query{Email: "john.doe+x@gmail.com"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rdb := newClient(t, testenv.RedisURL(t))
			l := New(rdb, testHasher(t), testenv.KeyPrefix(t), tt.rules)
			e := add(t, l, tt.kind, tt.entry, "test")
			hits, err := l.Check(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			blocked := len(hits) == 1 && hits[0].ID == e.ID && hits[0].Kind == tt.kind
			if blocked != tt.wantBlocked || len(hits) > 1 {
				t.Errorf("entry %s %q, Check(%+v) = %+v, want blocked %v", tt.kind, tt.entry, tt.q, hits, tt.wantBlocked)
			}
		})
	}
}

// TestCheckFindsOlderEntries: entries added before provider rules and
// CardKey (keyed by the basic email form, by an 8-digit BIN) keep
// blocking what they blocked, and Remove finds them by their value.
func TestCheckFindsOlderEntries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := newClient(t, testenv.RedisURL(t))
	prefix := testenv.KeyPrefix(t)
	h := testHasher(t)
	older := New(rdb, h, prefix, ident.EmailBasic)
	mail := add(t, older, KindEmail, "john.doe@gmail.com", "old entry")
	// An 8-digit card entry as an earlier release stored it: keyed by
	// the whole BIN.
	legacyCard := h.Hash(ident.KindCard, "41111111:1111")
	if err := rdb.HSet(ctx, older.entryKey(legacyCard), "kind", "card", "value", "4*******:1111", "reason", "old card",
		"added_by", "officer", "added_at", "0").Err(); err != nil {
		t.Fatal(err)
	}

	l := New(rdb, h, prefix, ident.EmailProvider)
	hits, err := l.Check(ctx, Query{Email: "john.doe@gmail.com", Card: "41111111:1111"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, hit := range hits {
		ids = append(ids, hit.ID)
	}
	if diff := cmp.Diff([]string{mail.ID, legacyCard}, ids); diff != "" {
		t.Errorf("older entries matched (-want +got):\n%s", diff)
	}
	if err := l.Remove(ctx, KindEmail, "john.doe@gmail.com"); err != nil {
		t.Errorf("Remove(older email entry) = %v", err)
	}
	if err := l.Remove(ctx, KindCard, "41111111:1111"); err != nil {
		t.Errorf("Remove(older card entry) = %v", err)
	}
	if err := l.Remove(ctx, KindCard, "41111111:1111"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove(again) = %v, want ErrNotFound", err)
	}
	if hits, err := l.Check(ctx, Query{Email: "john.doe@gmail.com", Card: "41111111:1111"}); err != nil || len(hits) != 0 {
		t.Errorf("Check after removal = %+v, %v, want no hits", hits, err)
	}
}

func TestParentDomains(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"example.com", []string{"example.com"}},
		{"a.b.example.com", []string{"a.b.example.com", "b.example.com", "example.com"}},
		{"x.co.uk", []string{"x.co.uk", "co.uk"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, parentDomains(tt.in)); diff != "" {
			t.Errorf("parentDomains(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}
