package velocity

import (
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/internal/configerr"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	var c Config
	c.SetDefaults()
	want := Config{
		Windows:    []time.Duration{time.Hour, 24 * time.Hour, 168 * time.Hour},
		KeyPrefix:  "gw:v:",
		Timeout:    250 * time.Millisecond,
		MaxEntries: 1000,
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("SetDefaults (-want +got):\n%s", diff)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := func() Config {
		var c Config
		c.SetDefaults()
		return c
	}
	tests := []struct {
		name     string
		mutate   func(*Config)
		wantKeys []string
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "no windows", mutate: func(c *Config) { c.Windows = nil }, wantKeys: []string{"windows"}},
		{name: "too many windows", mutate: func(c *Config) {
			c.Windows = nil
			for i := range 9 {
				c.Windows = append(c.Windows, time.Duration(i+1)*time.Hour)
			}
		}, wantKeys: []string{"windows"}},
		{name: "short window", mutate: func(c *Config) { c.Windows[0] = 30 * time.Second }, wantKeys: []string{"windows.0"}},
		{name: "fractional window", mutate: func(c *Config) { c.Windows[1] = 90*time.Minute + time.Millisecond }, wantKeys: []string{"windows.1"}},
		{name: "duplicate label", mutate: func(c *Config) { c.Windows[2] = time.Hour }, wantKeys: []string{"windows.2"}},
		{name: "prefix with braces", mutate: func(c *Config) { c.KeyPrefix = "gw:{v}:" }, wantKeys: []string{"key_prefix"}},
		{name: "empty prefix", mutate: func(c *Config) { c.KeyPrefix = "" }, wantKeys: []string{"key_prefix"}},
		{name: "every error at once", mutate: func(c *Config) {
			c.Timeout = -1
			c.MaxEntries = 5
			c.KeyPrefix = "a b"
		}, wantKeys: []string{"key_prefix", "max_entries", "timeout"}},
		{name: "huge timeout", mutate: func(c *Config) { c.Timeout = time.Minute }, wantKeys: []string{"timeout"}},
		{name: "huge max entries", mutate: func(c *Config) { c.MaxEntries = 1_000_000 }, wantKeys: []string{"max_entries"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := valid()
			tt.mutate(&c)
			var keys []string
			for _, e := range configerr.Flatten(c.Validate()) {
				var fe *configerr.FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("Validate error %v is not a configerr.FieldError", e)
				}
				keys = append(keys, fe.Key)
			}
			sort.Strings(keys)
			if diff := cmp.Diff(tt.wantKeys, keys); diff != "" {
				t.Errorf("Validate keys (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLabel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		w    time.Duration
		want string
	}{
		{time.Hour, "1h"},
		{24 * time.Hour, "24h"},
		{48 * time.Hour, "2d"},
		{168 * time.Hour, "7d"},
		{30 * 24 * time.Hour, "30d"},
		{36 * time.Hour, "36h"},
		{90 * time.Minute, "90m"},
		{time.Minute, "1m"},
		{90 * time.Second, "90s"},
	}
	for _, tt := range tests {
		if got := Label(tt.w); got != tt.want {
			t.Errorf("Label(%v) = %q, want %q", tt.w, got, tt.want)
		}
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	var cfg Config
	cfg.SetDefaults()
	cfg.Windows = []time.Duration{168 * time.Hour, time.Hour} // unsorted on purpose
	c, err := New(cfg, nil, testHasher(t))
	if err == nil {
		t.Fatal("New with a nil client succeeded, want an error")
	}
	c, err = New(cfg, newClient(t, "redis://127.0.0.1:1/0"), testHasher(t))
	if err != nil {
		t.Fatal(err)
	}
	names := c.Names()
	if len(names) != 11*2 {
		t.Errorf("len(Names) = %d, want 22", len(names))
	}
	for _, want := range []string{"ip_1h", "ip_prefix_7d", "accounts_per_ip_1h", "cards_per_account_7d", "chargeback_account_1h"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("Names lacks %q: %v", want, names)
		}
	}
	if diff := cmp.Diff([]time.Duration{time.Hour, 168 * time.Hour}, c.Windows()); diff != "" {
		t.Errorf("Windows not sorted (-want +got):\n%s", diff)
	}
}
