package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/vpsgate/gateway/internal/clientip"
	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/screening"
)

func TestInterceptor(t *testing.T) {
	routes := screening.DemoInterceptRoutes()
	for i := range routes {
		routes[i].SetDefaults()
	}
	form := "order_id=DEMO-1&email=ann%40example.com&name=Ann+Lee&country=US&plan=vps-1&amount=12.00&currency=USD&card_bin=411111&card_last4=1111"
	tests := []struct {
		name         string
		method, path string
		ctype        string
		body         string
		headers      map[string]string
		trailer      bool
		decision     screening.Outcome
		err          error
		wantStatus   int
		wantUpstream bool
		wantDecision string
	}{
		{name: "accepted checkout forwarded", method: "POST", path: "/checkout", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Accept, wantStatus: 200, wantUpstream: true, wantDecision: "accept"},
		{name: "review forwarded", method: "POST", path: "/checkout", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Review, wantStatus: 200, wantUpstream: true, wantDecision: "review"},
		{name: "rejected never reaches the shop", method: "POST", path: "/checkout", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Reject, wantStatus: 403},
		{name: "screening down: refused, not forwarded", method: "POST", path: "/checkout", ctype: "application/x-www-form-urlencoded", body: form, err: fmt.Errorf("x: %w", screening.ErrUnavailable), wantStatus: 503},
		{name: "reused order id: a clear page, not forwarded", method: "POST", path: "/checkout", ctype: "application/x-www-form-urlencoded", body: form, err: fmt.Errorf("order DEMO-1: %w", screening.ErrConflict), wantStatus: 409},
		{name: "bad field", method: "POST", path: "/checkout", ctype: "application/x-www-form-urlencoded", body: strings.Replace(form, "country=US", "country=Narnia", 1), decision: screening.Accept, wantStatus: 400},
		{name: "too large", method: "POST", path: "/checkout", ctype: "application/x-www-form-urlencoded", body: form + "&pad=" + strings.Repeat("x", 70<<10), decision: screening.Accept, wantStatus: 413},
		{name: "other route untouched; spoofed headers dropped", method: "GET", path: "/", headers: map[string]string{"X-Screening-Decision": "accept"}, wantStatus: 200, wantUpstream: true},
		// A storefront behind nginx or a PHP router serves these as its
		// checkout: they must be screened like it.
		{name: "double slash screened", method: "POST", path: "//checkout", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Reject, wantStatus: 403},
		{name: "trailing slash screened", method: "POST", path: "/checkout/", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Reject, wantStatus: 403},
		{name: "dot segments screened", method: "POST", path: "/x/../checkout", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Reject, wantStatus: 403},
		{name: "upper case path screened", method: "POST", path: "/CheckOut", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Reject, wantStatus: 403},
		{name: "segment parameters screened", method: "POST", path: "/checkout;jsessionid=1", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Reject, wantStatus: 403},
		{name: "lower-case method screened", method: "post", path: "/checkout", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Reject, wantStatus: 403},
		{name: "dot segment screened", method: "POST", path: "/./checkout", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Reject, wantStatus: 403},
		{name: "compressed body refused", method: "POST", path: "/checkout", ctype: "application/x-www-form-urlencoded", body: form, headers: map[string]string{"Content-Encoding": "gzip"}, decision: screening.Accept, wantStatus: 415},
		{name: "identity encoding forwarded", method: "POST", path: "/checkout", ctype: "application/x-www-form-urlencoded", body: form, headers: map[string]string{"Content-Encoding": "identity"}, decision: screening.Accept, wantStatus: 200, wantUpstream: true, wantDecision: "accept"},
		// Every method with a body is screened with the route's mapping,
		// and the route covers the paths below it (issue 7, finding 3).
		{name: "PUT screened", method: "PUT", path: "/checkout", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Reject, wantStatus: 403},
		{name: "PATCH screened", method: "PATCH", path: "/checkout", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Reject, wantStatus: 403},
		{name: "DELETE screened", method: "DELETE", path: "/checkout", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Reject, wantStatus: 403},
		{name: "custom method screened", method: "ORDER", path: "/checkout", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Reject, wantStatus: 403},
		{name: "PATH_INFO screened", method: "POST", path: "/checkout/x", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Reject, wantStatus: 403},
		{name: "directory index screened", method: "POST", path: "/checkout/index.php", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Reject, wantStatus: 403},
		{name: "trailing dot screened", method: "POST", path: "/checkout.", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Reject, wantStatus: 403},
		{name: "trailing space screened", method: "POST", path: "/checkout%20", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Reject, wantStatus: 403},
		{name: "accepted PUT forwarded with its decision", method: "PUT", path: "/checkout", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Accept, wantStatus: 200, wantUpstream: true, wantDecision: "accept"},
		{name: "GET on the checkout forwarded unscreened", method: "GET", path: "/checkout", decision: screening.Reject, wantStatus: 200, wantUpstream: true},
		{name: "neighbour path not a checkout", method: "POST", path: "/checkouts", ctype: "application/x-www-form-urlencoded", body: form, decision: screening.Reject, wantStatus: 200, wantUpstream: true},
		{name: "declared trailers refused", method: "POST", path: "/checkout", ctype: "application/x-www-form-urlencoded", body: form, trailer: true, decision: screening.Accept, wantStatus: 400},
		{name: "spoofed decision on checkout replaced", method: "POST", path: "/checkout", ctype: "application/x-www-form-urlencoded", body: form, headers: map[string]string{"X-Screening-Decision": "accept"}, decision: screening.Review, wantStatus: 200, wantUpstream: true, wantDecision: "review"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotBody, gotDecision, gotID string
			reached := false
			upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reached = true
				b, _ := io.ReadAll(r.Body)
				gotBody, gotDecision, gotID = string(b), r.Header.Get("X-Screening-Decision"), r.Header.Get("X-Screening-Id")
			})
			orders := &fakeOrders{err: tt.err, result: orders.Result{Decision: tt.decision, Score: 42}}
			h := NewInterceptor(routes, orders, slog.New(slog.DiscardHandler))(upstream)
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			req = req.WithContext(clientip.NewContext(req.Context(), netip.MustParseAddr("198.51.100.7")))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			if tt.trailer {
				req.Trailer = http.Header{"X-Screening-Decision": nil}
			}
			rec := httptest.NewRecorder()
			const requestID = "req-intercept-0001" // set by the outer middleware in production
			rec.Header().Set("X-Request-Id", requestID)
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if rec.Code >= 500 && !strings.Contains(rec.Body.String(), requestID) {
				t.Errorf("%d answer %q does not carry the request id %s", rec.Code, rec.Body, requestID)
			}
			if reached != tt.wantUpstream {
				t.Fatalf("reached upstream = %v, want %v", reached, tt.wantUpstream)
			}
			if tt.wantStatus == 503 && rec.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if !reached {
				return
			}
			if gotDecision != tt.wantDecision {
				t.Errorf("X-Screening-Decision upstream = %q, want %q", gotDecision, tt.wantDecision)
			}
			if tt.decision != "" && tt.method != "GET" && tt.path != "/checkouts" {
				if gotBody != tt.body {
					t.Errorf("forwarded body = %q, want the original bytes %q", gotBody, tt.body)
				}
				// The checkout namespace's screening id, not the visitor's
				// order_id (see fakeOrders.Submit).
				if want := "sid(checkout/DEMO-1)"; gotID != want {
					t.Errorf("X-Screening-Id = %q, want %s", gotID, want)
				}
			}
		})
	}
}
