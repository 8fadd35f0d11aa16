package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRisks loads configurations that parse but open the gateway up: each
// refused one fails naming its key and the acknowledgement that would let
// it through; acknowledged, it loads and is still warned about.
func TestRisks(t *testing.T) {
	t.Parallel()
	const checkout = "intercept:\n  - method: POST\n    path: /checkout\n    fields: {order_id: oid, account.email: email, amount: total, billing.country: country}\n    defaults: {currency: USD}\n"
	tests := []struct {
		name    string
		yaml    string
		risk    string // "" none
		refused bool
		key     string
	}{
		{name: "trusted everyone v4", yaml: "trusted_proxies: [0.0.0.0/0]\n", risk: RiskTrustedProxiesPublic, refused: true, key: "trusted_proxies"},
		{name: "trusted everyone v6", yaml: "trusted_proxies: [\"::/0\"]\n", risk: RiskTrustedProxiesPublic, refused: true, key: "trusted_proxies"},
		{name: "trusted everyone v4-mapped", yaml: "trusted_proxies: [\"::ffff:0.0.0.0/96\"]\n", risk: RiskTrustedProxiesPublic, refused: true, key: "trusted_proxies"},
		{name: "trusted everyone in halves", yaml: "trusted_proxies: [0.0.0.0/1, 128.0.0.0/1]\n", risk: RiskTrustedProxiesPublic, refused: true, key: "trusted_proxies"},
		{name: "trusted public /7", yaml: "trusted_proxies: [8.0.0.0/7]\n", risk: RiskTrustedProxiesPublic, refused: true, key: "trusted_proxies"},
		{name: "trusted two public /8s", yaml: "trusted_proxies: [8.0.0.0/8, 44.0.0.0/8]\n", risk: RiskTrustedProxiesPublic, refused: true, key: "trusted_proxies"},
		{name: "trusted public v6 /15", yaml: "trusted_proxies: [\"2000::/15\"]\n", risk: RiskTrustedProxiesPublic, refused: true, key: "trusted_proxies"},
		{name: "trusted one public /8", yaml: "trusted_proxies: [8.0.0.0/8]\n"},
		{name: "trusted cloudflare", yaml: "trusted_proxies: [104.16.0.0/13, 172.64.0.0/13, 173.245.48.0/20, \"2606:4700::/32\", \"2a06:98c0::/29\"]\n"},
		{name: "trusted private ranges", yaml: "trusted_proxies: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, \"fc00::/7\", 127.0.0.1, \"::1\"]\n"},
		{name: "allow everyone", yaml: "geoblock:\n  allow_cidrs: [0.0.0.0/0]\n", risk: RiskAllowCIDRsPublic, refused: true, key: "geoblock.allow_cidrs"},
		{name: "allow everyone v6", yaml: "geoblock:\n  allow_cidrs: [\"::/0\"]\n", risk: RiskAllowCIDRsPublic, refused: true, key: "geoblock.allow_cidrs"},
		{name: "allow an office", yaml: "geoblock:\n  allow_cidrs: [198.51.100.0/24]\n"},
		{name: "exempt /", yaml: "geoblock:\n  exempt_paths: [\"/\"]\n", risk: RiskExemptWholeSite, refused: true, key: "geoblock.exempt_paths"},
		{name: "exempt /*", yaml: "geoblock:\n  exempt_paths: [\"/*\"]\n", risk: RiskExemptWholeSite, refused: true, key: "geoblock.exempt_paths"},
		{name: "exempt healthz", yaml: "geoblock:\n  exempt_paths: [/healthz, /_gateway/]\n"},
		{name: "exempt the checkout", yaml: checkout + "geoblock:\n  exempt_paths: [/checkout]\n", risk: RiskExemptCheckout, refused: true, key: "geoblock.exempt_paths"},
		{name: "exempt a prefix of the checkout", yaml: checkout + "geoblock:\n  exempt_paths: [\"/check*\"]\n", risk: RiskExemptCheckout, refused: true, key: "geoblock.exempt_paths"},
		{name: "exempt the checkout's PATH_INFO", yaml: checkout + "geoblock:\n  exempt_paths: [/checkout/]\n", risk: RiskExemptCheckout, refused: true, key: "geoblock.exempt_paths"},
		{name: "exempt beside the checkout", yaml: checkout + "geoblock:\n  exempt_paths: [/checkouts, /hooks/]\n"},
		{name: "report mode", yaml: "geoblock:\n  mode: report\n", risk: RiskReportMode, key: "geoblock.mode"},
		{name: "admin on every interface", yaml: "admin_listen: \":8081\"\n", risk: RiskAdminListenPublic, key: "admin_listen"},
		{name: "admin on a public address", yaml: "admin_listen: \"0.0.0.0:8081\"\n", risk: RiskAdminListenPublic, key: "admin_listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := "geoblock:\n  unknown: block\n"
			if strings.Contains(tt.yaml, "geoblock:\n") {
				base = ""
			}
			cfg, err := loadYAML(t, base+tt.yaml)
			if tt.refused {
				if err == nil || !strings.Contains(err.Error(), tt.key+": ") || !strings.Contains(err.Error(), "acknowledge_risks lists "+tt.risk) {
					t.Fatalf("Load() = %v, want refused naming %s and %s", err, tt.key, tt.risk)
				}
				cfg, err = loadYAML(t, base+tt.yaml+"acknowledge_risks: ["+tt.risk+"]\n")
				if err != nil {
					t.Fatalf("Load(acknowledged) = %v", err)
				}
			} else if err != nil {
				t.Fatalf("Load() = %v", err)
			}
			var names []string
			for _, w := range cfg.Warnings() {
				if w.Name != RiskUnknownAllow {
					names = append(names, w.Name)
				}
			}
			want := ""
			if tt.risk != "" {
				want = tt.risk
			}
			if strings.Join(names, ",") != want {
				t.Errorf("Warnings() = %v, want [%s]", names, want)
			}
			if tt.risk != "" && !tt.refused {
				cfg, err := loadYAML(t, base+tt.yaml+"acknowledge_risks: ["+tt.risk+"]\n")
				if err != nil || len(cfg.Warnings()) != 0 && cfg.Warnings()[0].Name == tt.risk {
					t.Errorf("acknowledged %s: Load() = %v, warnings %v; want silenced", tt.risk, err, cfg.Warnings())
				}
			}
		})
	}
}

func TestRisksUnknownAcknowledgement(t *testing.T) {
	t.Parallel()
	_, err := loadYAML(t, "acknowledge_risks: [everything]\n")
	if err == nil || !strings.Contains(err.Error(), `acknowledge_risks: "everything": unknown risk`) {
		t.Errorf("Load() = %v, want an unknown-risk error", err)
	}
	cfg, err := loadYAML(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if ws := cfg.Warnings(); len(ws) != 1 || ws[0].Name != RiskUnknownAllow {
		t.Errorf("default Warnings() = %v, want only %s", ws, RiskUnknownAllow)
	}
}

func loadYAML(t *testing.T, yaml string) (*Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(p, nil)
}
