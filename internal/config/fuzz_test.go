package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vpsgate/gateway/internal/clientip"
)

// FuzzLoad feeds arbitrary YAML to the loader: it must answer with a
// configuration or an error, never panic (a config file is operator input,
// but an operator's typo must not crash the gateway with a stack trace).
func FuzzLoad(f *testing.F) {
	if data, err := os.ReadFile("../../configs/gateway.example.yaml"); err == nil {
		f.Add(data)
	}
	for _, s := range []string{
		"listen: \":9090\"\n",
		"geoblock:\n  countries: [EU, XX]\n",
		"intercept:\n  - method: POST\n    path: /c\n    fields: {order_id: id}\n",
		"redis: {url: \"redis://:pw@h:1?addr=x:2\"}\n",
		"auth:\n  api_keys: [{name: a, key_hash: sha256:00}]\n",
		"screening: {velocity: {windows: [1h, -1s]}}\n",
		"---\n---\n", "[1, 2]", "listen: [1]", "\x00",
		"trusted_proxies: [0.0.0.0/0]\n", "trusted_proxies: [\"::/0\"]\nacknowledge_risks: [x]\n",
		"geoblock: {allow_cidrs: [0.0.0.0/1, 128.0.0.0/1], exempt_paths: [\"/*\"]}\n",
		"webhooks:\n  - {url: \"http://127.0.0.1:9/h\", secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}\nwebhook_delivery: {claim_after: 5s}\n",
		"webhooks: {endpoints: [{url: \"http://h/\"}]}\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(p, map[string]string{})
		if err == nil && cfg == nil {
			t.Fatal("Load returned neither a config nor an error")
		}
		if err != nil {
			return
		}
		// Whatever loads without acknowledgement neither trusts nor
		// exempts everyone, nor exempts the whole site: checked here
		// with a reading independent of Risks.
		acked := strings.Join(cfg.AcknowledgeRisks, ",")
		public := []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("2606:4700::1")}
		for risk, list := range map[string][]string{RiskTrustedProxiesPublic: cfg.TrustedProxies, RiskAllowCIDRsPublic: cfg.Geoblock.AllowCIDRs} {
			ps, _ := clientip.ParsePrefixes(list)
			for _, p := range ps {
				huge := p.Addr().Is4() && p.Bits() < 8 || p.Addr().Is6() && p.Bits() < 16
				if huge && slices.ContainsFunc(public, p.Contains) && !strings.Contains(acked, risk) {
					t.Fatalf("loaded %v, whose %s covers public space, without acknowledging %s", list, p, risk)
				}
			}
		}
		for _, e := range cfg.Geoblock.ExemptPaths {
			if (e == "/" || e == "/*") && !strings.Contains(acked, RiskExemptWholeSite) {
				t.Fatalf("loaded exempt path %q unacknowledged", e)
			}
		}
	})
}
