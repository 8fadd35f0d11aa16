package screening

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/internal/configerr"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	var c Config
	c.SetDefaults()
	want := Config{ReviewAt: 50, RejectAt: 90, KeyPrefix: "gw:", OrderRetention: 180 * 24 * time.Hour, EmailNormalization: "provider"}
	want.Velocity.SetDefaults()
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("SetDefaults() mismatch (-want +got):\n%s", diff)
	}
	c.HashKey = strings.Repeat("k", 32)
	if err := c.Validate(); err != nil {
		t.Errorf("Validate(defaults + hash key) = %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badRules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(badRules, []byte("rules:\n  - name: oops\n    reason: oops\n    detail: d\n    expr: \"amount >\"\n    points: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := "short-secret-value"
	tests := []struct {
		name string
		edit func(c *Config)
		keys []string
	}{
		{"no hash key", func(c *Config) { c.HashKey = "" }, []string{"hash_key"}},
		{"short hash key", func(c *Config) { c.HashKey = secret }, []string{"hash_key"}},
		{"review above reject", func(c *Config) { c.ReviewAt, c.RejectAt = 95, 90 }, []string{"review_at"}},
		{"reject out of range", func(c *Config) { c.RejectAt = 101 }, []string{"reject_at"}},
		{"retention", func(c *Config) { c.OrderRetention = time.Minute }, []string{"order_retention"}},
		{"email normalization", func(c *Config) { c.EmailNormalization = "gmail" }, []string{"email_normalization"}},
		{"bad rule", func(c *Config) { c.RulesFile = badRules }, []string{"rules_file"}},
		{"missing rules file", func(c *Config) { c.RulesFile = filepath.Join(dir, "nope.yaml") }, []string{"rules_file"}},
		{"velocity section", func(c *Config) { c.Velocity.Windows = nil }, []string{"velocity.windows"}},
		{"missing list", func(c *Config) { c.FreeDomainsFile = filepath.Join(dir, "nope.txt") }, []string{"free_domains_file"}},
		{"everything", func(c *Config) {
			c.HashKey, c.OrderRetention, c.DisposableDomainsFile = "", time.Second, filepath.Join(dir, "nope.txt")
		}, []string{"hash_key", "order_retention", "disposable_domains_file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := testConfig()
			tc.edit(&c)
			err := c.Validate()
			var keys []string
			for _, e := range configerr.Flatten(err) {
				var fe *configerr.FieldError
				if !errors.As(e, &fe) {
					t.Errorf("Validate() error %v is not a configerr.FieldError", e)
					continue
				}
				keys = append(keys, fe.Key)
			}
			if diff := cmp.Diff(tc.keys, keys); diff != "" {
				t.Errorf("Validate() keys mismatch (-want +got):\n%s\n%v", diff, err)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("Validate() = %q echoes the hash key", err)
			}
			if tc.name == "bad rule" && !strings.Contains(err.Error(), `rule "oops"`) {
				t.Errorf("Validate() = %v, want it to name the rule", err)
			}
		})
	}
}
