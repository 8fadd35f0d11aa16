package blocklist

import (
	"errors"
	"strings"
	"testing"
)

func TestParseEntry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, kind, value string
		wantKind          Kind
		wantValue         string
		wantField         string // "" when valid
	}{
		{name: "ip", kind: "ip", value: " 198.51.100.7 ", wantKind: KindIP, wantValue: "198.51.100.7"},
		{name: "mapped ip", kind: "ip", value: "::ffff:198.51.100.7", wantKind: KindIP, wantValue: "198.51.100.7"},
		{name: "ipv6", kind: "ip", value: "2001:DB8::0:1", wantKind: KindIP, wantValue: "2001:db8::1"},
		{name: "ip zone", kind: "ip", value: "fe80::1%eth0", wantField: "value"},
		{name: "bad ip", kind: "ip", value: "198.51.100.300", wantField: "value"},
		{name: "cidr", kind: "cidr", value: "203.0.113.0/24", wantKind: KindCIDR, wantValue: "203.0.113.0/24"},
		{name: "cidr masked", kind: "cidr", value: "203.0.113.77/24", wantKind: KindCIDR, wantValue: "203.0.113.0/24"},
		{name: "cidr mapped", kind: "cidr", value: "::ffff:203.0.113.0/120", wantKind: KindCIDR, wantValue: "203.0.113.0/24"},
		{name: "cidr v6", kind: "cidr", value: "2001:db8::/32", wantKind: KindCIDR, wantValue: "2001:db8::/32"},
		{name: "cidr too broad", kind: "cidr", value: "0.0.0.0/0", wantField: "value"},
		{name: "cidr v6 too broad", kind: "cidr", value: "2000::/3", wantField: "value"},
		{name: "cidr without length", kind: "cidr", value: "203.0.113.0", wantField: "value"},
		{name: "email", kind: "email", value: "Ann+vps@Example.com", wantKind: KindEmail, wantValue: "ann@example.com"},
		{name: "bad email", kind: "email", value: "ann@", wantField: "value"},
		{name: "domain", kind: "email_domain", value: "@Mailinator.COM", wantKind: KindEmailDomain, wantValue: "mailinator.com"},
		{name: "bad domain", kind: "email_domain", value: "localhost", wantField: "value"},
		{name: "account", kind: "account", value: " cust-42 ", wantKind: KindAccount, wantValue: "cust-42"},
		{name: "account control", kind: "account", value: "a\x00b", wantField: "value"},
		{name: "account long", kind: "account", value: strings.Repeat("a", 129), wantField: "value"},
		{name: "card", kind: "card", value: "411111:1111", wantKind: KindCard, wantValue: "411111:1111"},
		{name: "card 8 digit bin", kind: "card", value: "41111111:0004", wantKind: KindCard, wantValue: "411111:0004"}, // CardKey: first six BIN digits,
		{name: "card pan", kind: "card", value: "4111111111111111", wantField: "value"},
		{name: "unknown kind", kind: "phone", value: "+1 415", wantField: "kind"},
		{name: "kind case", kind: "IP", value: "198.51.100.7", wantField: "kind"},
		{name: "empty value", kind: "email", value: "  ", wantField: "value"},
		{name: "huge value", kind: "email", value: strings.Repeat("a", 600), wantField: "value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, v, err := ParseEntry(tt.kind, tt.value)
			if tt.wantField != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tt.wantField || !errors.Is(err, ErrInvalidInput) {
					t.Errorf("ParseEntry(%q, %q) = %q, %q, %v, want a FieldError on %q", tt.kind, tt.value, k, v, err, tt.wantField)
				}
				return
			}
			if err != nil || k != tt.wantKind || v != tt.wantValue {
				t.Errorf("ParseEntry(%q, %q) = %q, %q, %v, want %q, %q", tt.kind, tt.value, k, v, err, tt.wantKind, tt.wantValue)
			}
		})
	}
}

func TestMask(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind        Kind
		value, want string
	}{
		{KindIP, "198.51.100.7", "198.51.100.x"},
		{KindIP, "2001:db8:1:2::7", "2001:db8:1:x:x:x:x:x"},
		{KindEmail, "ann@example.com", "a***@example.com"},
		{KindAccount, "42", "4***"},
		{KindAccount, "cust-123456", "cu***56"},
		{KindAccount, "ünïcode-àccount", "ün***nt"},
		{KindCard, "411111:1111", "4*****:1111"},
		{KindCard, "41111111:0004", "4*******:0004"},
		{KindEmailDomain, "mailinator.com", "mailinator.com"},
		{KindCIDR, "203.0.113.0/24", "203.0.113.0/24"},
	}
	for _, tt := range tests {
		if got := Mask(tt.kind, tt.value); got != tt.want {
			t.Errorf("Mask(%s, %q) = %q, want %q", tt.kind, tt.value, got, tt.want)
		}
	}
}

func FuzzParseEntry(f *testing.F) {
	for _, s := range [][2]string{
		{"ip", "198.51.100.7"}, {"ip", "::ffff:1.2.3.4"}, {"cidr", "10.0.0.0/8"}, {"cidr", "::ffff:10.0.0.0/104"},
		{"cidr", "2001:db8::/32"}, {"email", "Ann+x@Example.com"}, {"email_domain", "@bücher.example"},
		{"account", "42"}, {"account", "\xff"}, {"card", "411111:1111"}, {"card", "4111:11"}, {"x", "y"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, kind, value string) {
		k, v, err := ParseEntry(kind, value)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("ParseEntry(%q, %q) error %v is not a FieldError", kind, value, err)
			}
			return
		}
		if string(k) != kind {
			t.Fatalf("ParseEntry(%q, %q) kind = %q", kind, value, k)
		}
		// The normalized value is accepted as is.
		k2, v2, err := ParseEntry(kind, v)
		if err != nil || k2 != k || v2 != v {
			t.Fatalf("ParseEntry(%q, %q) = %q, and again = %q, %v: not idempotent", kind, value, v, v2, err)
		}
		m := Mask(k, v)
		switch k {
		case KindIP, KindEmail, KindCard:
			if m == v {
				t.Fatalf("Mask(%s, %q) = %q: not masked", k, v, m)
			}
		case KindAccount:
			if !strings.Contains(m, "***") || len([]rune(m)) > 7 {
				t.Fatalf("Mask(%s, %q) = %q: not masked", k, v, m)
			}
		}
	})
}
