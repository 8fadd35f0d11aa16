package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/internal/testenv"
)

// TestServeChargebackRestricts is issue 11's "done when" through the whole
// product on a real Redis: the storefront reports the payment and asks
// whether a refund is within the terms (a reasoned yes); a chargeback
// restricts the account and its next order is rejected with
// account_restricted; an officer sees the standing in one answer, may not
// lift the restriction, an admin may, with a reason.
func TestServeChargebackRestricts(t *testing.T) {
	rp := testenv.StartRedis(t)
	const (
		shopKey = "shop-key-0123456789abcdefghij"
		secret  = "jwt-secret-0123456789abcdefghijklmnop"
	)
	env := map[string]string{
		"GATEWAY_REDIS_URL":                  rp.URL(),
		"GATEWAY_SCREENING_HASH_KEY":         "0123456789abcdef0123456789abcdef",
		"GATEWAY_AUTH_API_KEYS":              `[{"name": "shop", "key_hash": "` + authHash(shopKey) + `"}]`,
		"GATEWAY_AUTH_JWT_SECRET":            secret,
		"GATEWAY_SCREENING_VELOCITY_TIMEOUT": "2s",
		"GATEWAY_HOLDS_KYC_WHEN":             "never",
		"GATEWAY_HOLDS_EMAIL_VERIFICATION":   "false",
	}
	_, admin, logs := serveInProcess(t, env)
	waitFor(t, admin+"/readyz", 200, nil, logs)
	officer := mintOfficer(t, secret)
	adminTok := mintRole(t, secret, "adam", auth.RoleAdmin)
	order := func(id string) string {
		return `{"order_id":"` + id + `","account":{"id":"acct-9","email":"nine@example.com"},"ip":"192.0.2.9",
			"billing":{"country":"US"},"amount":"30.00","currency":"USD","items":[{"sku":"vps-2","category":"vps","price":"30.00","quantity":1}]}`
	}
	must := func(code int, body string, want int, what string) {
		t.Helper()
		if code != want {
			t.Fatalf("%s = %d %s, want %d\n%s", what, code, body, want, logs.String())
		}
	}
	code, _, body := post(t, admin+"/api/v1/orders", shopKey, "application/json", order("INV-9001"))
	must(code, body, 200, "first order")
	if !strings.Contains(body, `"status":"cleared"`) {
		t.Fatalf("first order: %s", body)
	}
	paid := time.Now().UTC().Add(-2 * time.Hour).Format(time.RFC3339)
	code, _, body = post(t, admin+"/api/v1/orders/INV-9001/events", shopKey, "application/json", `{"type":"paid","paid_at":"`+paid+`"}`)
	must(code, body, 200, "paid event")
	failureAt := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	code, _, body = post(t, admin+"/api/v1/orders/INV-9001/refund-eligibility", shopKey, "application/json", `{"reason":"failure","failure_at":"`+failureAt+`"}`)
	must(code, body, 200, "eligibility")
	var ans struct {
		Eligible    bool    `json:"eligible"`
		Fraction    float64 `json:"fraction"`
		Amount      string  `json:"amount"`
		Destination string  `json:"destination"`
		Reasons     []struct{ Code, Detail string }
	}
	if err := json.Unmarshal([]byte(body), &ans); err != nil || !ans.Eligible || ans.Amount != "30.00" || ans.Fraction != 1 ||
		ans.Destination != "account_balance" || len(ans.Reasons) != 1 || ans.Reasons[0].Code != "failure_within_window" {
		t.Fatalf("eligibility: %s (%v)", body, err)
	}
	code, _, body = post(t, admin+"/api/v1/orders/INV-9001/refund-eligibility", shopKey, "application/json", `{"reason":"failure","failure_at":"2999-01-01T00:00:00Z"}`)
	must(code, body, 400, "eligibility in the future")

	code, _, body = post(t, admin+"/api/v1/orders/INV-9001/events", shopKey, "application/json", `{"type":"chargeback","reason":"disputed with the bank"}`)
	must(code, body, 200, "chargeback")
	code, _, body = post(t, admin+"/api/v1/orders", shopKey, "application/json", order("INV-9002"))
	must(code, body, 200, "order after the chargeback")
	var next struct {
		Status  string `json:"status"`
		Reasons []struct{ Code, Detail string }
	}
	if err := json.Unmarshal([]byte(body), &next); err != nil || next.Status != "rejected" || len(next.Reasons) == 0 || next.Reasons[0].Code != "account_restricted" ||
		!strings.Contains(next.Reasons[0].Detail, "chargeback on order INV-9001") {
		t.Fatalf("order of the restricted account: %s", body)
	}

	// The officer's one answer: both orders (the index fills through the
	// relay: at least once, shortly), the chargeback, the restriction.
	var st struct {
		Restriction *struct{ Reason string }  `json:"restriction"`
		Chargebacks []struct{ Amount string } `json:"chargebacks"`
		Orders      []struct {
			OrderID     string    `json:"order_id"`
			Status      string    `json:"status"`
			Termination *struct{} `json:"termination"`
		} `json:"orders"`
		Identity string `json:"identity"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body = getWith(t, admin+"/api/v1/accounts/acct-9?owner=key:shop", officer)
		must(code, body, 200, "standing")
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatal(err)
		}
		if len(st.Orders) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.Restriction == nil || len(st.Chargebacks) != 1 || st.Chargebacks[0].Amount != "30.00" || len(st.Orders) != 2 ||
		st.Orders[0].OrderID != "INV-9002" || st.Orders[0].Status != "rejected" || st.Orders[1].Termination == nil || st.Identity != "not_verified" {
		t.Fatalf("standing: %s", body)
	}
	lift := `{"kind":"restricted","reason":"the customer withdrew the dispute"}`
	code, body = send(t, "DELETE", admin+"/api/v1/accounts/acct-9/flags?owner=key:shop", officer, lift)
	must(code, body, 403, "an officer lifting")
	code, body = send(t, "DELETE", admin+"/api/v1/accounts/acct-9/flags?owner=key:shop", adminTok, lift)
	must(code, body, 200, "an admin lifting")
	if !strings.Contains(body, `"restriction":null`) {
		t.Fatalf("after lifting: %s", body)
	}
}

func send(t *testing.T, method, url, bearer, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
