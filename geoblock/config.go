package geoblock

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vpsgate/gateway/internal/clientip"
	"github.com/vpsgate/gateway/internal/configerr"
	"github.com/vpsgate/gateway/internal/iso3166"
)

// GeoIPConfig is the `geoip` section: where the MaxMind DB files are.
type GeoIPConfig struct {
	// CountryDB is a country database: GeoIP2/GeoLite2 Country, City or
	// Enterprise, an ip-location-db country file, or IPinfo's country file.
	// Empty: the small bundled demo database the caller hands to OpenDB.
	CountryDB string `yaml:"country_db"`
	// AnonymousIPDB is a GeoIP2 Anonymous IP database; empty: none.
	AnonymousIPDB string `yaml:"anonymous_ip_db"`
	// ASNDB is a GeoLite2/GeoIP2 ASN (or ISP) database; empty: none.
	ASNDB string `yaml:"asn_db"`
	// ReloadInterval is how often the files are checked for a change
	// (size, modification time, inode). Default 30s.
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// MaxAge is how old a database's build may be before a warning is
	// logged at load. Default 720h (30 days).
	MaxAge time.Duration `yaml:"max_age"`
}

// SetDefaults fills unset values.
func (c *GeoIPConfig) SetDefaults() {
	if c.ReloadInterval == 0 {
		c.ReloadInterval = 30 * time.Second
	}
	if c.MaxAge == 0 {
		c.MaxAge = 720 * time.Hour
	}
}

// Validate reports every bad value. Files must exist and be readable; their
// content is checked by OpenDB.
func (c *GeoIPConfig) Validate() error {
	var errs []error
	if c.ReloadInterval <= 0 {
		errs = append(errs, configerr.Field("reload_interval", c.ReloadInterval, "must be positive"))
	}
	if c.MaxAge <= 0 {
		errs = append(errs, configerr.Field("max_age", c.MaxAge, "must be positive"))
	}
	for _, f := range []struct{ key, path string }{
		{"country_db", c.CountryDB}, {"anonymous_ip_db", c.AnonymousIPDB}, {"asn_db", c.ASNDB},
	} {
		if f.path == "" {
			continue
		}
		if err := readableFile(f.path); err != nil {
			errs = append(errs, configerr.Field(f.key, f.path, err.Error()))
		}
	}
	return errors.Join(errs...)
}

func readableFile(path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot open: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return fmt.Errorf("cannot stat: %w", err)
	}
	if !st.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	return nil
}

// Policy URL default: the Blocker answers this path itself with the
// explanation page (status 200, never blocked), so that the Link header of a
// 451 always leads somewhere a blocked visitor can read.
const defaultPolicyURL = "/_gateway/blocked"

// Config is the `geoblock` section: who is refused, and what bypasses it.
type Config struct {
	// Countries are ISO 3166-1 alpha-2 codes and the aliases EU (27 member
	// states and the EU territories with codes of their own: AX, GF, GP,
	// MQ, RE, YT, MF), EEA (EU + IS, LI, NO) and GDPR (EEA + GB, CH and
	// GI, JE, GG, IM), case insensitive (see countries.go for the legal
	// basis). Default [EEA]. An explicitly empty list is refused.
	Countries []string `yaml:"countries"`
	// Unknown is what happens when no country is known for the client (not
	// in the database, or the lookup failed): allow (default) or block.
	Unknown string `yaml:"unknown"`
	// Mode is enforce (default: answer 451) or report (log and count what
	// would be blocked, let everything through).
	Mode string `yaml:"mode"`
	// AllowCIDRs are networks never blocked (CIDRs or bare addresses).
	AllowCIDRs []string `yaml:"allow_cidrs"`
	// ExemptPaths are request paths never blocked. "/healthz" matches that
	// path only; an entry ending in "/" ("/_gateway/") or "*" ("/hooks/*",
	// "/hooks*") matches every path starting with the part before the "*".
	// Paths that are not canonical (dot segments, "//") never match, so an
	// exemption cannot be stretched to "/_gateway/../checkout".
	ExemptPaths []string `yaml:"exempt_paths"`
	// PolicyURL is the Link rel="blocked-by" target of a 451: an absolute
	// http(s) URL, or a path on this gateway. Default "/_gateway/blocked",
	// which the Blocker serves itself (see defaultPolicyURL).
	PolicyURL string `yaml:"policy_url"`
	// PageTemplate is an html/template file for the HTML 451 page; empty:
	// the built-in page. It is executed with PageData.
	PageTemplate string `yaml:"page_template"`
}

// SetDefaults fills unset values.
func (c *Config) SetDefaults() {
	if c.Countries == nil {
		c.Countries = []string{"EEA"}
	}
	if c.Unknown == "" {
		c.Unknown = "allow"
	}
	if c.Mode == "" {
		c.Mode = "enforce"
	}
	if c.PolicyURL == "" {
		c.PolicyURL = defaultPolicyURL
	}
}

// Validate reports every bad value: unknown country codes, bad CIDRs, modes,
// paths, URL, and a template that cannot be read, parsed or executed.
func (c *Config) Validate() error {
	_, err := NewPolicy(*c)
	return err
}

// Policy is a validated Config: the decision rules without the database.
// It is immutable and safe for concurrent use.
type Policy struct {
	blocked      [26 * 26]bool
	countries    []string
	unknownBlock bool
	report       bool
	allow        []netip.Prefix
	exact        map[string]bool
	prefixes     []string
	policyURL    string // as written in the Link header
	policyPath   string // set when policyURL is a local path the Blocker serves
	page         *template.Template
}

// NewPolicy validates cfg (after SetDefaults) and compiles it. Every
// problem is reported, each as a configerr.FieldError.
func NewPolicy(cfg Config) (*Policy, error) {
	p := &Policy{exact: map[string]bool{}}
	var errs []error

	// An empty list would block nobody: the product exists to refuse
	// these visitors, so turning it off must be said out loud.
	if len(cfg.Countries) == 0 {
		errs = append(errs, configerr.Field("countries", nil, "is empty, which blocks nobody; list countries or aliases (EEA, EU, GDPR), or use mode: report to observe without blocking"))
	}
	for _, raw := range cfg.Countries {
		code := strings.ToUpper(strings.TrimSpace(raw))
		if members := aliasMembers(code); members != nil {
			for _, m := range members {
				p.blocked[iso3166.Index(m)] = true
			}
			continue
		}
		if _, ok := iso3166.Canonical(code); ok {
			p.blocked[iso3166.Index(code)] = true
			continue
		}
		problem := "not an ISO 3166-1 alpha-2 country code or one of the aliases EU, EEA, GDPR"
		if fix, ok := commonMistakes[code]; ok {
			problem += fmt.Sprintf(" (did you mean %s?)", fix)
		}
		errs = append(errs, configerr.Field("countries", raw, problem))
	}
	for c := range iso3166.All() {
		if p.blocked[iso3166.Index(c)] {
			p.countries = append(p.countries, c)
		}
	}

	switch cfg.Unknown {
	case "allow":
	case "block":
		p.unknownBlock = true
	default:
		errs = append(errs, configerr.Field("unknown", cfg.Unknown, "must be allow or block"))
	}
	switch cfg.Mode {
	case "enforce":
	case "report":
		p.report = true
	default:
		errs = append(errs, configerr.Field("mode", cfg.Mode, "must be enforce or report"))
	}

	for _, raw := range cfg.AllowCIDRs {
		ps, err := clientip.ParsePrefixes([]string{raw})
		if err != nil {
			errs = append(errs, configerr.Field("allow_cidrs", raw, "not an IP address or CIDR"))
			continue
		}
		p.allow = append(p.allow, unmapPrefix(ps[0]))
	}

	for _, raw := range cfg.ExemptPaths {
		switch {
		case !strings.HasPrefix(raw, "/"):
			errs = append(errs, configerr.Field("exempt_paths", raw, "must start with /"))
		case strings.Contains(strings.TrimSuffix(raw, "*"), "*"):
			errs = append(errs, configerr.Field("exempt_paths", raw, `"*" is only allowed at the end`))
		case !canonicalPath(strings.TrimSuffix(raw, "*")):
			errs = append(errs, configerr.Field("exempt_paths", raw, `must not contain "//", "." or ".." segments`))
		case strings.HasSuffix(raw, "*"):
			p.prefixes = append(p.prefixes, strings.TrimSuffix(raw, "*"))
		case strings.HasSuffix(raw, "/"):
			p.prefixes = append(p.prefixes, raw)
		default:
			p.exact[raw] = true
		}
	}

	if err := p.setPolicyURL(cfg.PolicyURL); err != nil {
		errs = append(errs, configerr.Field("policy_url", cfg.PolicyURL, err.Error()))
	}

	page, err := loadPage(cfg.PageTemplate)
	if err != nil {
		errs = append(errs, configerr.Field("page_template", cfg.PageTemplate, err.Error()))
	}
	p.page = page

	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Policy) setPolicyURL(raw string) error {
	if raw == "" {
		return errors.New("must not be empty")
	}
	for _, c := range raw {
		// The value goes between <> in a header: no controls, spaces or
		// angle brackets, and nothing outside ASCII (percent-encode it).
		if c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"' {
			return fmt.Errorf("contains %q; percent-encode it", c)
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	switch {
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/") && !strings.HasPrefix(raw, "//"):
		if !canonicalPath(u.Path) {
			return errors.New(`path must not contain "//", "." or ".." segments`)
		}
		p.policyPath = u.Path
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host != "":
	default:
		return errors.New("must be an absolute http(s) URL or a path starting with /")
	}
	p.policyURL = raw
	return nil
}

// PageData is what the 451 page template is executed with.
type PageData struct {
	// Country is the visitor's ISO country code, "" when unknown.
	Country string
	// PolicyURL is the configured policy_url.
	PolicyURL string
	// Blocked is false when the page is shown at the policy URL itself to a
	// visitor who is not blocked.
	Blocked bool
}

func loadPage(path string) (*template.Template, error) {
	src := defaultPage
	name := "blocked.html"
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("cannot read: %w", err)
		}
		src, name = string(b), path
	}
	t, err := template.New(name).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("cannot parse: %w", err)
	}
	// A template that refers to a field PageData lacks fails only when
	// executed; do it now so the mistake stops start-up, not a request.
	if err := t.Execute(io.Discard, PageData{Country: "SE", PolicyURL: "/", Blocked: true}); err != nil {
		return nil, fmt.Errorf("cannot execute: %w", err)
	}
	return t, nil
}

// Countries returns the blocked country codes, sorted.
func (p *Policy) Countries() []string { return slices.Clone(p.countries) }

// IsBlockedCountry reports whether the policy blocks the ISO country code
// (case insensitive). The order screening uses it so that a billing country
// is judged by the same list as a visitor.
func (p *Policy) IsBlockedCountry(code string) bool {
	i := iso3166.Index(code)
	return i >= 0 && p.blocked[i]
}

// ReportOnly reports whether the policy is in report mode.
func (p *Policy) ReportOnly() bool { return p.report }

// BlocksUnknown reports whether an unknown country is blocked.
func (p *Policy) BlocksUnknown() bool { return p.unknownBlock }

// PolicyPath is the path on this gateway where the Blocker serves the
// policy page (GET and HEAD), or "" when policy_url points elsewhere.
func (p *Policy) PolicyPath() string { return p.policyPath }

// Exempt reports whether the geo-block never blocks path (exempt_paths and
// the policy page), for checks that must not be loosened there.
func (p *Policy) Exempt(path string) bool { return p.exempt(path) }

func (p *Policy) exempt(path string) bool {
	if p.policyPath != "" && path == p.policyPath {
		return true
	}
	if len(p.exact) == 0 && len(p.prefixes) == 0 {
		return false
	}
	if !canonicalPath(path) {
		return false
	}
	if p.exact[path] {
		return true
	}
	for _, pre := range p.prefixes {
		if strings.HasPrefix(path, pre) {
			return true
		}
	}
	return false
}

func (p *Policy) allowed(ip netip.Addr) bool {
	for _, pre := range p.allow {
		if pre.Contains(ip) {
			return true
		}
	}
	return false
}

// canonicalPath reports whether path is absolute and has no empty, "." or
// ".." segments, i.e. whether every server would route it the same way.
func canonicalPath(path string) bool {
	if !strings.HasPrefix(path, "/") {
		return false
	}
	start := 1
	for i := 1; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			continue
		}
		seg := path[start:i]
		if seg == "." || seg == ".." || (seg == "" && i < len(path)) {
			return false
		}
		start = i + 1
	}
	return true
}

// unmapPrefix folds an IPv4-mapped IPv6 prefix to IPv4, because lookups use
// unmapped addresses.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked()
	}
	return p.Masked()
}
