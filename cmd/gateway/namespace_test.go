package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/internal/testenv"
)

// TestServeOrderNamespaces (issue 7, finding 8): a visitor's checkout, a
// storefront's API orders and another storefront's API orders each have
// their own order_id namespace. A visitor posting /checkout with the
// storefront's order number can neither pre-empt (409), read nor overwrite
// the storefront's order; one API key never reads or acts on another's;
// the storefront reads an intercepted checkout by the X-Screening-Id it was
// sent; officers address orders by screening id, or by order_id with its
// owner. It runs the whole product on a real Redis, as a black box.
func TestServeOrderNamespaces(t *testing.T) {
	rp := testenv.StartRedis(t)
	const (
		shopKey  = "shop-key-0123456789abcdefghij"
		otherKey = "other-key-0123456789abcdefghij"
		secret   = "jwt-secret-0123456789abcdefghijklmnop"
	)
	env := map[string]string{
		"GATEWAY_REDIS_URL":          rp.URL(),
		"GATEWAY_SCREENING_HASH_KEY": "0123456789abcdef0123456789abcdef",
		"GATEWAY_AUTH_API_KEYS": `[{"name": "shop", "key_hash": "` + authHash(shopKey) + `"},` +
			`{"name": "other", "key_hash": "` + authHash(otherKey) + `"}]`,
		"GATEWAY_AUTH_JWT_SECRET":            secret,
		"GATEWAY_TRUSTED_PROXIES":            "127.0.0.1",
		"GATEWAY_SCREENING_VELOCITY_TIMEOUT": "2s",
	}
	public, admin, logs := serveInProcess(t, env)
	waitFor(t, admin+"/readyz", 200, nil, logs)
	officer := mintOfficer(t, secret)

	checkout := func(orderID, plan, amount string) (int, string) {
		t.Helper()
		form := "order_id=" + orderID + "&email=mallory%40example.com&name=Mal+Lory&country=US&plan=" + plan +
			"&amount=" + amount + "&currency=USD&card_bin=555555&card_last4=4444"
		req, _ := http.NewRequest("POST", public+"/checkout", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", "192.0.2.66")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		page, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(page)
	}
	apiOrder := func(orderID, email string) string {
		return `{"order_id":"` + orderID + `","account":{"id":"42","email":"` + email + `"},"ip":"192.0.2.7",
			"billing":{"country":"US"},"amount":"12.00","currency":"USD"}`
	}
	type answer struct {
		ScreeningID string `json:"screening_id"`
		OrderID     string `json:"order_id"`
		Owner       string `json:"owner"`
	}
	decode := func(what, body string) answer {
		t.Helper()
		var a answer
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatalf("%s: %v in %s", what, err, body)
		}
		return a
	}

	// 1. A visitor takes the storefront's next invoice number first.
	code, page := checkout("INV-5000", "vps-s1", "5.00")
	if code != 200 {
		t.Fatalf("visitor checkout INV-5000 = %d:\n%.500s", code, page)
	}
	checkoutSID := regexp.MustCompile(`scr_[A-Za-z0-9_-]{22}`).FindString(page)
	if checkoutSID == "" {
		t.Errorf("the storefront was not sent a screening id in X-Screening-Id:\n%.800s", page)
	}

	// 2. The storefront's own INV-5000 is its own order: no 409.
	code, _, body := post(t, admin+"/api/v1/orders", shopKey, "application/json", apiOrder("INV-5000", "ann@example.com"))
	if code != 200 {
		t.Fatalf("storefront POST INV-5000 after a visitor's checkout INV-5000 = %d %s, want 200", code, body)
	}
	shop := decode("shop's order", body)
	if shop.OrderID != "INV-5000" || shop.Owner != "key:shop" || shop.ScreeningID == checkoutSID || !strings.HasPrefix(shop.ScreeningID, "scr_") {
		t.Errorf("storefront's order = %+v, want INV-5000 of key:shop under its own screening id", shop)
	}
	// And a replay of it is still a replay.
	if code, _, again := post(t, admin+"/api/v1/orders", shopKey, "application/json", apiOrder("INV-5000", "ann@example.com")); code != 200 || again != body {
		t.Errorf("replay = %d %s, want %s", code, again, body)
	}

	// 3. Reads by order_id stay in the caller's namespace.
	tests := []struct {
		name, path, cred string
		wantStatus       int
		want             answer
	}{
		{name: "shop reads its INV-5000", path: "/api/v1/orders/INV-5000", cred: shopKey, wantStatus: 200, want: shop},
		{name: "shop reads its order by screening id", path: "/api/v1/orders/" + shop.ScreeningID, cred: shopKey, wantStatus: 200, want: shop},
		{name: "shop reads the checkout by X-Screening-Id", path: "/api/v1/orders/" + checkoutSID, cred: shopKey, wantStatus: 200,
			want: answer{ScreeningID: checkoutSID, OrderID: "INV-5000", Owner: "checkout"}},
		{name: "other key cannot read shop's order_id", path: "/api/v1/orders/INV-5000", cred: otherKey, wantStatus: 404},
		{name: "other key cannot read shop's screening id", path: "/api/v1/orders/" + shop.ScreeningID, cred: otherKey, wantStatus: 404},
		{name: "shop cannot name the checkout namespace", path: "/api/v1/orders/INV-5000?owner=checkout", cred: shopKey, wantStatus: 400},
		{name: "officer: a bare order_id is ambiguous", path: "/api/v1/orders/INV-5000", cred: officer, wantStatus: 400},
		{name: "officer names the checkout owner", path: "/api/v1/orders/INV-5000?owner=checkout", cred: officer, wantStatus: 200,
			want: answer{ScreeningID: checkoutSID, OrderID: "INV-5000", Owner: "checkout"}},
		{name: "officer names the key", path: "/api/v1/orders/INV-5000?owner=" + url.QueryEscape("key:shop"), cred: officer, wantStatus: 200, want: shop},
		{name: "officer by screening id", path: "/api/v1/orders/" + shop.ScreeningID, cred: officer, wantStatus: 200, want: shop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := getWith(t, admin+tt.path, tt.cred)
			if code != tt.wantStatus {
				t.Fatalf("GET %s = %d %s, want %d", tt.path, code, body, tt.wantStatus)
			}
			if code == 200 {
				if got := decode(tt.path, body); got != tt.want {
					t.Errorf("GET %s = %+v, want %+v", tt.path, got, tt.want)
				}
			}
		})
	}

	// 4. Another key can neither report a chargeback on the shop's order
	// nor see it through its own INV-5000.
	if code, _, body := post(t, admin+"/api/v1/orders/"+shop.ScreeningID+"/events", otherKey, "application/json", `{"type":"chargeback"}`); code != 404 {
		t.Errorf("other key's chargeback on the shop's order = %d %s, want 404", code, body)
	}
	code, _, body = post(t, admin+"/api/v1/orders", otherKey, "application/json", apiOrder("INV-5000", "bo@example.com"))
	if code != 200 {
		t.Fatalf("other key POST INV-5000 = %d %s, want 200", code, body)
	}
	if other := decode("other's order", body); other.Owner != "key:other" || other.ScreeningID == shop.ScreeningID {
		t.Errorf("other key's INV-5000 = %+v, want its own order", other)
	}
	if code, body := getWith(t, admin+"/api/v1/orders/INV-5000", shopKey); code != 200 || decode("shop again", body) != shop {
		t.Errorf("shop's INV-5000 after the other key's = %d %s, want %+v", code, body, shop)
	}

	// 5. The other way round: the storefront's order first, then a visitor
	// reusing its number gets screened on its own, and the storefront's
	// order is untouched.
	code, _, body = post(t, admin+"/api/v1/orders", shopKey, "application/json", apiOrder("INV-6000", "ann@example.com"))
	if code != 200 {
		t.Fatalf("storefront POST INV-6000 = %d %s", code, body)
	}
	first := decode("INV-6000", body)
	if code, page := checkout("INV-6000", "vps-m2", "12.00"); code != 200 {
		t.Errorf("visitor checkout reusing INV-6000 = %d, want 200 (its own order):\n%.500s", code, page)
	}
	if code, body := getWith(t, admin+"/api/v1/orders/INV-6000", shopKey); code != 200 || decode("INV-6000 again", body) != first {
		t.Errorf("storefront's INV-6000 after the visitor's = %d %s, want %+v", code, body, first)
	}
}

func getWith(t *testing.T, url, bearer string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func mintOfficer(t *testing.T, secret string) string {
	t.Helper()
	return mintRole(t, secret, "olga", auth.RoleOfficer)
}

// mintRole mints a token of name in role.
func mintRole(t *testing.T, secret, name string, role auth.Role) string {
	t.Helper()
	cfg := auth.Config{JWTSecret: secret}
	cfg.SetDefaults()
	a, err := auth.New(cfg, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.Mint(name, role, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
