package emailverify

import (
	"errors"
	"time"

	"github.com/vpsgate/gateway/internal/configerr"
)

// Config is the `email_verification` section.
type Config struct {
	// TokenTTL is how long a verification link works. Default 24h.
	TokenTTL time.Duration `yaml:"token_ttl"`
	// ResendWindow is the window of the resend limits below. Default 1h.
	ResendWindow time.Duration `yaml:"resend_window"`
	// ResendPerAccount bounds the links resent for one account (owner and
	// account id) per window, whoever asks: it protects the customer's
	// mailbox from being flooded. Default 3.
	ResendPerAccount int `yaml:"resend_per_account"`
	// ResendPerAddress bounds the resends the customer page accepts from
	// one client address (IPv6: its /64) per window. Default 10.
	ResendPerAddress int `yaml:"resend_per_address"`
	// ResendPerAPIClient bounds the resends the API accepts from one
	// storefront address per window: a storefront asks on behalf of all
	// its customers, from one address. Default 1000.
	ResendPerAPIClient int `yaml:"resend_per_api_client"`
}

// Defaults.
const (
	defaultTokenTTL           = 24 * time.Hour
	maxTokenTTL               = 30 * 24 * time.Hour
	defaultResendWindow       = time.Hour
	defaultResendPerAccount   = 3
	defaultResendPerAddress   = 10
	defaultResendPerAPIClient = 1000
)

// SetDefaults fills unset values.
func (c *Config) SetDefaults() {
	if c.TokenTTL == 0 {
		c.TokenTTL = defaultTokenTTL
	}
	if c.ResendWindow == 0 {
		c.ResendWindow = defaultResendWindow
	}
	if c.ResendPerAccount == 0 {
		c.ResendPerAccount = defaultResendPerAccount
	}
	if c.ResendPerAddress == 0 {
		c.ResendPerAddress = defaultResendPerAddress
	}
	if c.ResendPerAPIClient == 0 {
		c.ResendPerAPIClient = defaultResendPerAPIClient
	}
}

// Validate reports every bad value.
func (c *Config) Validate() error {
	var errs []error
	if c.TokenTTL < time.Minute || c.TokenTTL > maxTokenTTL {
		errs = append(errs, configerr.Field("token_ttl", c.TokenTTL, "must be between 1m and 720h"))
	}
	if c.ResendWindow < time.Second || c.ResendWindow > 24*time.Hour {
		errs = append(errs, configerr.Field("resend_window", c.ResendWindow, "must be between 1s and 24h"))
	}
	for _, f := range []struct {
		key string
		n   int
	}{
		{"resend_per_account", c.ResendPerAccount},
		{"resend_per_address", c.ResendPerAddress},
		{"resend_per_api_client", c.ResendPerAPIClient},
	} {
		if f.n < 1 {
			errs = append(errs, configerr.Field(f.key, f.n, "must be at least 1"))
		}
	}
	return errors.Join(errs...)
}
