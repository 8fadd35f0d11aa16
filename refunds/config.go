package refunds

import (
	"errors"
	"strings"
	"time"

	"github.com/vpsgate/gateway/internal/configerr"
)

// Defaults of the refunds section (issue 11: the seller's terms).
const (
	DefaultWindow          = 12 * time.Hour
	DefaultOutageThreshold = 24 * time.Hour
	DefaultMaxPerAccount   = 2
	// DestinationAccountBalance is the one destination the terms allow:
	// refunds are credited to the account's balance, never paid out.
	DestinationAccountBalance = "account_balance"
	// DefaultExcludedCategory is the item category of special offers.
	DefaultExcludedCategory = "special_offer"
)

// Config is the `refunds` section: the refund rules of the seller's terms
// of service, each a key with its default.
type Config struct {
	// Window: a refund for a machine or network failure can be asked
	// this long after payment (the order's paid_at, else its creation),
	// and not after.
	Window time.Duration `yaml:"window"`
	// OutageThreshold: a server down longer than this may get the
	// remaining service time refunded (prorated over the paid period).
	OutageThreshold time.Duration `yaml:"outage_threshold"`
	// Destination is where a refund goes; only account_balance.
	Destination string `yaml:"destination"`
	// ExcludedCategories are item categories (special offers) of orders
	// never refunded; compared without regard to case. Unset:
	// [special_offer]; an empty list excludes nothing.
	ExcludedCategories []string `yaml:"excluded_categories"`
	// MaxPerAccount is how many refunds an account receives at most: at
	// 2, a third is refused.
	MaxPerAccount int `yaml:"max_per_account"`
}

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.OutageThreshold == 0 {
		c.OutageThreshold = DefaultOutageThreshold
	}
	if c.Destination == "" {
		c.Destination = DestinationAccountBalance
	}
	if c.ExcludedCategories == nil {
		c.ExcludedCategories = []string{DefaultExcludedCategory}
	}
	if c.MaxPerAccount == 0 {
		c.MaxPerAccount = DefaultMaxPerAccount
	}
}

// Validate checks the section (after SetDefaults), every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Window < time.Minute {
		errs = append(errs, configerr.Field("window", c.Window, "must be at least 1m"))
	}
	if c.OutageThreshold < time.Minute {
		errs = append(errs, configerr.Field("outage_threshold", c.OutageThreshold, "must be at least 1m"))
	}
	if c.Destination != DestinationAccountBalance {
		errs = append(errs, configerr.Field("destination", c.Destination, "must be account_balance: the terms credit refunds to the account balance only"))
	}
	for _, cat := range c.ExcludedCategories {
		if strings.TrimSpace(cat) == "" {
			errs = append(errs, configerr.Field("excluded_categories", c.ExcludedCategories, "has an empty category"))
			break
		}
	}
	if c.MaxPerAccount < 1 {
		errs = append(errs, configerr.Field("max_per_account", c.MaxPerAccount, "must be at least 1"))
	}
	return errors.Join(errs...)
}
