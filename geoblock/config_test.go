package geoblock

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/internal/configerr"
	"github.com/vpsgate/gateway/internal/iso3166"
)

func TestAliases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		countries []string
		want      int
		in, out   []string
	}{
		{[]string{"EU"}, 34, []string{"DE", "FR", "SE", "IE", "HR", "CY", "MT", "AX", "RE"}, []string{"NO", "IS", "LI", "GB", "CH", "US", "GL", "FO", "BL", "PF", "GI"}},
		{[]string{"EEA"}, 37, []string{"DE", "NO", "IS", "LI", "AX", "GF"}, []string{"GB", "CH", "SJ", "GI"}},
		{[]string{"GDPR"}, 43, []string{"DE", "NO", "GB", "CH", "GI", "JE", "GG", "IM", "YT"}, []string{"US", "TR", "UA", "FO"}},
		{[]string{"eu", "us", "EU", " Gb "}, 36, []string{"US", "GB", "AT", "MF"}, []string{"NO"}},
	}
	empty := Config{Countries: []string{}}
	empty.SetDefaults()
	if _, err := NewPolicy(empty); err == nil || !strings.Contains(err.Error(), "blocks nobody") {
		t.Errorf("NewPolicy(no countries) = %v, want an error: an empty list would block nobody", err)
	}
	for _, tt := range tests {
		cfg := Config{Countries: tt.countries}
		cfg.SetDefaults()
		p, err := NewPolicy(cfg)
		if err != nil {
			t.Fatalf("NewPolicy(%q): %v", tt.countries, err)
		}
		if got := len(p.Countries()); got != tt.want {
			t.Errorf("NewPolicy(%q) blocks %d countries, want %d: %v", tt.countries, got, tt.want, p.Countries())
		}
		for _, c := range tt.in {
			if !p.IsBlockedCountry(c) || !p.IsBlockedCountry(strings.ToLower(c)) {
				t.Errorf("policy %q: IsBlockedCountry(%s) = false", tt.countries, c)
			}
		}
		for _, c := range tt.out {
			if p.IsBlockedCountry(c) {
				t.Errorf("policy %q: IsBlockedCountry(%s) = true", tt.countries, c)
			}
		}
	}
	// The member lists themselves: no duplicates, all ISO.
	all := aliasMembers("GDPR")
	if len(all) != 43 || len(slices.Compact(slices.Sorted(slices.Values(all)))) != 43 {
		t.Errorf("GDPR members = %v, want 43 distinct", all)
	}
	for _, c := range all {
		if !iso3166.IsCountry(c) {
			t.Errorf("alias member %q is not an ISO code", c)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	var c Config
	c.SetDefaults()
	want := Config{Countries: []string{"EEA"}, Unknown: "allow", Mode: "enforce", PolicyURL: "/_gateway/blocked"}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("Config defaults (-want +got):\n%s", diff)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	var g GeoIPConfig
	g.SetDefaults()
	if g.ReloadInterval != 30*time.Second || g.MaxAge != 720*time.Hour {
		t.Errorf("GeoIPConfig defaults = %+v", g)
	}
	if err := g.Validate(); err != nil {
		t.Errorf("GeoIP defaults do not validate: %v", err)
	}
}

// fieldErrors flattens err into "key=value" strings.
func fieldErrors(t *testing.T, err error) []string {
	t.Helper()
	var out []string
	for _, e := range configerr.Flatten(err) {
		var fe *configerr.FieldError
		if !errors.As(e, &fe) {
			t.Errorf("error %v is not a configerr.FieldError", e)
			continue
		}
		out = append(out, fe.Key+"="+strings.TrimSpace(toString(fe.Value)))
	}
	return out
}

func toString(v any) string {
	if v == nil {
		return "<nil>"
	}
	if s, ok := v.(string); ok {
		return s
	}
	if d, ok := v.(time.Duration); ok {
		return d.String()
	}
	return "?"
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodTmpl := write("good.html", `<p>{{.Country}} {{.PolicyURL}} {{if .Blocked}}x{{end}}</p>`)
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"good", Config{Countries: []string{"EEA", "gb", "CH"}, AllowCIDRs: []string{"10.0.0.0/8", "2001:db8::1"},
			ExemptPaths: []string{"/healthz", "/_gateway/", "/hooks/*"}, PolicyURL: "https://example.com/legal#eu", PageTemplate: goodTmpl}, nil},
		{"bad country codes", Config{Countries: []string{"EEA", "XX", "UK", "Germany", ""}},
			[]string{"countries=XX", "countries=UK", "countries=Germany", "countries="}},
		{"bad unknown and mode", Config{Unknown: "deny", Mode: "audit"}, []string{"unknown=deny", "mode=audit"}},
		{"bad cidrs", Config{AllowCIDRs: []string{"10.0.0.0/33", "example.com", "1.2.3.4"}},
			[]string{"allow_cidrs=10.0.0.0/33", "allow_cidrs=example.com"}},
		{"bad exempt paths", Config{ExemptPaths: []string{"healthz", "/a*/b", "/a/../b", "//x", "/ok"}},
			[]string{"exempt_paths=healthz", "exempt_paths=/a*/b", "exempt_paths=/a/../b", "exempt_paths=//x"}},
		{"ftp policy url", Config{PolicyURL: "ftp://example.com/x"}, []string{"policy_url=ftp://example.com/x"}},
		{"script policy url", Config{PolicyURL: "javascript:alert(1)"}, []string{"policy_url=javascript:alert(1)"}},
		{"header-breaking policy url", Config{PolicyURL: "/a>; rel=x"}, []string{"policy_url=/a>; rel=x"}},
		{"relative policy url", Config{PolicyURL: "blocked.html"}, []string{"policy_url=blocked.html"}},
		{"protocol-relative policy url", Config{PolicyURL: "//evil.example/x"}, []string{"policy_url=//evil.example/x"}},
		{"missing template", Config{PageTemplate: filepath.Join(dir, "nope.html")}, []string{"page_template=" + filepath.Join(dir, "nope.html")}},
		{"unparsable template", Config{PageTemplate: write("bad.html", "{{if}")}, []string{"page_template=" + filepath.Join(dir, "bad.html")}},
		{"template with unknown field", Config{PageTemplate: write("field.html", "{{.Nope}}")}, []string{"page_template=" + filepath.Join(dir, "field.html")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			cfg.SetDefaults()
			got := fieldErrors(t, cfg.Validate())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate(%+v) keys (-want +got):\n%s", tt.cfg, diff)
			}
		})
	}

	// The hint for a common mistake.
	cfg := Config{Countries: []string{"UK"}}
	cfg.SetDefaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "did you mean GB") {
		t.Errorf("Validate(UK) = %v, want a hint for GB", err)
	}
}

func TestGeoIPConfigValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := GeoIPConfig{CountryDB: filepath.Join(dir, "missing.mmdb"), ASNDB: dir, AnonymousIPDB: anonymousIPDB,
		ReloadInterval: -time.Second, MaxAge: -1}
	got := fieldErrors(t, c.Validate())
	want := []string{"reload_interval=-1s", "max_age=-1ns", "country_db=" + filepath.Join(dir, "missing.mmdb"), "asn_db=" + dir}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GeoIPConfig.Validate keys (-want +got):\n%s", diff)
	}
}

func TestExempt(t *testing.T) {
	t.Parallel()
	cfg := Config{ExemptPaths: []string{"/healthz", "/_gateway/", "/hooks/stripe*"}}
	cfg.SetDefaults()
	p, err := NewPolicy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]bool{
		"/healthz":               true,
		"/healthz/":              false,
		"/healthzx":              false,
		"/_gateway/":             true,
		"/_gateway/kyc/upload":   true,
		"/_gateway":              false,
		"/_gateway/../checkout":  false,
		"/_gateway/./x":          false,
		"/_gateway//x":           false,
		"/hooks/stripe":          true,
		"/hooks/stripe-v2/event": true,
		"/hooks/paypal":          false,
		"/_gateway/blocked":      true, // the policy page, always
		"/":                      false,
		"":                       false,
		"/HEALTHZ":               false,
	}
	for path, want := range tests {
		if got := p.exempt(path); got != want {
			t.Errorf("exempt(%q) = %v, want %v", path, got, want)
		}
	}
}

func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{"/", "/a/b/", "/a/../b", "/./", "//", "/a//b", "/..", "a", "/.a/..b/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !canonicalPath(p) {
			return
		}
		// A canonical path is one path.Clean leaves alone (up to the
		// trailing slash Clean drops).
		clean := cleanPath(p)
		if clean != p && clean+"/" != p {
			t.Fatalf("canonicalPath(%q) = true but Clean gives %q", p, clean)
		}
	})
}
