package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAdminRouteTemplate: the admin side's metrics label is the matched
// route's template, for the API and the console, and the coarse name when
// no route matched.
func TestAdminRouteTemplate(t *testing.T) {
	api, creds := newTestAPIWith(t, func(d *APIDeps) {
		d.Orders, d.Blocklist = &fakeOrders{}, &fakeBlocklist{}
		d.Console = &ConsoleDeps{Sessions: nil}
	})
	for _, tc := range []struct{ path, want string }{
		{"/api/v1/orders/INV-1?owner=key:shop", "/api/v1/orders/:id"},
		{"/api/v1/blocklist", "/api/v1/blocklist"},
		{"/api/v1/nope/123", "api"},
		{"/console/login", "/console/login"},
		{"/console/kyc/CASE123", "/console/kyc/:id"},
		{"/console/static/console.css", "/console/static/*filepath"},
		{"/healthz", "healthz"},
	} {
		var got string
		h := withRouteTemplate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" {
				api.ServeHTTP(w, r)
			}
			got = adminRouteTemplate(r)
		}))
		r := httptest.NewRequest("GET", tc.path, nil)
		r.Header.Set("Authorization", "Bearer "+creds["officer"])
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got != tc.want {
			t.Errorf("%s: route %q, want %q", tc.path, got, tc.want)
		}
	}
}
