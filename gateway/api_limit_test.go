package gateway

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/internal/testenv"
)

// TestAPIAuthFailureLimit runs two admin APIs ("two gateway processes") on
// one Redis: wrong keys from one address, spread over both, end in 429 with
// Retry-After, and the storefront's valid key from another address is never
// refused.
func TestAPIAuthFailureLimit(t *testing.T) {
	prefix := testenv.KeyPrefix(t)
	const key = "shop-key-0123456789abcdef"
	newAPI := func() http.Handler {
		cfg := auth.Config{APIKeys: []auth.APIKey{{Name: "shop", KeyHash: auth.HashKey(key)}}, FailureLimit: 3, FailureWindow: time.Minute}
		cfg.SetDefaults()
		a, err := auth.New(cfg, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		l, err := auth.NewLimiter(cfg, testenv.RedisClient(t), prefix, time.Now, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		return NewAPI(APIDeps{Auth: a.WithLimiter(l), Orders: &fakeOrders{}, Blocklist: &fakeBlocklist{}, Logger: slog.New(slog.DiscardHandler)})
	}
	apis := []http.Handler{newAPI(), newAPI()}
	get := func(api http.Handler, peer, cred string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/api/v1/orders/INV-1", nil)
		r.RemoteAddr = peer
		r.Header.Set("Authorization", "Bearer "+cred)
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		return w
	}
	const attacker, shop = "198.51.100.66:5000", "192.0.2.10:6000"
	for i := range 8 {
		w := get(apis[i%2], attacker, "wrong-key-"+strconv.Itoa(i))
		want := http.StatusUnauthorized
		if i >= 3 {
			want = http.StatusTooManyRequests
		}
		if w.Code != want {
			t.Fatalf("wrong key %d: status %d, want %d (%s)", i, w.Code, want, w.Body)
		}
		if want == http.StatusTooManyRequests {
			ra, err := strconv.Atoi(w.Header().Get("Retry-After"))
			if err != nil || ra < 1 || ra > 60 {
				t.Errorf("wrong key %d: Retry-After = %q, want 1..60 seconds", i, w.Header().Get("Retry-After"))
			}
			if !strings.Contains(w.Body.String(), `"code":"rate_limited"`) {
				t.Errorf("wrong key %d: body %s, want code rate_limited", i, w.Body)
			}
		}
		if w := get(apis[i%2], shop, key); w.Code != http.StatusOK {
			t.Fatalf("storefront after wrong key %d: status %d, want 200", i, w.Code)
		}
	}
}
