package iso3166

import (
	"strings"
	"testing"
)

func TestTableSortedAndUnique(t *testing.T) {
	t.Parallel()
	if len(codes)%2 != 0 {
		t.Fatalf("len(codes) = %d, odd", len(codes))
	}
	n, prev := 0, ""
	for c := range All() {
		if c <= prev {
			t.Errorf("table not strictly sorted at %s, %s", prev, c)
		}
		prev = c
		n++
	}
	// 249 assigned ISO 3166-1 alpha-2 codes plus XK.
	if n != 250 {
		t.Errorf("table holds %d codes, want 250", n)
	}
}

func TestCanonicalAndIsCountry(t *testing.T) {
	t.Parallel()
	for c := range All() {
		if got, ok := Canonical(strings.ToLower(c)); !ok || got != c {
			t.Errorf("Canonical(%q) = %q, %v, want %q, true", strings.ToLower(c), got, ok, c)
		}
		if got, ok := Canonical(c); !ok || got != c {
			t.Errorf("Canonical(%q) = %q, %v", c, got, ok)
		}
		if !IsCountry(c) {
			t.Errorf("IsCountry(%q) = false", c)
		}
		if lc := strings.ToLower(c); IsCountry(lc) {
			t.Errorf("IsCountry(%q) = true, want false (not upper-case)", lc)
		}
	}
	for _, bad := range []string{"", "A", "U", "S ", " A", "UK", "EU", "ZZ", "A1", "ÄB", "SEE", "USA", "us "} {
		if got, ok := Canonical(bad); ok {
			t.Errorf("Canonical(%q) = %q, true", bad, got)
		}
		if IsCountry(bad) {
			t.Errorf("IsCountry(%q) = true", bad)
		}
	}
}

func TestIndex(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code string
		want int
	}{
		{"AA", 0}, {"aa", 0}, {"AB", 1}, {"BA", 26}, {"ZZ", 675}, {"zZ", 675},
		{"", -1}, {"A", -1}, {"ABC", -1}, {"A1", -1}, {"@A", -1}, {"[A", -1}, {"a`", -1}, {"a{", -1},
	} {
		if got := Index(tc.code); got != tc.want {
			t.Errorf("Index(%q) = %d, want %d", tc.code, got, tc.want)
		}
	}
}
