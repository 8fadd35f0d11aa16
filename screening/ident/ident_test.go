package ident

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func newTestHasher(t testing.TB) *Hasher {
	t.Helper()
	h, err := NewHasher(testKey)
	if err != nil {
		t.Fatalf("NewHasher: %v", err)
	}
	return h
}

func TestNewHasherKeyLength(t *testing.T) {
	t.Parallel()
	if _, err := NewHasher(make([]byte, MinKeyLen-1)); err == nil {
		t.Errorf("NewHasher(%d bytes) = nil error, want an error", MinKeyLen-1)
	}
	if _, err := NewHasher(make([]byte, MinKeyLen)); err != nil {
		t.Errorf("NewHasher(%d bytes) = %v, want nil", MinKeyLen, err)
	}
}

func TestHash(t *testing.T) {
	t.Parallel()
	h := newTestHasher(t)

	// The construction is HMAC-SHA256(key, kind NUL value), truncated to 16
	// bytes, base64url: recompute it independently.
	mac := hmac.New(sha256.New, testKey)
	mac.Write([]byte("email\x00ann@example.com"))
	want := base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
	if got := h.Hash(KindEmail, "ann@example.com"); got != want {
		t.Errorf("Hash(email, ann@example.com) = %q, want %q", got, want)
	}
	if got := h.Hash(KindEmail, "ann@example.com"); len(got) != HashLen {
		t.Errorf("len(Hash) = %d, want %d", len(got), HashLen)
	}
	// AppendHash appends the same characters after what dst holds.
	if got := string(h.AppendHash([]byte("k{"), KindEmail, "ann@example.com")); got != "k{"+want {
		t.Errorf("AppendHash(\"k{\", email, ann@example.com) = %q, want %q", got, "k{"+want)
	}

	// Domain separation: the same value under two kinds, and the kind/value
	// boundary, give different hashes.
	if h.Hash(KindAccount, "42") == h.Hash(KindEmail, "42") {
		t.Error("Hash(account, 42) == Hash(email, 42), want kinds to separate domains")
	}
	if h.Hash(KindIP, "x") == h.Hash(Kind("ipx"), "") {
		t.Error("Hash(ip, x) == Hash(ipx, \"\"), want the kind/value boundary to matter")
	}

	// Another key gives another hash.
	h2, err := NewHasher([]byte("another key of at least 16 bytes"))
	if err != nil {
		t.Fatal(err)
	}
	if h.Hash(KindIP, "198.51.100.7") == h2.Hash(KindIP, "198.51.100.7") {
		t.Error("two keys gave the same hash")
	}

	// A long value does not break later short ones (the pooled buffer).
	long := strings.Repeat("x", 10000)
	a := h.Hash(KindAddress, long)
	if h.Hash(KindAddress, long) != a {
		t.Error("Hash is not deterministic for a long value")
	}
}

func TestHashConcurrent(t *testing.T) {
	t.Parallel()
	h := newTestHasher(t)
	want := h.Hash(KindIP, "198.51.100.7")
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if got := h.Hash(KindIP, "198.51.100.7"); got != want {
					errs <- got
					return
				}
				_ = h.Hash(KindEmail, strings.Repeat("a", g*i))
			}
		})
	}
	wg.Wait()
	close(errs)
	for got := range errs {
		t.Errorf("concurrent Hash = %q, want %q", got, want)
	}
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "plain", in: "ann@example.com", want: "ann@example.com"},
		{name: "space and case", in: "  Ann.Lee@Example.COM \n", want: "ann.lee@example.com"},
		{name: "sub-address", in: "ann+vps2@example.com", want: "ann@example.com"},
		{name: "two plus", in: "ann+a+b@example.com", want: "ann@example.com"},
		{name: "leading plus kept", in: "+ann@example.com", want: "+ann@example.com"},
		{name: "plus after dot kept", in: "a.+b@example.com", want: "a.+b@example.com"},
		{name: "trailing root dot", in: "ann@example.com.", want: "ann@example.com"},
		{name: "atext", in: "o'neil_#1@example.co.uk", want: "o'neil_#1@example.co.uk"},
		{name: "idn domain", in: "ann@Bücher.example", want: "ann@xn--bcher-kva.example"},
		{name: "punycode domain kept", in: "ann@xn--bcher-kva.example", want: "ann@xn--bcher-kva.example"},
		{name: "empty", in: "   ", wantErr: true},
		{name: "no at", in: "ann.example.com", wantErr: true},
		{name: "no local", in: "@example.com", wantErr: true},
		{name: "no domain", in: "ann@", wantErr: true},
		{name: "single label", in: "ann@localhost", wantErr: true},
		{name: "ip literal", in: "ann@198.51.100.7", wantErr: true},
		{name: "bracket literal", in: "ann@[198.51.100.7]", wantErr: true},
		{name: "two at", in: "a@b@example.com", wantErr: true},
		{name: "quoted", in: `"ann lee"@example.com`, wantErr: true},
		{name: "leading dot", in: ".ann@example.com", wantErr: true},
		{name: "double dot", in: "a..b@example.com", wantErr: true},
		{name: "non-ascii local (RFC 6531)", in: "Änn@example.com", want: "änn@example.com"},
		{name: "non-ascii local NFD", in: "Rene\u0301e.Dupont@example.ca", want: "ren\u00e9e.dupont@example.ca"},
		{name: "zero-width space local", in: "ann\u200b@example.com", wantErr: true},
		{name: "full-width local", in: "\uff41nn@example.com", wantErr: true},
		{name: "symbol in local", in: "ann\u2603@example.com", wantErr: true},
		{name: "hyphen label", in: "ann@-example.com", wantErr: true},
		{name: "underscore domain", in: "ann@ex_ample.com", wantErr: true},
		{name: "empty label", in: "ann@example..com", wantErr: true},
		{name: "long local", in: strings.Repeat("a", 65) + "@example.com", wantErr: true},
		{name: "long label", in: "a@" + strings.Repeat("b", 64) + ".com", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := NormalizeEmail(tt.in)
			if tt.wantErr {
				if err == nil || !errors.Is(err, ErrInvalid) {
					t.Errorf("NormalizeEmail(%q) = %q, %v, want an error wrapping ErrInvalid", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("NormalizeEmail(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestCardFingerprint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		bin, last4, want string
		wantErr          bool
	}{
		{bin: "411111", last4: "1111", want: "411111:1111"},
		{bin: " 41111111 ", last4: "0004 ", want: "41111111:0004"},
		{bin: "41111", last4: "1111", wantErr: true},
		{bin: "4111111", last4: "1111", wantErr: true},
		{bin: "411111", last4: "111", wantErr: true},
		{bin: "4111a1", last4: "1111", wantErr: true},
		{bin: "411111", last4: "11１1", wantErr: true}, // a full-width digit
		{bin: "", last4: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := CardFingerprint(tt.bin, tt.last4)
		if tt.wantErr {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("CardFingerprint(%q, %q) = %q, %v, want ErrInvalid", tt.bin, tt.last4, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CardFingerprint(%q, %q) = %q, %v, want %q", tt.bin, tt.last4, got, err, tt.want)
		}
	}

	if got, err := ParseCardFingerprint(" 411111:1111 "); err != nil || got != "411111:1111" {
		t.Errorf("ParseCardFingerprint = %q, %v, want 411111:1111", got, err)
	}
	for _, bad := range []string{"4111111111", "411111-1111", "411111:1111:1", ":"} {
		if _, err := ParseCardFingerprint(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseCardFingerprint(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestNormalizeAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                          string
		country, postal, city, street string
		want                          string
	}{
		{
			name:    "folding",
			country: "US", postal: "94107", city: "San  Francisco", street: "1 Main St.",
			want: "us|94107|san francisco|1 main st",
		},
		{
			name:    "postal spaces",
			country: "gb", postal: "sw1a 1aa", city: "London", street: "10, Downing-Street",
			want: "gb|sw1a1aa|london|10 downing street",
		},
		{
			name:    "unicode",
			country: "DE", postal: "10115", city: "BERLIN", street: "Straße Ｎｏ. 5",
			want: "de|10115|berlin|straße no 5",
		},
		{name: "empty", want: ""},
		{name: "punctuation only", country: " ", postal: "-", city: ".,", street: "#", want: ""},
		{name: "some parts", city: "Paris", want: "||paris|"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := NormalizeAddress(tt.country, tt.postal, tt.city, tt.street); got != tt.want {
				t.Errorf("NormalizeAddress(%q, %q, %q, %q) = %q, want %q",
					tt.country, tt.postal, tt.city, tt.street, got, tt.want)
			}
		})
	}
}

func TestIPPrefix(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"198.51.100.7", "198.51.100.0/24"},
		{"::ffff:198.51.100.7", "198.51.100.0/24"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
	}
	for _, tt := range tests {
		got := IPPrefix(netip.MustParseAddr(tt.in))
		if got.String() != tt.want {
			t.Errorf("IPPrefix(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got := IPPrefix(netip.Addr{}); got.IsValid() {
		t.Errorf("IPPrefix(zero) = %s, want the zero Prefix", got)
	}
}
