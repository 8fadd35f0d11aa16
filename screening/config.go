package screening

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/vpsgate/gateway/internal/configerr"
	"github.com/vpsgate/gateway/screening/ident"
	"github.com/vpsgate/gateway/screening/velocity"
)

// Defaults of the screening section.
const (
	DefaultReviewAt       = 50
	DefaultRejectAt       = 90
	DefaultKeyPrefix      = "gw:"
	DefaultOrderRetention = 180 * 24 * time.Hour
	// DefaultEmailNormalization is email_normalization's default.
	DefaultEmailNormalization = "provider"
	// MinHashKeyLen is the shortest hash_key accepted: 32 characters of
	// secret, e.g. `openssl rand -hex 16` or more.
	MinHashKeyLen = 32
)

// Config is the `screening` section.
type Config struct {
	// RulesFile is the rules file (configs/rules.yaml is the shipped one);
	// empty uses the built-in copy of configs/rules.yaml.
	RulesFile string `yaml:"rules_file"`
	// ReviewAt and RejectAt are the score thresholds (0-100).
	ReviewAt int `yaml:"review_at"`
	RejectAt int `yaml:"reject_at"`
	// HashKey is the secret of the keyed hashes (HMAC-SHA256) under which
	// identifiers are stored in Redis. Changing it orphans the stored
	// counters and blocklist entries.
	HashKey string `yaml:"hash_key"`
	// DisposableDomainsFile and FreeDomainsFile replace the built-in email
	// domain lists (one domain per line).
	DisposableDomainsFile string `yaml:"disposable_domains_file"`
	FreeDomainsFile       string `yaml:"free_domains_file"`
	// EmailNormalization decides which spellings of an email address the
	// velocity counters and the blocklist treat as one: "provider" (the
	// default) also folds what mailbox providers document as one mailbox
	// (Gmail's dots, googlemail.com, ...: ident.MailboxEmail); "basic"
	// folds only case and "+tag" sub-addresses.
	EmailNormalization string `yaml:"email_normalization"`
	// KeyPrefix starts every Redis key of the orders service.
	KeyPrefix string `yaml:"key_prefix"`
	// OrderRetention is how long an order record (result, timeline and the
	// few identifiers a chargeback needs) stays in Redis. Chargebacks
	// arrive up to about 120 days after a payment, so the default is 180
	// days.
	OrderRetention time.Duration `yaml:"order_retention"`
	// Velocity configures the sliding-window counters (windows, key
	// prefix, timeout, per-key bound).
	Velocity velocity.Config `yaml:"velocity"`
}

// SetDefaults fills unset values. The hash key has no default here: the
// zero-config mode of cmd/gateway provides one.
func (c *Config) SetDefaults() {
	if c.ReviewAt == 0 {
		c.ReviewAt = DefaultReviewAt
	}
	if c.RejectAt == 0 {
		c.RejectAt = DefaultRejectAt
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	if c.EmailNormalization == "" {
		c.EmailNormalization = DefaultEmailNormalization
	}
	if c.OrderRetention == 0 {
		c.OrderRetention = DefaultOrderRetention
	}
	c.Velocity.SetDefaults()
}

// Validate reports every problem at once. It compiles the rules and reads
// the domain list files, so `-check-config` catches a bad rule.
func (c *Config) Validate() error {
	var errs []error
	if c.ReviewAt < 1 || c.ReviewAt > 100 {
		errs = append(errs, configerr.Field("review_at", c.ReviewAt, "must be between 1 and 100"))
	}
	if c.RejectAt < 1 || c.RejectAt > 100 {
		errs = append(errs, configerr.Field("reject_at", c.RejectAt, "must be between 1 and 100"))
	}
	if c.ReviewAt > c.RejectAt {
		errs = append(errs, configerr.Field("review_at", c.ReviewAt, fmt.Sprintf("must not be above reject_at (%d)", c.RejectAt)))
	}
	switch n := utf8.RuneCountInString(c.HashKey); {
	case n == 0:
		errs = append(errs, configerr.Field("hash_key", nil, "is required (a secret of at least 32 characters)"))
	case n < MinHashKeyLen:
		// Never echo a secret, not even a short one.
		errs = append(errs, configerr.Field("hash_key", nil, fmt.Sprintf("is %d characters, want at least %d", n, MinHashKeyLen)))
	}
	if c.KeyPrefix == "" {
		errs = append(errs, configerr.Field("key_prefix", nil, "must not be empty"))
	}
	if _, err := c.EmailRules(); err != nil {
		errs = append(errs, configerr.Field("email_normalization", c.EmailNormalization, "must be provider or basic"))
	}
	if c.OrderRetention < time.Hour {
		errs = append(errs, configerr.Field("order_retention", c.OrderRetention, "must be at least 1h"))
	}
	for _, f := range []struct{ key, path string }{
		{"disposable_domains_file", c.DisposableDomainsFile},
		{"free_domains_file", c.FreeDomainsFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := loadDomainList(f.path, nil); err != nil {
			errs = append(errs, configerr.Field(f.key, f.path, err.Error()))
		}
	}
	if c.ReviewAt >= 1 && c.RejectAt <= 100 && c.ReviewAt <= c.RejectAt {
		if _, err := LoadRules(c.RulesFile, c.ReviewAt, c.RejectAt); err != nil {
			errs = append(errs, configerr.Field("rules_file", nil, err.Error()))
		}
	}
	if err := c.Velocity.Validate(); err != nil {
		errs = append(errs, configerr.Prefix("velocity", err))
	}
	return errors.Join(errs...)
}

// EmailRules returns email_normalization as ident's rules.
func (c *Config) EmailRules() (ident.EmailRules, error) {
	return ident.ParseEmailRules(c.EmailNormalization)
}
