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

// TestWebsocketPathsConflicts: a websocket path where no upgrade would ever
// pass (a checkout path, an exempt path) stops start-up.
func TestWebsocketPathsConflicts(t *testing.T) {
	const fields = `"fields": {"order_id": "id", "account.email": "email", "billing.country": "country", "amount": "total", "currency": "cur"}`
	const route = `[{"path": "/checkout", ` + fields + `}, {"path": "/shop/checkout", ` + fields + `}]`
	tests := []struct {
		ws, exempt, wantErr string
	}{
		{"/ws", "/hooks/", ""},
		{"/live/", "/hooks/", ""},
		{"/checkout/ws", "", "checkout route intercept[0]"},
		{"/checkout", "", "checkout route intercept[0]"},
		{"/checkout/", "", "checkout route intercept[0]"},
		{"/check", "", ""},
		{"/shop", "", ""}, // exact: does not cover /shop/checkout
		{"/shop/", "", "checkout route intercept[1]"},
		{"/hooks/ws", "/hooks/", "exempt from the geo-block"},
		{"/hooks/", "/hooks/", "exempt from the geo-block"},
	}
	for _, tt := range tests {
		env := map[string]string{"GATEWAY_INTERCEPT": route, "GATEWAY_PROXY_WEBSOCKET_PATHS": tt.ws, "GATEWAY_GEOBLOCK_EXEMPT_PATHS": tt.exempt}
		_, err := Load("", env)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("websocket_paths %s, exempt %s: Load = %v, want error %q", tt.ws, tt.exempt, err, tt.wantErr)
		}
	}
}
