package screening

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultRulesAreConfigsRulesYAML(t *testing.T) {
	t.Parallel()
	canonical, err := os.ReadFile(filepath.Join("..", "configs", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if string(canonical) != string(DefaultRulesYAML) {
		t.Error("screening/default_rules.yaml differs from configs/rules.yaml: copy configs/rules.yaml over it")
	}
}

// cleanSignals is an unremarkable order: located IP in the billing
// country, a private-domain email, minFraud happy, one order so far.
func cleanSignals() Signals {
	return Signals{
		IP:                "198.51.100.7",
		IPLocated:         true,
		IPCountry:         "US",
		BillingCountry:    "US",
		EmailDomain:       "example.com",
		EmailSyntaxOK:     true,
		MinFraudEnabled:   true,
		MinFraudAvailable: true,
		MinFraudRiskScore: 0.5,
		MinFraudIPRisk:    0.1,
		Velocity: map[string]int64{
			"ip_1h": 1, "ip_24h": 1, "ip_prefix_1h": 1, "email_24h": 1, "account_24h": 1,
			"card_24h": 1, "address_24h": 1, "accounts_per_ip_24h": 1, "cards_per_account_7d": 1,
		},
		FirstOrder: true,
		Amount:     12,
		Currency:   "USD",
		HasCard:    true,
	}
}

func defaultRules(t testing.TB) *Rules {
	t.Helper()
	r, err := LoadRules("", DefaultReviewAt, DefaultRejectAt)
	if err != nil {
		t.Fatalf("LoadRules(built-in) = %v", err)
	}
	return r
}

func TestDefaultRulesClean(t *testing.T) {
	t.Parallel()
	s := cleanSignals()
	v := defaultRules(t).Evaluate(&s)
	if v.Outcome != Accept || v.Score != 0 || len(v.Fired) != 0 {
		t.Errorf("Evaluate(clean) = %s score %d fired %v, want accept 0 none", v.Outcome, v.Score, v.Fired)
	}
}

// TestDefaultRulesEachFires crafts, for every rule of configs/rules.yaml, a
// signal set that makes it fire, and checks the outcome and the detail a
// person reads.
func TestDefaultRulesEachFires(t *testing.T) {
	t.Parallel()
	rules := defaultRules(t)
	tests := []struct {
		rule    string
		set     func(s *Signals)
		outcome Outcome
		detail  string
	}{
		{"billing_country_blocked", func(s *Signals) { s.BillingCountry = "DE"; s.BillingCountryBlocked = true; s.CountryMismatch = true }, Reject,
			"Billing country DE is not served (geo policy)."},
		{"ip_country_blocked", func(s *Signals) {
			s.IPCountry, s.IPRegisteredCountry, s.IPCountryBlocked, s.CountryMismatch = "FR", "FR", true, true
		}, Reject, "The customer's IP is located in FR, which is not served (geo policy)."},
		{"blocklisted", func(s *Signals) { s.Blocklisted = true; s.BlocklistHits = []string{"email", "card"} }, Reject,
			"On the blocklist: email, card."},
		{"chargeback_history", func(s *Signals) { s.Velocity["chargeback_account_7d"] = 1 }, Reject,
			"1 chargeback(s) on this account in the last 7 days."},
		{"minfraud_unavailable", func(s *Signals) { s.MinFraudAvailable = false; s.MinFraudRiskScore = 0 }, Review,
			"minFraud could not be reached (timeout or error); the order needs a manual review."},
		{"minfraud_risk_very_high", func(s *Signals) { s.MinFraudRiskScore = 85.5 }, Reject, "minFraud risk score 85.5 (reject at 80)."},
		{"minfraud_risk_high", func(s *Signals) { s.MinFraudRiskScore = 60 }, Accept, "minFraud risk score 60 is high."},
		{"minfraud_risk_elevated", func(s *Signals) { s.MinFraudRiskScore = 30 }, Accept, "minFraud risk score 30 is elevated."},
		{"minfraud_ip_risk_high", func(s *Signals) { s.MinFraudIPRisk = 75.25 }, Accept, "minFraud rates the IP's risk at 75.25."},
		{"minfraud_disposition_reject", func(s *Signals) { s.MinFraudDisposition = "reject" }, Reject,
			"A custom rule in the minFraud account says reject."},
		{"minfraud_disposition_review", func(s *Signals) { s.MinFraudDisposition = "manual_review" }, Review,
			"A custom rule in the minFraud account asks for a manual review."},
		{"ip_location_failed", func(s *Signals) { s.IPLocated = false; s.IPCountry = "" }, Review,
			"The IP could not be located (GeoIP lookup failed); the order needs a manual review."},
		{"ip_country_unknown", func(s *Signals) { s.IPCountry = "" }, Accept, "The IP address has no known country."},
		{"ip_tor", func(s *Signals) { s.IPTor, s.IPAnonymous = true, true }, Accept, "The order comes through a Tor exit node."},
		{"ip_proxy", func(s *Signals) { s.IPPublicProxy = true }, Accept, "The order comes through a public or residential proxy."},
		{"ip_vpn", func(s *Signals) { s.IPVPN, s.IPAnonymous = true, true }, Accept, "The order comes through a VPN or another anonymizer."},
		{"ip_hosting", func(s *Signals) { s.IPHosting = true; s.ASNOrg = "Hetzner Online GmbH" }, Accept,
			"The IP belongs to a hosting provider (Hetzner Online GmbH)."},
		{"country_mismatch", func(s *Signals) { s.IPCountry = "GB"; s.CountryMismatch = true }, Accept,
			"Billing country US differs from the IP's country GB."},
		{"email_disposable", func(s *Signals) { s.EmailDisposable = true; s.EmailDomain = "mailinator.com" }, Review,
			"The email domain mailinator.com gives out disposable addresses."},
		{"email_domain_suspect", func(s *Signals) { s.EmailSyntaxOK = false; s.EmailDomain = "example.invalidtld" }, Accept,
			"The email domain example.invalidtld is not under a known top-level domain."},
		{"email_free", func(s *Signals) { s.EmailFree = true; s.EmailDomain = "gmail.com" }, Accept,
			"The email address is at a free mail provider (gmail.com)."},
		{"velocity_ip_1h", func(s *Signals) { s.Velocity["ip_1h"] = 4 }, Accept, "4 orders from this IP in the last hour."},
		{"velocity_ip_24h", func(s *Signals) { s.Velocity["ip_24h"] = 11 }, Accept, "11 orders from this IP in the last 24 hours."},
		{"velocity_ip_prefix_1h", func(s *Signals) { s.Velocity["ip_prefix_1h"] = 11 }, Accept,
			"11 orders from this IP's network (/24 or /64) in the last hour."},
		{"velocity_email_24h", func(s *Signals) { s.Velocity["email_24h"] = 4 }, Accept, "4 orders with this email address in the last 24 hours."},
		{"velocity_account_24h", func(s *Signals) { s.Velocity["account_24h"] = 6 }, Accept, "6 orders from this account in the last 24 hours."},
		{"velocity_card_24h", func(s *Signals) { s.Velocity["card_24h"] = 4 }, Accept, "4 orders with this card in the last 24 hours."},
		{"velocity_address_24h", func(s *Signals) { s.Velocity["address_24h"] = 6 }, Accept, "6 orders to this billing address in the last 24 hours."},
		{"velocity_accounts_per_ip_24h", func(s *Signals) { s.Velocity["accounts_per_ip_24h"] = 3 }, Accept,
			"3 different accounts ordered from this IP in the last 24 hours."},
		{"velocity_cards_per_account_7d", func(s *Signals) { s.Velocity["cards_per_account_7d"] = 4 }, Review,
			"4 different cards used by this account in the last 7 days."},
		{"payment_failures_24h", func(s *Signals) { s.Velocity["payment_failed_account_24h"] = 4 }, Accept,
			"4 failed payments on this account in the last 24 hours."},
		{"refunds_7d", func(s *Signals) { s.Velocity["refund_account_7d"] = 3 }, Accept, "3 refunds on this account in the last 7 days."},
	}
	covered := map[string]bool{}
	for _, tc := range tests {
		covered[tc.rule] = true
		t.Run(tc.rule, func(t *testing.T) {
			t.Parallel()
			s := cleanSignals()
			tc.set(&s)
			v := rules.Evaluate(&s)
			i := slices.Index(v.Fired, tc.rule)
			if i < 0 {
				t.Fatalf("Evaluate() fired %v, want %s among them", v.Fired, tc.rule)
			}
			if v.Outcome != tc.outcome {
				t.Errorf("Evaluate() outcome = %s (score %d, fired %v), want %s", v.Outcome, v.Score, v.Fired, tc.outcome)
			}
			if got := v.Reasons[i].Detail; got != tc.detail {
				t.Errorf("detail = %q, want %q", got, tc.detail)
			}
			if len(v.Errors) > 0 {
				t.Errorf("Evaluate() errors = %v", v.Errors)
			}
		})
	}
	for _, name := range rules.Names() {
		if !covered[name] {
			t.Errorf("default rule %s has no test case", name)
		}
	}
}

// TestDefaultRulesHostingIP: GeoIP2 Anonymous IP sets is_anonymous on
// every flagged network, hosting providers included (71.160.223.0/24 of
// MaxMind's test database: is_anonymous and is_hosting_provider only). A
// VPS seller's customer ordering from a server is a hosting IP, worth the
// few points of ip_hosting, not also a VPN.
func TestDefaultRulesHostingIP(t *testing.T) {
	t.Parallel()
	s := cleanSignals()
	s.IPAnonymous, s.IPHosting = true, true
	v := defaultRules(t).Evaluate(&s)
	if diff := cmp.Diff([]string{"ip_hosting"}, v.Fired); diff != "" {
		t.Errorf("Evaluate(hosting IP) fired (-want +got):\n%s", diff)
	}
	// Anonymous without any other flag is still an anonymizer.
	s = cleanSignals()
	s.IPAnonymous = true
	if v := defaultRules(t).Evaluate(&s); !slices.Contains(v.Fired, "ip_vpn") {
		t.Errorf("Evaluate(anonymous only) fired %v, want ip_vpn", v.Fired)
	}
}

// TestDefaultRulesDetailsCarryNoIP: reasons are stored with the order and
// published in its order.held/order.rejected event, which carries no
// personal data beyond order and account ids (package doc); no default
// rule's detail may show the customer's IP.
func TestDefaultRulesDetailsCarryNoIP(t *testing.T) {
	t.Parallel()
	s := cleanSignals()
	s.IP, s.IPCountry, s.IPLocated = "203.0.113.77", "", true
	v := defaultRules(t).Evaluate(&s)
	for _, r := range v.Reasons {
		if strings.Contains(r.Detail, s.IP) {
			t.Errorf("reason %s shows the IP: %q", r.Code, r.Detail)
		}
	}
}

func TestDefaultRulesCombine(t *testing.T) {
	t.Parallel()
	rules := defaultRules(t)
	// A card tester: new disposable email behind Tor with a burst of
	// cards. Points add up past reject_at without any forced decision.
	s := cleanSignals()
	s.EmailDisposable = true
	s.IPTor = true
	s.Velocity["cards_per_account_7d"] = 5
	v := rules.Evaluate(&s)
	if v.Outcome != Reject || v.Score != 100 {
		t.Errorf("Evaluate(card tester) = %s %d (fired %v), want reject 100", v.Outcome, v.Score, v.Fired)
	}
	// minFraud down and a moderately risky profile: forced review keeps
	// the score at least review_at.
	s = cleanSignals()
	s.MinFraudAvailable = false
	s.EmailFree = true
	v = rules.Evaluate(&s)
	if v.Outcome != Review || v.Score != DefaultReviewAt {
		t.Errorf("Evaluate(minfraud down) = %s %d, want review %d", v.Outcome, v.Score, DefaultReviewAt)
	}
	want := []Reason{
		{Code: "minfraud_unavailable", Detail: "minFraud could not be reached (timeout or error); the order needs a manual review."},
		{Code: "email_free", Detail: "The email address is at a free mail provider (example.com)."},
	}
	if diff := cmp.Diff(want, v.Reasons); diff != "" {
		t.Errorf("reasons mismatch (-want +got):\n%s", diff)
	}
	// minFraud not configured: nothing forces a review.
	s = cleanSignals()
	s.MinFraudEnabled, s.MinFraudAvailable = false, false
	if v := rules.Evaluate(&s); v.Outcome != Accept {
		t.Errorf("Evaluate(minfraud disabled) = %s (fired %v), want accept", v.Outcome, v.Fired)
	}
}

func TestEvaluateSemantics(t *testing.T) {
	t.Parallel()
	rule := func(name, expr string, points int, decision Outcome) Rule {
		return Rule{Name: name, Reason: name, Detail: "d", Expr: expr, Points: points, Decision: decision}
	}
	tests := []struct {
		name    string
		rules   []Rule
		outcome Outcome
		score   int
		fired   []string
	}{
		{"points sum to review", []Rule{rule("a", "true", 30, ""), rule("b", "true", 25, ""), rule("c", "false", 50, "")}, Review, 55, []string{"a", "b"}},
		{"points clamp at 100", []Rule{rule("a", "true", 80, ""), rule("b", "true", 80, "")}, Reject, 100, []string{"a", "b"}},
		{"negative points clamp at 0", []Rule{rule("a", "true", -40, ""), rule("b", "true", 10, "")}, Accept, 0, []string{"a", "b"}},
		{"negative points lower the score", []Rule{rule("a", "true", 60, ""), rule("b", "true", -20, "")}, Accept, 40, []string{"a", "b"}},
		{"forced reject beats everything", []Rule{rule("a", "true", 0, Accept), rule("b", "true", 0, Reject), rule("c", "true", 0, Review)}, Reject, 90, []string{"a", "b", "c"}},
		{"forced review is a floor", []Rule{rule("a", "true", 0, Review)}, Review, 50, []string{"a"}},
		{"forced review with a rejecting score rejects", []Rule{rule("a", "true", 0, Review), rule("b", "true", 95, "")}, Reject, 95, []string{"a", "b"}},
		{"forced accept beats points", []Rule{rule("a", "true", 0, Accept), rule("b", "true", 95, "")}, Accept, 95, []string{"a", "b"}},
		{"forced review beats forced accept", []Rule{rule("a", "true", 0, Accept), rule("b", "true", 0, Review)}, Review, 50, []string{"a", "b"}},
		{"runtime error forces review", []Rule{rule("a", `blocklist_hits[3] == "x"`, 5, "")}, Review, 50, []string{"a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rs, err := CompileRules(tc.rules, 50, 90)
			if err != nil {
				t.Fatal(err)
			}
			s := cleanSignals()
			v := rs.Evaluate(&s)
			if v.Outcome != tc.outcome || v.Score != tc.score || !slices.Equal(v.Fired, tc.fired) {
				t.Errorf("Evaluate() = %s %d %v, want %s %d %v", v.Outcome, v.Score, v.Fired, tc.outcome, tc.score, tc.fired)
			}
		})
	}
}

func TestEvaluateRuntimeErrorReason(t *testing.T) {
	t.Parallel()
	rs, err := CompileRules([]Rule{{Name: "hits", Reason: "x", Detail: "d", Expr: `blocklist_hits[3] == "x"`, Points: 5}}, 50, 90)
	if err != nil {
		t.Fatal(err)
	}
	s := cleanSignals()
	v := rs.Evaluate(&s)
	if len(v.Errors) != 1 || !strings.Contains(v.Errors[0].Error(), `rule "hits"`) {
		t.Errorf("Evaluate() errors = %v, want one naming rule hits", v.Errors)
	}
	if len(v.Reasons) != 1 || v.Reasons[0].Code != "rule_error" {
		t.Errorf("Evaluate() reasons = %v, want rule_error", v.Reasons)
	}
}

func TestDetailTemplates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		detail string
		want   string
	}{
		{"plain text", "plain text"},
		{"{velocity.ip_1h} orders", "3 orders"},
		{"score {minfraud_risk_score}, country {ip_country}", "score 12.5, country US"},
		{"{blocklist_hits}", "ip, card"},
		{"{amount * 2} {currency}", "24 USD"},
		{"{velocity.nope}", "0"},
		{"{blocklist_hits[7]}", "?"},
		{"{item_categories}", "vps, storage"},
	}
	for _, tc := range tests {
		rs, err := CompileRules([]Rule{{Name: "r", Reason: "r", Detail: tc.detail, Expr: "true", Points: 1}}, 50, 90)
		if err != nil {
			t.Fatalf("CompileRules(detail %q) = %v", tc.detail, err)
		}
		s := cleanSignals()
		s.Velocity["ip_1h"] = 3
		s.MinFraudRiskScore = 12.5
		s.BlocklistHits = []string{"ip", "card"}
		s.ItemCategories = []string{"vps", "storage"}
		v := rs.Evaluate(&s)
		if got := v.Reasons[0].Detail; got != tc.want {
			t.Errorf("detail %q = %q, want %q", tc.detail, got, tc.want)
		}
	}
}

func TestCompileRulesErrors(t *testing.T) {
	t.Parallel()
	ok := Rule{Name: "ok", Reason: "ok", Detail: "d", Expr: "true", Points: 1}
	with := func(f func(r *Rule)) []Rule {
		r := ok
		r.Name = "bad_rule"
		f(&r)
		return []Rule{ok, r}
	}
	tests := []struct {
		name  string
		rules []Rule
		want  []string // substrings of the error
	}{
		{"syntax error", with(func(r *Rule) { r.Expr = "ip_1h >" }), []string{`rule "bad_rule"`, "expr"}},
		{"unknown signal", with(func(r *Rule) { r.Expr = "ip_contry == \"US\"" }), []string{`rule "bad_rule"`, "ip_contry"}},
		{"not boolean", with(func(r *Rule) { r.Expr = "amount + 1" }), []string{`rule "bad_rule"`, "bool"}},
		{"type error", with(func(r *Rule) { r.Expr = `ip_country > 3` }), []string{`rule "bad_rule"`}},
		{"no expr", with(func(r *Rule) { r.Expr = " " }), []string{`rule "bad_rule"`, "expr is required"}},
		{"no points nor decision", with(func(r *Rule) { r.Points = 0 }), []string{`rule "bad_rule"`, "points or a decision"}},
		{"both", with(func(r *Rule) { r.Decision = Reject }), []string{`rule "bad_rule"`, "both"}},
		{"bad decision", with(func(r *Rule) { r.Points = 0; r.Decision = "deny" }), []string{`rule "bad_rule"`, `"deny"`}},
		{"points out of range", with(func(r *Rule) { r.Points = 101 }), []string{`rule "bad_rule"`, "points"}},
		{"bad reason code", with(func(r *Rule) { r.Reason = "Bad Code" }), []string{`rule "bad_rule"`, "reason"}},
		{"no detail", with(func(r *Rule) { r.Detail = "" }), []string{`rule "bad_rule"`, "detail"}},
		{"bad detail expression", with(func(r *Rule) { r.Detail = "{nope}" }), []string{`rule "bad_rule"`, "{nope}"}},
		{"unclosed detail", with(func(r *Rule) { r.Detail = "{ip" }), []string{`rule "bad_rule"`, "without"}},
		{"stray brace", with(func(r *Rule) { r.Detail = "a } b" }), []string{`rule "bad_rule"`, "without"}},
		{"bad name", with(func(r *Rule) { r.Name = "Bad-Name" }), []string{`rule "Bad-Name"`, "name"}},
		{"no name", with(func(r *Rule) { r.Name = "" }), []string{"rule 2", "name"}},
		{"duplicate name", with(func(r *Rule) { r.Name = "ok" }), []string{`rule "ok"`, "duplicate"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := CompileRules(tc.rules, 50, 90)
			if err == nil {
				t.Fatal("CompileRules() = nil error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("CompileRules() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
	for _, th := range [][2]int{{0, 90}, {50, 101}, {91, 90}} {
		if _, err := CompileRules([]Rule{ok}, th[0], th[1]); err == nil {
			t.Errorf("CompileRules(thresholds %v) = nil error", th)
		}
	}
}

func TestLoadRulesFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "rules:\n  - name: big\n    reason: big_order\n    detail: \"{amount} {currency}\"\n    expr: amount > 1000\n    points: 60\n")
	rs, err := LoadRules(good, 50, 90)
	if err != nil {
		t.Fatalf("LoadRules(good) = %v", err)
	}
	s := cleanSignals()
	s.Amount = 1500
	if v := rs.Evaluate(&s); v.Outcome != Review || v.Reasons[0].Detail != "1500 USD" {
		t.Errorf("Evaluate = %+v", v)
	}
	for _, tc := range []struct {
		name, content, want string
	}{
		{"unknown key", "rules:\n  - name: a\n    reason: a\n    detail: d\n    expr: \"true\"\n    points: 1\n    weight: 2\n", "weight"},
		{"no rules", "rules: []\n", "no rules"},
		{"not yaml", "rules: [\n", "parsing"},
		{"bad rule named", "rules:\n  - name: broken\n    reason: a\n    detail: d\n    expr: \"ip ==\"\n    points: 1\n", `rule "broken"`},
	} {
		p := write(tc.name+".yaml", tc.content)
		_, err := LoadRules(p, 50, 90)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("LoadRules(%s) = %v, want an error naming the file and containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := LoadRules(filepath.Join(dir, "missing.yaml"), 50, 90); err == nil {
		t.Error("LoadRules(missing file) = nil error")
	}
}
