package velocity

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vpsgate/gateway/internal/configerr"
)

// Config is the screening.velocity section.
type Config struct {
	// Windows are the sliding windows every counter reports, e.g.
	// ["1h", "24h", "168h"]. The longest one is how long Redis keeps an
	// identifier's history (keys expire with it). Each gives counts named
	// "<dimension>_<label>", with Label(window) ("1h", "24h", "7d").
	Windows []time.Duration `yaml:"windows"`
	// KeyPrefix starts every Redis key this package writes.
	KeyPrefix string `yaml:"key_prefix"`
	// Timeout bounds one Record or RecordEvent (the Redis round trip).
	// The Redis client must have ContextTimeoutEnabled for it to cut a
	// blocked read short.
	Timeout time.Duration `yaml:"timeout"`
	// MaxEntries bounds every per-identifier set: the newest MaxEntries
	// orders of one identifier are kept exactly (and recognized when
	// retried); older ones are folded into 60 time buckets per window. It
	// also caps distinct counts. One full set takes about 120 bytes per
	// entry of Redis memory (about 120 KiB at the default 1000).
	MaxEntries int `yaml:"max_entries"`
}

// Defaults.
const (
	DefaultKeyPrefix  = "gw:v:"
	DefaultTimeout    = 250 * time.Millisecond
	DefaultMaxEntries = 1000
)

// DefaultWindows returns the default windows: 1 h, 24 h and 7 d.
func DefaultWindows() []time.Duration {
	return []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}
}

// Limits checked by Validate.
const (
	maxWindows    = 8
	minWindow     = time.Minute
	maxWindow     = 366 * 24 * time.Hour
	maxTimeout    = 10 * time.Second
	minMaxEntries = 16
	maxMaxEntries = 100_000
	maxPrefixLen  = 128
)

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if len(c.Windows) == 0 {
		c.Windows = DefaultWindows()
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = DefaultMaxEntries
	}
}

// Validate reports every bad field at once, as configerr field errors with
// keys relative to the section.
func (c Config) Validate() error {
	var errs []error
	switch {
	case len(c.Windows) == 0:
		errs = append(errs, configerr.Field("windows", nil, "at least one window is required"))
	case len(c.Windows) > maxWindows:
		errs = append(errs, configerr.Field("windows", len(c.Windows), fmt.Sprintf("at most %d windows", maxWindows)))
	}
	seen := make(map[string]bool)
	for i, w := range c.Windows {
		key := fmt.Sprintf("windows.%d", i)
		switch {
		case w < minWindow || w > maxWindow:
			errs = append(errs, configerr.Field(key, w, fmt.Sprintf("must be between %s and %s", minWindow, maxWindow)))
		case w%time.Second != 0:
			errs = append(errs, configerr.Field(key, w, "must be a whole number of seconds"))
		case seen[Label(w)]:
			errs = append(errs, configerr.Field(key, w, "is listed twice"))
		}
		seen[Label(w)] = true
	}
	switch {
	case c.KeyPrefix == "":
		errs = append(errs, configerr.Field("key_prefix", nil, "is required"))
	case len(c.KeyPrefix) > maxPrefixLen:
		errs = append(errs, configerr.Field("key_prefix", c.KeyPrefix, fmt.Sprintf("longer than %d bytes", maxPrefixLen)))
	case strings.ContainsAny(c.KeyPrefix, "{} \t\r\n"):
		// Braces would change the Redis Cluster hash tag of every key.
		errs = append(errs, configerr.Field("key_prefix", c.KeyPrefix, "must not contain braces or white space"))
	}
	if c.Timeout <= 0 || c.Timeout > maxTimeout {
		errs = append(errs, configerr.Field("timeout", c.Timeout, fmt.Sprintf("must be above 0 and at most %s", maxTimeout)))
	}
	if c.MaxEntries < minMaxEntries || c.MaxEntries > maxMaxEntries {
		errs = append(errs, configerr.Field("max_entries", c.MaxEntries,
			fmt.Sprintf("must be between %d and %d", minMaxEntries, maxMaxEntries)))
	}
	return errors.Join(errs...)
}

// Label names a window in count names: whole days beyond one day as "7d",
// else whole hours "24h", whole minutes "90m", else seconds "45s". So the
// default windows are "1h", "24h" and "7d".
func Label(w time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case w > day && w%day == 0:
		return fmt.Sprintf("%dd", w/day)
	case w%time.Hour == 0:
		return fmt.Sprintf("%dh", w/time.Hour)
	case w%time.Minute == 0:
		return fmt.Sprintf("%dm", w/time.Minute)
	default:
		return fmt.Sprintf("%ds", w/time.Second)
	}
}
