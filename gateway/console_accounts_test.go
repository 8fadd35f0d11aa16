package gateway

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/refunds"
)

// standingAccounts is fakeAccounts whose account 42 is restricted and
// flagged, with customer text that tries to disguise itself.
type standingAccounts struct{ *fakeAccounts }

func (s standingAccounts) Standing(ctx context.Context, owner orders.Owner, account string, limit int) (orders.Standing, error) {
	st, err := s.fakeAccounts.Standing(ctx, owner, account, limit)
	if err != nil {
		return st, err
	}
	st.Restriction = &orders.Restriction{Reason: "chargeback <script>alert(1)</script> \u202Egnp.exe", By: "key:shop", Since: testNow, Order: "scr_1"}
	st.Flags = []orders.Flag{{Kind: refunds.FlagBans, Reason: "banned at \u202Eprovider", By: "officer:olga", Time: testNow}}
	st.Orders = []orders.Result{{ScreeningID: "scr_1", OrderID: "A-1", Owner: owner, Status: orders.StatusCleared, CreatedAt: testNow}}
	st.Chargebacks = []orders.Money{{ScreeningID: "scr_1", OrderID: "A-1", Amount: "12.00", Currency: "EUR", Date: testNow}}
	return st, nil
}

// TestConsoleAccount: the account page shows the standing with customer
// text made harmless; its forms go through the API's decoding and
// service calls (audited there, with the officer as actor); an officer
// may not lift a restriction (403), an admin may; forms without the
// session's CSRF token or from another site are refused before the
// service is asked.
func TestConsoleAccount(t *testing.T) {
	cfg := consoleAuthConfig(t)
	fa := &fakeAccounts{}
	h, _ := newTestAPIWith(t, func(d *APIDeps) {
		d.Audit, d.Orders, d.Accounts = &fakeAudit{}, &fakeOrders{}, standingAccounts{fa}
		d.Console = &ConsoleDeps{Sessions: auth.NewSessions(cfg, time.Now),
			Limiter: auth.NewLoginLimiter(cfg, testenv.RedisClient(t), testenv.KeyPrefix(t)+"login:")}
	})
	officer := &consoleClient{t: t, h: h, addr: "198.51.100.21:1"}
	admin := &consoleClient{t: t, h: h, addr: "198.51.100.22:1"}
	if rec := officer.login(officerEmail, officerPassword); rec.Code != http.StatusSeeOther {
		t.Fatalf("officer login: %d", rec.Code)
	}
	if rec := admin.login(adminEmail, adminPassword); rec.Code != http.StatusSeeOther {
		t.Fatalf("admin login: %d", rec.Code)
	}
	const page = "/console/accounts/42?owner=key:shop"
	ocsrf, acsrf := officer.csrf(page), admin.csrf(page)

	t.Run("page", func(t *testing.T) {
		body := officer.do("GET", page, nil, nil).Body.String()
		for _, want := range []string{"restricted", "&lt;script&gt;", "⟦U&#43;202E⟧gnp.exe", "⟦U&#43;202E⟧provider", `href="/console/orders?id=scr_1"`,
			"12.00 EUR", `action="/console/accounts/42/flags?owner=key%3Ashop"`, "Only an admin may lift the restriction"} {
			if !strings.Contains(body, want) {
				t.Errorf("account page lacks %q:\n%.3000s", want, body)
			}
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, "\u202E") || strings.Contains(body, `value="restricted"`) {
			t.Errorf("account page shows raw customer text or offers an officer the lifting:\n%.3000s", body)
		}
		if body := admin.do("GET", page, nil, nil).Body.String(); !strings.Contains(body, `value="restricted"`) {
			t.Errorf("admin is not offered to lift the restriction")
		}
	})

	tests := []struct {
		name   string
		cc     *consoleClient
		path   string
		form   url.Values
		hdr    map[string]string
		status int
		call   string // what the service was asked, "" nothing
	}{
		{"lookup", officer, "/console/accounts?owner=key:shop&id=42", nil, nil, http.StatusSeeOther, ""},
		{"no owner", officer, "/console/accounts/42", nil, nil, http.StatusBadRequest, ""},
		{"legacy owner", officer, "/console/accounts/42?owner=legacy", nil, nil, http.StatusBadRequest, ""},
		{"unknown account", officer, "/console/accounts/43?owner=key:shop", nil, nil, http.StatusNotFound, "standing key:shop 43 200"},
		{"officer flags", officer, "/console/accounts/42/flags?owner=key:shop", url.Values{"csrf": {ocsrf}, "kind": {"attacks"}, "reason": {"DDoS from its VPS"}},
			nil, http.StatusSeeOther, `flag key:shop 42 attacks "DDoS from its VPS" by officer:` + officerEmail},
		{"flag without reason", officer, "/console/accounts/42/flags?owner=key:shop", url.Values{"csrf": {ocsrf}, "kind": {"attacks"}, "reason": {" "}},
			nil, http.StatusBadRequest, ""},
		{"restricted is no flag to add", officer, "/console/accounts/42/flags?owner=key:shop", url.Values{"csrf": {ocsrf}, "kind": {"restricted"}, "reason": {"x"}},
			nil, http.StatusBadRequest, ""},
		{"flag without csrf", officer, "/console/accounts/42/flags?owner=key:shop", url.Values{"kind": {"attacks"}, "reason": {"x"}},
			nil, http.StatusForbidden, ""},
		{"flag with another session's csrf", officer, "/console/accounts/42/flags?owner=key:shop", url.Values{"csrf": {acsrf}, "kind": {"attacks"}, "reason": {"x"}},
			nil, http.StatusForbidden, ""},
		{"cross-site flag", officer, "/console/accounts/42/flags?owner=key:shop", url.Values{"csrf": {ocsrf}, "kind": {"attacks"}, "reason": {"x"}},
			map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden, ""},
		{"cross-site removal", admin, "/console/accounts/42/flags/remove?owner=key:shop", url.Values{"csrf": {acsrf}, "kind": {"restricted"}, "reason": {"x"}},
			map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden, ""},
		{"officer removes a flag", officer, "/console/accounts/42/flags/remove?owner=key:shop", url.Values{"csrf": {ocsrf}, "kind": {"bans"}, "reason": {"appeal granted"}},
			nil, http.StatusSeeOther, `unflag key:shop 42 bans "appeal granted" by officer:` + officerEmail},
		{"officer may not lift a restriction", officer, "/console/accounts/42/flags/remove?owner=key:shop", url.Values{"csrf": {ocsrf}, "kind": {"restricted"}, "reason": {"x"}},
			nil, http.StatusForbidden, ""},
		{"lifting needs a reason", admin, "/console/accounts/42/flags/remove?owner=key:shop", url.Values{"csrf": {acsrf}, "kind": {"restricted"}},
			nil, http.StatusBadRequest, ""},
		{"admin lifts the restriction", admin, "/console/accounts/42/flags/remove?owner=key:shop", url.Values{"csrf": {acsrf}, "kind": {"restricted"}, "reason": {"dispute withdrawn"}},
			nil, http.StatusSeeOther, `unflag key:shop 42 restricted "dispute withdrawn" by admin:` + adminEmail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fa.calls = nil
			method := "GET"
			if tt.form != nil {
				method = "POST"
			}
			rec := tt.cc.do(method, tt.path, tt.form, tt.hdr)
			if rec.Code != tt.status {
				t.Errorf("%s %s: %d, want %d\n%.1500s", method, tt.path, rec.Code, tt.status, rec.Body)
			}
			if tt.status == http.StatusSeeOther && !strings.HasPrefix(rec.Header().Get("Location"), "/console/accounts/42?owner=key%3Ashop") {
				t.Errorf("redirect to %q", rec.Header().Get("Location"))
			}
			var want []string
			if tt.call != "" {
				want = []string{tt.call}
			}
			if method == "GET" && tt.call == "" {
				return
			}
			if !slices.Equal(fa.calls, want) {
				t.Errorf("service asked %q, want %q", fa.calls, want)
			}
		})
	}
}
