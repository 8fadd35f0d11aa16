package webhooks_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vpsgate/gateway/webhooks"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	good := webhooks.Endpoint{URL: "https://prov.internal:8443/hooks", Secret: specSecret}
	for _, tt := range []struct {
		name string
		edit func(c *webhooks.Config)
		want string // "" valid; else a substring of the error
	}{
		{"none", func(c *webhooks.Config) { c.Endpoints = nil }, ""},
		{"good", func(c *webhooks.Config) {}, ""},
		{"rotation", func(c *webhooks.Config) {
			c.Endpoints[0].Secret = ""
			c.Endpoints[0].Secrets = []string{specSecret, otherSecret}
		}, ""},
		{"no url", func(c *webhooks.Config) { c.Endpoints[0].URL = "" }, "webhooks[0].url: is required"},
		{"ftp url", func(c *webhooks.Config) { c.Endpoints[0].URL = "ftp://x/y" }, "webhooks[0].url: must be an http"},
		{"no host", func(c *webhooks.Config) { c.Endpoints[0].URL = "http:///x"; c.Endpoints[0].Name = "x" }, "webhooks[0].url: has no host"},
		{"bad url", func(c *webhooks.Config) { c.Endpoints[0].URL = "http://a b/"; c.Endpoints[0].Name = "x" }, "webhooks[0].url: is not a URL"},
		{"no secret", func(c *webhooks.Config) { c.Endpoints[0].Secret = "" }, "webhooks[0].secret: is required"},
		{"bad secret", func(c *webhooks.Config) { c.Endpoints[0].Secret = "whsec_short" }, "webhooks[0].secret: must be whsec_ followed by standard base64"},
		{"bad rotated secret", func(c *webhooks.Config) { c.Endpoints[0].Secrets = []string{specSecret, "nope"} }, "webhooks[0].secrets[1]: must start with whsec_"},
		{"bad event", func(c *webhooks.Config) { c.Endpoints[0].Events = []string{"Order Cleared"} }, `webhooks[0].events[0]: "Order Cleared"`},
		{"duplicate name", func(c *webhooks.Config) { c.Endpoints = append(c.Endpoints, c.Endpoints[0]) }, `webhooks[1].name: "prov.internal-8443": is used by webhooks[0]`},
		{"bad name", func(c *webhooks.Config) { c.Endpoints[0].Name = "a/b" }, `webhooks[0].name: "a/b"`},
		{"claim after below timeout", func(c *webhooks.Config) { c.ClaimAfter = time.Second; c.Endpoints[0].Timeout = 2 * time.Second }, `webhook_delivery.claim_after: "1s": must exceed the timeout`},
		{"bad schedule", func(c *webhooks.Config) { c.RetrySchedule = []time.Duration{time.Second, -time.Second} }, `webhook_delivery.retry_schedule[1]: "-1s"`},
		{"in flight", func(c *webhooks.Config) { c.Endpoints[0].MaxInFlight = 10000 }, `webhooks[0].max_in_flight: "10000"`},
		{"negative claim_after", func(c *webhooks.Config) { c.ClaimAfter = -time.Second }, `webhook_delivery.claim_after: "-1s": must be positive`},
		{"attempts kept", func(c *webhooks.Config) { c.MaxAttemptsKept = 1001 }, "webhook_delivery.max_attempts_kept"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := webhooks.Config{Endpoints: []webhooks.Endpoint{good}}
			tt.edit(&c)
			c.SetDefaults()
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate accepted it")
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Validate: %v; want it to mention %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "MfKQ9r8G") {
				t.Errorf("the error echoes a secret: %v", err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c := webhooks.Config{Endpoints: []webhooks.Endpoint{{URL: "http://Prov.Internal:8080/x", Secret: specSecret}}}
	c.SetDefaults()
	if got := c.Endpoints[0].Name; got != "prov.internal-8080" {
		t.Errorf("default name = %q", got)
	}
	if len(c.RetrySchedule) != 7 || c.RetrySchedule[0] != 5*time.Second || c.RetrySchedule[6] != 10*time.Hour {
		t.Errorf("default schedule = %v", c.RetrySchedule)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

// TestConfigValidateReportsAll: every problem of both keys at once, each
// named as the operator writes it, no secret or URL echoed.
func TestConfigValidateReportsAll(t *testing.T) {
	t.Parallel()
	c := webhooks.Config{Endpoints: []webhooks.Endpoint{
		{URL: "gopher://user:pw@prov.internal/x", Secret: specSecret, Name: "a"},
		{URL: "https://prov.internal/y", Secret: "whsec_MfKQ9r8G", Secrets: []string{"plain"}},
	}}
	c.SetDefaults()
	c.Retention = -time.Hour
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted it")
	}
	for _, want := range []string{
		"webhooks[0].url: must be an http:// or https:// URL",
		"webhooks[1].secret: ",
		"webhooks[1].secrets[0]: must start with whsec_",
		`webhook_delivery.retention: "-1h0m0s": must be positive`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v\nwant it to mention %q", err, want)
		}
	}
	for _, secret := range []string{"MfKQ9r8G", "plain", "user:pw"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error echoes %q: %v", secret, err)
		}
	}
}
