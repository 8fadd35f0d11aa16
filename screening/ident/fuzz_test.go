package ident

import (
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{
		"ann@example.com", " Ann+x@Example.COM. ", "ann@Bücher.example", "a.+b@x.io",
		"@", "a@b", "a@@b.c", "\xff@example.com", "ann@xn--bcher-kva.example", "ann@xn--zz.example",
		"+@example.com", "a+.b@example.com", "ann@ex\u200bample.com", "ANN@ＥＸＡＭＰＬＥ.com",
		"j.o.h.n@googlemail.com", "a.+b@gmail.com", "+b@gmail.com", "a.b@x.fastmail.com", "a@pm.me",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeEmail(s)
		if err != nil {
			return
		}
		if again, err := NormalizeEmail(got); err != nil || again != got {
			t.Fatalf("NormalizeEmail(%q) = %q, and again = %q, %v: not idempotent", s, got, again, err)
		}
		if strings.Count(got, "@") != 1 || len(got) > maxEmailLen {
			t.Fatalf("NormalizeEmail(%q) = %q: not one @ or too long", s, got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] >= utf8.RuneSelf || ('A' <= got[i] && got[i] <= 'Z') || got[i] <= ' ' {
				t.Fatalf("NormalizeEmail(%q) = %q: byte %q is not lower-case printable ASCII", s, got, got[i])
			}
		}
		// Surrounding space and case never change the result.
		if up, err := NormalizeEmail("  " + strings.ToUpper(got) + "\t"); err != nil || up != got {
			t.Fatalf("NormalizeEmail(upper(%q)) = %q, %v, want %q", got, up, err, got)
		}
		// Provider rules: a key is its own key (stored data is found again)
		// and still a canonical address.
		key, _, err := EmailProvider.Forms(s)
		if err != nil {
			t.Fatalf("EmailProvider.Forms(%q) = %v, but NormalizeEmail accepted it", s, err)
		}
		if again, older, err := EmailProvider.Forms(key); err != nil || again != key || older != "" {
			t.Fatalf("Forms(%q) = %q, then Forms(%q) = %q, %q, %v: not idempotent", s, key, key, again, older, err)
		}
	})
}

func FuzzNormalizeDomain(f *testing.F) {
	for _, s := range []string{"example.com", "EXAMPLE.com.", "bücher.example", "xn--bcher-kva.example", "a..b", "1.2.3.4", "-a.com", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeDomain(s)
		if err != nil {
			return
		}
		if again, err := NormalizeDomain(got); err != nil || again != got {
			t.Fatalf("NormalizeDomain(%q) = %q, and again = %q, %v: not idempotent", s, got, again, err)
		}
		if len(got) > maxDomainLen || strings.ContainsAny(got, "@ _") || !isASCII(got) || strings.ToLower(got) != got {
			t.Fatalf("NormalizeDomain(%q) = %q: not a lower-case LDH name", s, got)
		}
	})
}

func FuzzCardFingerprint(f *testing.F) {
	for _, s := range []string{"411111:1111", "41111111:0000", " 411111:1111", "411111:", ":1111", "4111１1:1111", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseCardFingerprint(s)
		if err != nil {
			return
		}
		bin, last4, _ := strings.Cut(got, ":")
		if (len(bin) != 6 && len(bin) != 8) || len(last4) != 4 || !allDigits(bin) || !allDigits(last4) {
			t.Fatalf("ParseCardFingerprint(%q) = %q: not BIN:last4 digits", s, got)
		}
		if again, err := ParseCardFingerprint(got); err != nil || again != got {
			t.Fatalf("ParseCardFingerprint(%q) = %q, %v: not idempotent", got, again, err)
		}
	})
}

func FuzzNormalizeAddress(f *testing.F) {
	f.Add("US", "94107", "San Francisco", "1 Main St.")
	f.Add("gb", "SW1A 1AA", "LONDON", "10, Downing-Street")
	f.Add("", "", "", "")
	f.Add("de", "10115", "Berlin", "Straße Ｎｏ. 5 \u0301")
	f.Add("\xff", "|", "||", "\u00e9\u0065\u0301")
	f.Fuzz(func(t *testing.T, country, postal, city, street string) {
		got := NormalizeAddress(country, postal, city, street)
		if !utf8.ValidString(got) {
			t.Fatalf("NormalizeAddress = %q: invalid UTF-8", got)
		}
		if got == "" {
			return
		}
		parts := strings.Split(got, "|")
		if len(parts) != 4 {
			t.Fatalf("NormalizeAddress = %q: want 4 parts", got)
		}
		for _, p := range parts {
			if strings.HasPrefix(p, " ") || strings.HasSuffix(p, " ") || strings.Contains(p, "  ") {
				t.Fatalf("NormalizeAddress = %q: part %q has stray spaces", got, p)
			}
		}
		if strings.Contains(parts[1], " ") {
			t.Fatalf("NormalizeAddress = %q: postal code %q has spaces", got, parts[1])
		}
		// Extra surrounding space and punctuation never change the result
		// (for parts short enough not to be truncated).
		if max(len(country), len(postal), len(city), len(street)) > maxFoldInput-4 {
			return
		}
		if padded := NormalizeAddress(" "+country+" ,", "\t"+postal, city+" .", "-"+street); padded != got {
			t.Fatalf("NormalizeAddress with padding = %q, want %q", padded, got)
		}
	})
}

func FuzzIPPrefix(f *testing.F) {
	f.Add([]byte{198, 51, 100, 7})
	f.Add(netip.MustParseAddr("::ffff:198.51.100.7").AsSlice())
	f.Add(netip.MustParseAddr("2001:db8::1").AsSlice())
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		p := IPPrefix(ip)
		if !p.IsValid() || !p.Contains(ip.Unmap()) || p.Masked() != p {
			t.Fatalf("IPPrefix(%s) = %s: not a masked prefix containing the address", ip, p)
		}
		if want := map[bool]int{true: 24, false: 64}[ip.Unmap().Is4()]; p.Bits() != want {
			t.Fatalf("IPPrefix(%s) = %s, want /%d", ip, p, want)
		}
	})
}
