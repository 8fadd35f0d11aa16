package config

import (
	"strings"
	"testing"
)

// TestInterceptRoutesMatchByPath: a route covers every method with a body,
// so two routes on one path (in any case) are refused, and a file that
// still names the method loads.
func TestInterceptRoutesMatchByPath(t *testing.T) {
	route := func(method, path string) string {
		return `{"method": "` + method + `", "path": "` + path + `", "fields": {"order_id": "id", "account.email": "email", "billing.country": "country", "amount": "total", "currency": "cur"}}`
	}
	tests := []struct {
		name, intercept string
		wantErr         string
	}{
		{"method kept", "[" + route("POST", "/checkout") + "]", ""},
		{"method left out", "[" + route("", "/checkout") + "]", ""},
		{"same path, other method", "[" + route("POST", "/checkout") + "," + route("PUT", "/checkout") + "]", "intercept[1].path"},
		{"same path, other case", "[" + route("POST", "/checkout") + "," + route("POST", "/Checkout") + "]", "intercept[1].path"},
	}
	for _, tt := range tests {
		_, err := Load("", map[string]string{"GATEWAY_INTERCEPT": tt.intercept})
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: Load = %v, want error %q", tt.name, err, tt.wantErr)
		}
	}
}
