package minfraud

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/internal/configerr"
)

func TestConfigSetDefaults(t *testing.T) {
	t.Parallel()
	var c Config
	c.SetDefaults()
	want := Config{Endpoint: "https://minfraud.maxmind.com", Service: "score", Timeout: time.Second}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("SetDefaults() mismatch (-want +got):\n%s", diff)
	}
	if c.Enabled() {
		t.Error("Enabled() = true for a config without account_id, want false")
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() of the disabled default config = %v, want nil", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	const key = "s3cr3t-license-key"
	valid := func() Config {
		c := Config{AccountID: "123456", LicenseKey: key}
		c.SetDefaults()
		return c
	}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantBad []string // keys reported, in order
	}{
		{name: "valid", mod: func(*Config) {}},
		{name: "insights", mod: func(c *Config) { c.Service = "insights" }},
		{name: "factors", mod: func(c *Config) { c.Service = "factors" }},
		{name: "http on 127.0.0.1", mod: func(c *Config) { c.Endpoint = "http://127.0.0.1:8080" }},
		{name: "http on ::1", mod: func(c *Config) { c.Endpoint = "http://[::1]:8080/" }},
		{name: "http on localhost", mod: func(c *Config) { c.Endpoint = "http://localhost:1" }},
		{name: "sandbox host", mod: func(c *Config) { c.Endpoint = "https://sandbox.maxmind.com" }},
		{name: "timeout 30s", mod: func(c *Config) { c.Timeout = 30 * time.Second }},
		{name: "account not digits", mod: func(c *Config) { c.AccountID = "12a4" }, wantBad: []string{"account_id"}},
		{name: "account too long", mod: func(c *Config) { c.AccountID = strings.Repeat("9", 21) }, wantBad: []string{"account_id"}},
		{name: "key missing", mod: func(c *Config) { c.LicenseKey = "" }, wantBad: []string{"license_key"}},
		{name: "key with newline", mod: func(c *Config) { c.LicenseKey = key + "\n" }, wantBad: []string{"license_key"}},
		{name: "http on a public host", mod: func(c *Config) { c.Endpoint = "http://minfraud.maxmind.com" }, wantBad: []string{"endpoint"}},
		{name: "http on a private address", mod: func(c *Config) { c.Endpoint = "http://10.0.0.1" }, wantBad: []string{"endpoint"}},
		{name: "ftp", mod: func(c *Config) { c.Endpoint = "ftp://minfraud.maxmind.com" }, wantBad: []string{"endpoint"}},
		{name: "no host", mod: func(c *Config) { c.Endpoint = "https://" }, wantBad: []string{"endpoint"}},
		{name: "relative", mod: func(c *Config) { c.Endpoint = "minfraud.maxmind.com" }, wantBad: []string{"endpoint"}},
		{name: "path", mod: func(c *Config) { c.Endpoint = "https://minfraud.maxmind.com/minfraud/v2.0" }, wantBad: []string{"endpoint"}},
		{name: "query", mod: func(c *Config) { c.Endpoint = "https://minfraud.maxmind.com?x=1" }, wantBad: []string{"endpoint"}},
		{name: "credentials in URL", mod: func(c *Config) { c.Endpoint = "https://u:p@minfraud.maxmind.com" }, wantBad: []string{"endpoint"}},
		{name: "unknown service", mod: func(c *Config) { c.Service = "premium" }, wantBad: []string{"service"}},
		{name: "zero timeout", mod: func(c *Config) { c.Timeout = 0 }, wantBad: []string{"timeout"}},
		{name: "negative timeout", mod: func(c *Config) { c.Timeout = -time.Second }, wantBad: []string{"timeout"}},
		{name: "timeout over 30s", mod: func(c *Config) { c.Timeout = 31 * time.Second }, wantBad: []string{"timeout"}},
		{
			name: "everything wrong at once",
			mod: func(c *Config) {
				*c = Config{AccountID: "x", Endpoint: "http://example.com", Service: "s", Timeout: time.Minute}
			},
			wantBad: []string{"account_id", "license_key", "endpoint", "service", "timeout"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := valid()
			tt.mod(&c)
			err := c.Validate()
			var gotKeys []string
			for _, e := range configerr.Flatten(err) {
				fe, ok := errors.AsType[*configerr.FieldError](e)
				if !ok {
					t.Fatalf("Validate() returned %T %v, want only *configerr.FieldError", e, e)
				}
				gotKeys = append(gotKeys, fe.Key)
			}
			if diff := cmp.Diff(tt.wantBad, gotKeys); diff != "" {
				t.Errorf("Validate() = %v; keys mismatch (-want +got):\n%s", err, diff)
			}
			if err != nil && strings.Contains(err.Error(), key) {
				t.Errorf("Validate() error %q shows the license key", err)
			}
		})
	}
}

func TestConfigNeverPrintsKey(t *testing.T) {
	t.Parallel()
	const key = "s3cr3t-license-key"
	c := Config{AccountID: "123456", LicenseKey: key}
	c.SetDefaults()

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "minfraud", c)
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", c),
		"%+v":  fmt.Sprintf("%+v", c),
		"%#v":  fmt.Sprintf("%#v", c),
		"%s":   fmt.Sprintf("%s", c),
		"slog": buf.String(),
	}
	for verb, out := range outputs {
		if strings.Contains(out, key) {
			t.Errorf("printing with %s shows the license key: %s", verb, out)
		}
		if !strings.Contains(out, "123456") || !strings.Contains(out, "[redacted]") {
			t.Errorf("printing with %s = %s, want the account id and [redacted]", verb, out)
		}
	}
}
