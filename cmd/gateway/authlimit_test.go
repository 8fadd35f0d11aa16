package main

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/vpsgate/gateway/internal/testenv"
)

// TestServeLimitsFailedAuth runs two gateways on one Redis with the default
// limit (10 failures per 15 minutes): wrong API keys sent to either, from one
// address, end in 429 with Retry-After on the eleventh, whichever gateway
// gets it; the storefront's valid key, which already worked from that
// address, keeps working on both.
func TestServeLimitsFailedAuth(t *testing.T) {
	const apiKey = "shop-key-0123456789abcdefghij"
	prefix := testenv.KeyPrefix(t)
	env := func() map[string]string {
		return map[string]string{
			"GATEWAY_REDIS_URL":            testenv.RedisURL(t),
			"GATEWAY_SCREENING_KEY_PREFIX": prefix,
			"GATEWAY_SCREENING_HASH_KEY":   "0123456789abcdef0123456789abcdef",
			"GATEWAY_AUTH_API_KEYS":        `[{"name": "shop", "key_hash": "` + authHash(apiKey) + `"}]`,
		}
	}
	_, adminA, _ := serveInProcess(t, env())
	_, adminB, _ := serveInProcess(t, env())
	admins := []string{adminA, adminB}
	getOrder := func(admin, key string) (int, http.Header) {
		req, _ := http.NewRequest("GET", admin+"/api/v1/orders/NONE", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	for _, admin := range admins {
		if code, _ := getOrder(admin, apiKey); code != http.StatusNotFound {
			t.Fatalf("valid key before any failure = %d, want 404 (authenticated)", code)
		}
	}
	for i := range 11 {
		code, hdr := getOrder(admins[i%2], "wrong-key-"+strconv.Itoa(i))
		want := http.StatusUnauthorized
		if i == 10 {
			want = http.StatusTooManyRequests
		}
		if code != want {
			t.Fatalf("wrong key %d = %d, want %d", i+1, code, want)
		}
		if want == http.StatusTooManyRequests && hdr.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
	}
	for _, admin := range admins {
		if code, _ := getOrder(admin, apiKey); code != http.StatusNotFound {
			t.Errorf("valid key after the lock = %d, want 404 (authenticated)", code)
		}
	}
}
