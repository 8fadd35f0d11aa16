package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/webhooks"
)

// Two valid Standard Webhooks secrets (base64 of 24 and 37 bytes).
const (
	whSecret      = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	whOtherSecret = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24tdGVzdHM="
)

// TestWebhooksLoad: `webhooks` is the list PRODUCT.md §2 promises, from the
// file (a secret from ${VAR}) and from GATEWAY_WEBHOOKS as JSON, with
// rotation secrets; the delivery knobs are webhook_delivery.*, from the file
// or from their variables.
func TestWebhooksLoad(t *testing.T) {
	wantEndpoints := []webhooks.Endpoint{
		{Name: "provisioning", URL: "https://prov.internal/hooks", Secret: whSecret, Secrets: []string{whOtherSecret},
			Events: []string{"order.cleared", "order.rejected"}, Timeout: 2 * time.Second, MaxInFlight: 8},
		{Name: "127.0.0.1-9", URL: "http://127.0.0.1:9/hook", Secret: whSecret, Timeout: 10 * time.Second, MaxInFlight: 3},
	}
	file := writeFile(t, `
webhooks:
  - url: https://prov.internal/hooks
    name: provisioning
    secret: ${PROV_SECRET}
    secrets: [`+whOtherSecret+`]
    events: [order.cleared, order.rejected]
    timeout: 2s
  - url: http://127.0.0.1:9/hook
    secret: `+whSecret+`
    max_in_flight: 3
webhook_delivery:
  retry_schedule: [1s, 1m]
  claim_after: 30s
`)
	envList := fmt.Sprintf(`[{"url": "https://prov.internal/hooks", "name": "provisioning", "secret": %q, "secrets": [%q],
		"events": ["order.cleared", "order.rejected"], "timeout": "2s"},
		{"url": "http://127.0.0.1:9/hook", "secret": %q, "max_in_flight": 3}]`, whSecret, whOtherSecret, whSecret)
	tests := []struct {
		name string
		path string
		env  map[string]string
	}{
		{"file", file, map[string]string{"PROV_SECRET": whSecret}},
		{"environment", "", map[string]string{
			"GATEWAY_WEBHOOKS":                        envList,
			"GATEWAY_WEBHOOK_DELIVERY_RETRY_SCHEDULE": "1s, 1m",
			"GATEWAY_WEBHOOK_DELIVERY_CLAIM_AFTER":    "30s",
		}},
		// The environment replaces the file's list as a whole.
		{"environment over file", writeFile(t, "webhooks:\n  - url: https://old.internal/x\n    secret: whsec_bad\nwebhook_delivery:\n  claim_after: 30s\n  retry_schedule: [1h]\n"),
			map[string]string{"GATEWAY_WEBHOOKS": envList, "GATEWAY_WEBHOOK_DELIVERY_RETRY_SCHEDULE": "1s,1m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(tt.path, tt.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(wantEndpoints, cfg.Webhooks); diff != "" {
				t.Errorf("webhooks (-want +got):\n%s", diff)
			}
			wc := cfg.WebhooksConfig()
			if want := []time.Duration{time.Second, time.Minute}; !cmp.Equal(wc.RetrySchedule, want) || wc.ClaimAfter != 30*time.Second {
				t.Errorf("delivery = %+v; want retry_schedule %v, claim_after 30s", wc.DeliveryConfig, want)
			}
			if wc.MaxRetryAfter != 12*time.Hour || wc.Retention != 7*24*time.Hour || wc.MaxAttemptsKept != 20 {
				t.Errorf("delivery defaults = %+v", wc.DeliveryConfig)
			}
			if s := fmt.Sprint(cfg.Redacted()); strings.Contains(s, "MfKQ9r8G") || strings.Contains(s, "c2Vjb25k") {
				t.Errorf("the redacted configuration shows a webhook secret: %s", s)
			}
		})
	}
}

// TestWebhooksDefaults: no endpoints by default; the delivery settings have
// their defaults.
func TestWebhooksDefaults(t *testing.T) {
	cfg, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := webhooks.DeliveryConfig{RetrySchedule: webhooks.DefaultRetrySchedule, MaxRetryAfter: 12 * time.Hour,
		ClaimAfter: time.Minute, Retention: 7 * 24 * time.Hour, MaxAttemptsKept: 20}
	if len(cfg.Webhooks) != 0 || !cmp.Equal(cfg.WebhookDelivery, want) {
		t.Errorf("webhooks = %v, webhook_delivery = %+v; want none and %+v", cfg.Webhooks, cfg.WebhookDelivery, want)
	}
}

// TestWebhooksErrors: every bad value is refused at once, named as the
// operator writes the key, and no secret or URL is echoed.
func TestWebhooksErrors(t *testing.T) {
	const leaked = "hunter2"
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{name: "file", yaml: `
webhooks:
  - url: https://prov.internal/hooks
    secret: ` + whSecret + `
    timeout: 90s
  - url: "ftp://user:hunter2@prov.internal/x"
    secret: whsec_hunter2
    secrets: [` + whSecret + `, hunter2]
    events: [Order Cleared]
webhook_delivery:
  retry_schedule: [1s, -1s]
  max_attempts_kept: -1
`, want: []string{
			"webhooks[1].url: must be an http:// or https:// URL",
			"webhooks[1].secret: must be whsec_ followed by standard base64",
			"webhooks[1].secrets[1]: must start with whsec_",
			`webhooks[1].events[0]: "Order Cleared"`,
			`webhook_delivery.retry_schedule[1]: "-1s": must be positive`,
			`webhook_delivery.max_attempts_kept: "-1": must be from 1 to 1000`,
			// the cross-check: claim_after (default 1m) against the first
			// endpoint's timeout
			`webhook_delivery.claim_after: "1m0s": must exceed the timeout of endpoint "prov.internal" (1m30s)`,
		}},
		{name: "environment", env: map[string]string{
			"GATEWAY_WEBHOOKS": `[{"url": "http://127.0.0.1:9/hook", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
				{"url": "not a url", "secret": "hunter2"}, {"url": "https://x.internal/h"}]`,
			"GATEWAY_WEBHOOK_DELIVERY_CLAIM_AFTER": "-1s",
		}, want: []string{
			"webhooks[1].url: ",
			"webhooks[1].secret: must start with whsec_",
			"webhooks[2].secret: is required",
			`webhook_delivery.claim_after: "-1s": must be positive`,
		}},
		{name: "not JSON", env: map[string]string{"GATEWAY_WEBHOOKS": `[{"url": "http://h/x", "secret": "hunter2"`}, want: []string{"webhooks: from GATEWAY_WEBHOOKS: not valid YAML/JSON"}},
		{name: "unknown member", env: map[string]string{"GATEWAY_WEBHOOKS": `[{"url": "http://h/x", "secret": "hunter2", "sekret": "x"}]`}, want: []string{"webhooks: from GATEWAY_WEBHOOKS", "sekret"}},
		{name: "wrong type", env: map[string]string{"GATEWAY_WEBHOOKS": `[{"url": "http://h/x", "max_in_flight": "hunter2hunter2"}]`}, want: []string{"webhooks: from GATEWAY_WEBHOOKS", "into int"}},
		{name: "an object, not a list", env: map[string]string{"GATEWAY_WEBHOOKS": `{"url": "http://h/x", "secret": "hunter2"}`}, want: []string{"webhooks: from GATEWAY_WEBHOOKS"}},
		{name: "bad schedule variable", env: map[string]string{"GATEWAY_WEBHOOK_DELIVERY_RETRY_SCHEDULE": "5s,soon"}, want: []string{`webhook_delivery.retry_schedule: "5s,soon": from GATEWAY_WEBHOOK_DELIVERY_RETRY_SCHEDULE: "soon" is not a duration`}},
		// The shape of earlier versions: a mapping with endpoints.
		{name: "old mapping", yaml: "webhooks:\n  endpoints:\n    - url: https://prov.internal/hooks\n      secret: hunter2\n  claim_after: 1m\n",
			want: []string{"webhooks: must be the list of endpoints", "go under webhook_delivery"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.yaml != "" {
				path = writeFile(t, tt.yaml)
			}
			_, err := Load(path, tt.env)
			var cfgErr *Error
			if !errors.As(err, &cfgErr) {
				t.Fatalf("Load error = %v, want *config.Error", err)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not mention %q:\n%v", want, err)
				}
			}
			if strings.Contains(err.Error(), leaked) {
				t.Errorf("the error echoes a secret or a URL's password:\n%v", err)
			}
		})
	}
}

// FuzzWebhooksEnv: whatever GATEWAY_WEBHOOKS holds, Load answers with a
// configuration or an error, never panics, and what loads is deliverable:
// every endpoint has an http(s) URL with a host and at least one secret
// that parses.
func FuzzWebhooksEnv(f *testing.F) {
	for _, s := range []string{
		`[{"url": "http://127.0.0.1:9/hook", "secret": "` + whSecret + `", "events": ["order.cleared"]}]`,
		`[{"url": "https://a/b", "secrets": ["` + whSecret + `", "` + whOtherSecret + `"], "timeout": "2s", "max_in_flight": 2, "name": "a"}]`,
		`[{"url": "https://a/b"}]`, `[]`, `{}`, `[1]`, `null`, `[{"url": ["x"]}]`, "- url: http://h/\n  secret: x\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		cfg, err := Load("", map[string]string{"GATEWAY_WEBHOOKS": raw})
		if err != nil {
			if cfg != nil {
				t.Fatal("Load returned a configuration with its error")
			}
			return
		}
		for i, e := range cfg.Webhooks {
			if !strings.HasPrefix(e.URL, "http://") && !strings.HasPrefix(e.URL, "https://") {
				t.Fatalf("webhooks[%d] loaded with URL %q", i, e.URL)
			}
			secrets := append([]string{e.Secret}, e.Secrets...)
			if e.Secret == "" {
				secrets = e.Secrets
			}
			if len(secrets) == 0 {
				t.Fatalf("webhooks[%d] loaded without a secret", i)
			}
			for _, s := range secrets {
				if _, err := webhooks.ParseSecret(s); err != nil {
					t.Fatalf("webhooks[%d] loaded with a bad secret: %v", i, err)
				}
			}
		}
	})
}
