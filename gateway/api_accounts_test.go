package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/refunds"
	"github.com/vpsgate/gateway/screening"
)

// fakeAccounts records what the account routes ask; the service itself
// is tested on real Redis in orders and end to end in cmd/gateway.
type fakeAccounts struct {
	calls []string
}

func (f *fakeAccounts) Standing(ctx context.Context, owner orders.Owner, account string, limit int) (orders.Standing, error) {
	f.calls = append(f.calls, fmt.Sprintf("standing %s %s %d", owner, account, limit))
	if account != "42" {
		return orders.Standing{}, fmt.Errorf("account %s: %w", account, screening.ErrNotFound)
	}
	return orders.Standing{Owner: owner, Account: account, Identity: "not_verified"}, nil
}

func (f *fakeAccounts) AddFlag(ctx context.Context, owner orders.Owner, account string, fr orders.FlagRequest, actor string) (orders.Standing, error) {
	f.calls = append(f.calls, fmt.Sprintf("flag %s %s %s %q by %s", owner, account, fr.Kind, fr.Reason, actor))
	return orders.Standing{Owner: owner, Account: account}, nil
}

func (f *fakeAccounts) RemoveFlag(ctx context.Context, owner orders.Owner, account string, fr orders.FlagRequest, actor string) (orders.Standing, error) {
	f.calls = append(f.calls, fmt.Sprintf("unflag %s %s %s %q by %s", owner, account, fr.Kind, fr.Reason, actor))
	return orders.Standing{Owner: owner, Account: account}, nil
}

func (f *fakeAccounts) RefundEligibility(ctx context.Context, a orders.Access, id string, req refunds.Request, actor string) (refunds.Answer, error) {
	f.calls = append(f.calls, fmt.Sprintf("eligibility %s %+v %s by %s", id, a, req.Reason, actor))
	if err := req.Check(testNow); err != nil {
		return refunds.Answer{}, err
	}
	return refunds.Answer{Eligible: true, Fraction: 1, Amount: "12.00", Destination: "account_balance",
		Reasons: []refunds.Reason{{Code: refunds.CodeFailureInWindow, Detail: "x"}}}, nil
}

// testNow is the API tests' clock (newTestAPIWith).
var testNow = time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC)

func TestAccountRoutes(t *testing.T) {
	const failure = `{"reason":"failure","failure_at":"2026-11-29T04:00:00Z"}`
	tests := []struct {
		name, as, method, path, body string
		status                       int
		call                         string // what the service was asked, "" nothing
		body2                        string // in the answer
	}{
		{"storefront reads its own account", "shop", "GET", "/api/v1/accounts/42", "", 200, "standing key:shop 42 100", `"identity":"not_verified"`},
		{"storefront may not name an owner", "shop", "GET", "/api/v1/accounts/42?owner=key:other", "", 400, "", `"field":"owner"`},
		{"unknown account", "shop", "GET", "/api/v1/accounts/43", "", 404, "standing key:shop 43 100", ""},
		{"officer names the owner", "officer", "GET", "/api/v1/accounts/42?owner=key:shop&limit=5", "", 200, "standing key:shop 42 5", ""},
		{"officer without owner", "officer", "GET", "/api/v1/accounts/42", "", 400, "", `"field":"owner"`},
		{"officer, legacy owner", "officer", "GET", "/api/v1/accounts/42?owner=legacy", "", 400, "", `"field":"owner"`},
		{"bad limit", "officer", "GET", "/api/v1/accounts/42?owner=checkout&limit=0", "", 400, "", `"field":"limit"`},
		{"officer flags", "officer", "POST", "/api/v1/accounts/42/flags?owner=key:shop", `{"kind":"attacks","reason":"DDoS from its VPS"}`, 201,
			`flag key:shop 42 attacks "DDoS from its VPS" by officer:olga`, ""},
		{"storefront may not flag", "shop", "POST", "/api/v1/accounts/42/flags", `{"kind":"attacks","reason":"x"}`, 403, "", ""},
		{"flag without reason", "officer", "POST", "/api/v1/accounts/42/flags?owner=key:shop", `{"kind":"attacks","reason":"  "}`, 400, "", `"field":"reason"`},
		{"unknown flag kind", "officer", "POST", "/api/v1/accounts/42/flags?owner=key:shop", `{"kind":"rude","reason":"x"}`, 400, "", `"field":"kind"`},
		{"restricted is not a flag to add", "officer", "POST", "/api/v1/accounts/42/flags?owner=key:shop", `{"kind":"restricted","reason":"x"}`, 400, "", `"field":"kind"`},
		{"unknown member", "officer", "POST", "/api/v1/accounts/42/flags?owner=key:shop", `{"kind":"bans","reason":"x","by":"me"}`, 400, "", `"field":"by"`},
		{"officer removes a flag", "officer", "DELETE", "/api/v1/accounts/42/flags?owner=key:shop", `{"kind":"bans","reason":"appeal granted"}`, 200,
			`unflag key:shop 42 bans "appeal granted" by officer:olga`, ""},
		{"officer may not lift a restriction", "officer", "DELETE", "/api/v1/accounts/42/flags?owner=key:shop", `{"kind":"restricted","reason":"x"}`, 403, "", "admin action"},
		{"admin lifts a restriction", "admin", "DELETE", "/api/v1/accounts/42/flags?owner=key:shop", `{"kind":"restricted","reason":"dispute withdrawn"}`, 200,
			`unflag key:shop 42 restricted "dispute withdrawn" by admin:adam`, ""},
		{"lifting needs a reason", "admin", "DELETE", "/api/v1/accounts/42/flags?owner=key:shop", `{"kind":"restricted"}`, 400, "", `"field":"reason"`},
		{"storefront asks eligibility", "shop", "POST", "/api/v1/orders/INV-1/refund-eligibility", failure, 200,
			"eligibility INV-1 {Owner:key:shop Officer:false} failure by key:shop", `"destination":"account_balance"`},
		{"officer asks eligibility", "officer", "POST", "/api/v1/orders/scr_x/refund-eligibility", failure, 200,
			"eligibility scr_x {Owner: Officer:true} failure by officer:olga", `"eligible":true`},
		{"eligibility unknown member", "shop", "POST", "/api/v1/orders/INV-1/refund-eligibility", `{"reason":"failure","why":"x"}`, 400, "", `"field":"why"`},
		{"eligibility missing field", "shop", "POST", "/api/v1/orders/INV-1/refund-eligibility", `{"reason":"outage"}`, 400,
			"eligibility INV-1 {Owner:key:shop Officer:false} outage by key:shop", `"field":"outage_hours"`},
		{"eligibility in the future", "shop", "POST", "/api/v1/orders/INV-1/refund-eligibility", `{"reason":"failure","failure_at":"2027-01-01T00:00:00Z"}`, 400,
			"eligibility INV-1 {Owner:key:shop Officer:false} failure by key:shop", `is in the future`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAccounts{}
			h, creds := newTestAPIWith(t, func(d *APIDeps) { d.Accounts, d.Audit = f, &fakeAudit{} })
			code, body := serveAPI(t, h, creds[tt.as], tt.method, tt.path, tt.body)
			if code != tt.status || !strings.Contains(body, tt.body2) {
				t.Fatalf("%s %s = %d %s, want %d with %s", tt.method, tt.path, code, body, tt.status, tt.body2)
			}
			var want []string
			if tt.call != "" {
				want = []string{tt.call}
			}
			if diff := cmp.Diff(want, f.calls); diff != "" {
				t.Errorf("service calls (-want +got):\n%s", diff)
			}
		})
	}
}

// Without the accounts service the routes answer 503.
func TestAccountRoutesOff(t *testing.T) {
	h, creds := newTestAPIWith(t, func(d *APIDeps) { d.Audit = &fakeAudit{} })
	for _, p := range []string{"/api/v1/accounts/42?owner=key:shop"} {
		if code, body := serveAPI(t, h, creds["officer"], "GET", p, ""); code != 503 || !strings.Contains(body, "not configured") {
			t.Errorf("GET %s = %d %s", p, code, body)
		}
	}
}
