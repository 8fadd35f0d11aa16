package config

import (
	"strings"
	"testing"
	"time"
)

// TestWebhooksFromEnvironment: the endpoints come as JSON in the
// environment; a malformed URL or secret stops Load (and so check-config)
// naming the key, never echoing the secret, and the start-up log shows
// no secret either.
func TestWebhooksFromEnvironment(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	cfg, err := Load("", map[string]string{
		"GATEWAY_WEBHOOKS_ENDPOINTS":      `[{"url": "https://prov.internal/hooks", "secret": "` + secret + `", "events": ["order.cleared"]}]`,
		"GATEWAY_WEBHOOKS_RETRY_SCHEDULE": "1s,2s",
	})
	if err != nil {
		t.Fatal(err)
	}
	ep := cfg.Webhooks.Endpoints
	if len(ep) != 1 || ep[0].Name != "prov.internal" || ep[0].Secret != secret || ep[0].Timeout != 10*time.Second ||
		len(cfg.Webhooks.RetrySchedule) != 2 {
		t.Fatalf("webhooks = %+v", cfg.Webhooks)
	}
	for k, v := range cfg.Redacted() {
		if strings.Contains(k, "webhooks") && strings.Contains(strings.ToLower(stringOf(v)), "mfkq9r8g") {
			t.Errorf("start-up log shows %s = %v", k, v)
		}
	}
	for _, tt := range []struct{ endpoints, want string }{
		{`[{"url": "ftp://prov.internal/x", "secret": "` + secret + `"}]`, "webhooks.endpoints[0].url"},
		{`[{"url": "https://prov.internal/x", "secret": "whsec_bm90IGxvbmc="}]`, "webhooks.endpoints[0].secrets[0]"},
		{`[{"url": "https://prov.internal/x", "secret": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]`, "webhooks.endpoints[0].secrets[0]"},
		{`[{"url": "https://prov.internal/x"}]`, "webhooks.endpoints[0].secret"},
		{`[{"url": "https://prov.internal/x", "secret": "` + secret + `", "colour": "red"}]`, "colour"},
	} {
		_, err := Load("", map[string]string{"GATEWAY_WEBHOOKS_ENDPOINTS": tt.endpoints})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error naming %s", tt.endpoints, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "MfKQ9r8G") {
			t.Errorf("the error echoes the secret: %v", err)
		}
	}
}

func stringOf(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}
