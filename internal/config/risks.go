package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vpsgate/gateway/geoblock"
	"github.com/vpsgate/gateway/internal/clientip"
	"github.com/vpsgate/gateway/internal/configerr"
)

// Risk is a configuration the loader can parse but that lets through what
// the gateway exists to stop, or opens what should stay closed.
//
// Refused risks stop the gateway (exit 2, naming the key) unless
// acknowledge_risks lists their Name; acknowledged, they are still warned
// about at every start and by check-config. The others are legitimate
// choices and only warned about, until acknowledged.
type Risk struct {
	Name    string // the acknowledge_risks entry
	Key     string // the configuration key at fault
	Value   string // the value at fault
	Message string
	Refused bool
}

// Names of the risks, as acknowledge_risks spells them.
const (
	RiskTrustedProxiesPublic = "trusted_proxies_public_range"
	RiskAllowCIDRsPublic     = "allow_cidrs_public_range"
	RiskExemptWholeSite      = "exempt_paths_whole_site"
	RiskExemptCheckout       = "exempt_paths_checkout"
	RiskReportMode           = "geoblock_report_mode"
	RiskUnknownAllow         = "geoblock_unknown_allow"
	RiskAdminListenPublic    = "admin_listen_public"
)

var riskNames = []string{
	RiskTrustedProxiesPublic, RiskAllowCIDRsPublic, RiskExemptWholeSite, RiskExemptCheckout,
	RiskReportMode, RiskUnknownAllow, RiskAdminListenPublic,
}

// Public address space a trusted_proxies or allow_cidrs list may cover, in
// total: one /8 of IPv4 (a very large cloud provider's load balancers fit
// in far less: Cloudflare's are two /13s and a few /20s) and one /16 of
// IPv6. More than that is "everyone", or a mistake for it (0.0.0.0/0, ::/0,
// 0.0.0.0/1 + 128.0.0.0/1, a forgotten mask).
const (
	maxPublicBits4 = 24 // host bits of a /8
	maxPublicBits6 = 112
)

// nonPublic are the ranges no Internet client comes from: a prefix inside
// one of them covers no public address.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
}

// publicSpan sums the public space a list of prefixes covers, per family,
// as log2 of the address count (-1: none). Overlaps are counted twice,
// which can only make the check stricter.
func publicSpan(list []string) (v4, v6 float64) {
	ps, err := clientip.ParsePrefixes(list)
	if err != nil {
		return 0, 0 // Validate reports the parse error
	}
	var n4, n6 float64
	for _, p := range ps {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		private := slices.ContainsFunc(nonPublic, func(np netip.Prefix) bool {
			return np.Addr().BitLen() == p.Addr().BitLen() && np.Bits() <= p.Bits() && np.Contains(p.Addr())
		})
		if private {
			continue
		}
		host := p.Addr().BitLen() - p.Bits()
		if p.Addr().Is4() {
			n4 += math.Ldexp(1, host)
		} else {
			n6 += math.Ldexp(1, host)
		}
	}
	return math.Log2(n4), math.Log2(n6)
}

// tooPublic reports whether list covers more public space than allowed.
func tooPublic(list []string) bool {
	v4, v6 := publicSpan(list)
	return v4 > maxPublicBits4 || v6 > maxPublicBits6
}

// Risks lists the dangerous settings of c, acknowledged or not.
func (c *Config) Risks() []Risk {
	var rs []Risk
	if tooPublic(c.TrustedProxies) {
		rs = append(rs, Risk{Name: RiskTrustedProxiesPublic, Key: "trusted_proxies", Value: strings.Join(c.TrustedProxies, ","), Refused: true,
			Message: "trusts more public address space than a /8 (IPv6: a /16): any client in it can write X-Forwarded-For or Forwarded and choose the address, so the country, the geo-block judges"})
	}
	if tooPublic(c.Geoblock.AllowCIDRs) {
		rs = append(rs, Risk{Name: RiskAllowCIDRsPublic, Key: "geoblock.allow_cidrs", Value: strings.Join(c.Geoblock.AllowCIDRs, ","), Refused: true,
			Message: "exempts more public address space than a /8 (IPv6: a /16) from the geo-block: visitors from blocked countries in it are served"})
	}
	for _, raw := range c.Geoblock.ExemptPaths {
		p := exemptPolicy(raw)
		if p == nil {
			continue // Validate reports it
		}
		if p.Exempt("/") && p.Exempt("/checkout") && p.Exempt("/index.php") {
			rs = append(rs, Risk{Name: RiskExemptWholeSite, Key: "geoblock.exempt_paths", Value: raw, Refused: true,
				Message: "exempts every path from the geo-block, so it blocks nobody (use mode: report to observe without blocking)"})
			continue
		}
	routes:
		for _, r := range c.Intercept {
			for _, m := range r.Matchers() {
				for _, path := range m.Paths {
					// The storefront may serve the checkout under these too
					// (PATH_INFO, a directory's index.php).
					if p.Exempt(path) || p.Exempt(path+"/") || p.Exempt(strings.TrimSuffix(path, "/")+"/index.php") {
						rs = append(rs, Risk{Name: RiskExemptCheckout, Key: "geoblock.exempt_paths", Value: raw, Refused: true,
							Message: fmt.Sprintf("exempts the checkout route %s %s from the geo-block: visitors from blocked countries can check out", r.Method, path)})
						break routes
					}
				}
			}
		}
	}
	if c.Geoblock.Mode == "report" {
		rs = append(rs, Risk{Name: RiskReportMode, Key: "geoblock.mode", Value: "report",
			Message: "nobody is blocked: visitors from blocked countries are only logged and counted"})
	}
	if c.Geoblock.Unknown == "allow" {
		rs = append(rs, Risk{Name: RiskUnknownAllow, Key: "geoblock.unknown", Value: "allow",
			Message: "visitors the database cannot place, and every visitor while lookups fail, are served"})
	}
	if publicListen(c.AdminListen) {
		rs = append(rs, Risk{Name: RiskAdminListenPublic, Key: "admin_listen", Value: c.AdminListen,
			Message: "the admin API, console and metrics listen beyond loopback: keep them behind a firewall or private network"})
	}
	return rs
}

// exemptPolicy compiles a policy with the single exemption raw, so that
// the check reads the entry exactly as the Blocker will; nil when raw is
// not a valid entry.
func exemptPolicy(raw string) *geoblock.Policy {
	cfg := geoblock.Config{Countries: []string{"EEA"}, ExemptPaths: []string{raw}}
	cfg.SetDefaults()
	p, err := geoblock.NewPolicy(cfg)
	if err != nil {
		return nil
	}
	return p
}

// publicListen reports whether addr listens on more than loopback.
func publicListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false // Validate reports it
	}
	if host == "localhost" {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err != nil || !a.IsLoopback()
}

// validateRisks refuses unacknowledged refused risks and unknown names in
// acknowledge_risks.
func (c *Config) validateRisks() []error {
	var errs []error
	for _, name := range c.AcknowledgeRisks {
		if !slices.Contains(riskNames, name) {
			errs = append(errs, configerr.Field("acknowledge_risks", name, "unknown risk; known: "+strings.Join(riskNames, ", ")))
		}
	}
	for _, r := range c.Risks() {
		if r.Refused && !slices.Contains(c.AcknowledgeRisks, r.Name) {
			errs = append(errs, configerr.Field(r.Key, r.Value, r.Message+"; refused unless acknowledge_risks lists "+r.Name))
		}
	}
	return errs
}

// Warnings are the risks to warn about at start and in check-config:
// every refused one that was acknowledged (loud on purpose, every time),
// and every other one not yet acknowledged.
func (c *Config) Warnings() []Risk {
	var ws []Risk
	for _, r := range c.Risks() {
		if r.Refused || !slices.Contains(c.AcknowledgeRisks, r.Name) {
			ws = append(ws, r)
		}
	}
	return ws
}

// String is the warning line for r.
func (r Risk) String() string {
	s := fmt.Sprintf("%s = %q: %s", r.Key, r.Value, r.Message)
	if r.Refused {
		return s + " (acknowledged: " + r.Name + ")"
	}
	return s + " (acknowledge_risks: [" + r.Name + "] silences this)"
}
