package screening

import (
	"strings"
	"testing"
)

// TestInterceptRoutePath: a route path is written in the form the gateway
// matches in, the method is optional (every method with a body is
// screened), and nothing under /_gateway/ can be a route.
func TestInterceptRoutePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, path string
		bad          string // key of the expected error, "" = valid
	}{
		{"POST", "/checkout", ""},
		{"", "/checkout", ""},
		{"PUT", "/Cart/Checkout", ""},
		{"PATCH", "/cart.php", ""},
		{"", "/", ""},
		{"GET", "/checkout", "method"},
		{"DELETE", "/checkout", "method"},
		{"", "/checkout.", "path"},
		{"", "/checkout ", "path"},
		{"", "/a./checkout", "path"},
		{"", "/checkout;x", "path"},
		{"", `/cart\checkout`, "path"},
		{"", "/checkout%20", "path"},
		{"", "/checkout?a=1", "path"},
		{"", "/check\x00out", "path"},
		{"", "/checkout/", "path"},
		{"", "/_gateway/checkout", "path"},
		{"", "/_GATEWAY", "path"},
	}
	for _, tt := range tests {
		r := demoRoute(t, "/checkout")
		r.Method, r.Path = tt.method, tt.path
		r.SetDefaults()
		err := r.Validate()
		switch {
		case tt.bad == "" && err != nil:
			t.Errorf("Validate(%s %q) = %v, want nil", tt.method, tt.path, err)
		case tt.bad != "" && (err == nil || !strings.Contains(err.Error(), tt.bad+":")):
			t.Errorf("Validate(%s %q) = %v, want an error for %s", tt.method, tt.path, err, tt.bad)
		}
	}
}
