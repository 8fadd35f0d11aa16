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
		{"no url", func(c *webhooks.Config) { c.Endpoints[0].URL = "" }, "url"},
		{"ftp url", func(c *webhooks.Config) { c.Endpoints[0].URL = "ftp://x/y" }, "http"},
		{"no host", func(c *webhooks.Config) { c.Endpoints[0].URL = "http:///x"; c.Endpoints[0].Name = "x" }, "host"},
		{"bad url", func(c *webhooks.Config) { c.Endpoints[0].URL = "http://a b/"; c.Endpoints[0].Name = "x" }, "URL"},
		{"no secret", func(c *webhooks.Config) { c.Endpoints[0].Secret = "" }, "secret"},
		{"bad secret", func(c *webhooks.Config) { c.Endpoints[0].Secret = "whsec_short" }, "secrets[0]"},
		{"bad rotated secret", func(c *webhooks.Config) { c.Endpoints[0].Secrets = []string{"nope"} }, "secrets[1]"},
		{"bad event", func(c *webhooks.Config) { c.Endpoints[0].Events = []string{"Order Cleared"} }, "events[0]"},
		{"duplicate name", func(c *webhooks.Config) { c.Endpoints = append(c.Endpoints, c.Endpoints[0]) }, "another endpoint"},
		{"bad name", func(c *webhooks.Config) { c.Endpoints[0].Name = "a/b" }, "name"},
		{"claim after below timeout", func(c *webhooks.Config) { c.ClaimAfter = time.Second; c.Endpoints[0].Timeout = 2 * time.Second }, "claim_after"},
		{"bad schedule", func(c *webhooks.Config) { c.RetrySchedule = []time.Duration{time.Second, -time.Second} }, "retry_schedule[1]"},
		{"in flight", func(c *webhooks.Config) { c.Endpoints[0].MaxInFlight = 10000 }, "max_in_flight"},
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
