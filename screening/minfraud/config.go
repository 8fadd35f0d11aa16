package minfraud

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/vpsgate/gateway/internal/configerr"
)

// Services minFraud offers for scoring a transaction. They answer the same
// request; Insights and Factors add detail (and cost more per query).
const (
	ServiceScore    = "score"
	ServiceInsights = "insights"
	ServiceFactors  = "factors"
)

// Defaults for the minfraud config section.
const (
	DefaultEndpoint = "https://minfraud.maxmind.com"
	DefaultService  = ServiceScore
	DefaultTimeout  = time.Second

	// maxTimeout bounds the per-call timeout: an order is screened while the
	// storefront waits, so a longer wait is a misconfiguration.
	maxTimeout = 30 * time.Second
)

// Config is the `minfraud` section of the gateway configuration.
type Config struct {
	// AccountID is the MaxMind account id (digits). Empty disables minFraud.
	AccountID string `yaml:"account_id"`
	// LicenseKey is the MaxMind license key. Secret: never logged.
	LicenseKey string `yaml:"license_key"`
	// Endpoint is the base URL of the web service, without a path.
	Endpoint string `yaml:"endpoint"`
	// Service is score, insights or factors.
	Service string `yaml:"service"`
	// Timeout bounds one call to minFraud, connection included.
	Timeout time.Duration `yaml:"timeout"`
}

// SetDefaults fills the unset fields.
func (c *Config) SetDefaults() {
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	if c.Service == "" {
		c.Service = DefaultService
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
}

// Enabled reports whether minFraud is configured (an account id is set).
func (c Config) Enabled() bool { return c.AccountID != "" }

// Validate reports every problem of the section at once, as
// configerr.FieldErrors keyed relative to the section. It expects
// SetDefaults to have run. The license key's value is never echoed.
func (c Config) Validate() error {
	var errs []error
	if c.AccountID != "" {
		if len(c.AccountID) > 20 || strings.TrimLeft(c.AccountID, "0123456789") != "" {
			errs = append(errs, configerr.Field("account_id", c.AccountID, "must be the numeric MaxMind account id"))
		}
		if c.LicenseKey == "" {
			errs = append(errs, configerr.Field("license_key", nil, "is required when account_id is set"))
		}
	}
	// A key pasted with a trailing newline would fail every call with 401;
	// say so at start-up instead.
	if strings.IndexFunc(c.LicenseKey, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		errs = append(errs, configerr.Field("license_key", nil, "contains whitespace or control characters"))
	}
	if _, err := parseEndpoint(c.Endpoint); err != nil {
		errs = append(errs, configerr.Field("endpoint", c.Endpoint, err.Error()))
	}
	switch c.Service {
	case ServiceScore, ServiceInsights, ServiceFactors:
	default:
		errs = append(errs, configerr.Field("service", c.Service, "must be one of score, insights, factors"))
	}
	if c.Timeout <= 0 || c.Timeout > maxTimeout {
		errs = append(errs, configerr.Field("timeout", c.Timeout, fmt.Sprintf("must be > 0 and <= %s", maxTimeout)))
	}
	return errors.Join(errs...)
}

// parseEndpoint checks the endpoint and returns it without a trailing slash.
// Plain http is accepted only for loopback hosts, so that tests can use a
// local server while credentials never cross a network in clear text.
func parseEndpoint(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("is not a URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", errors.New("must be an absolute URL with a host")
	}
	if u.User != nil {
		return "", errors.New("must not carry credentials (use account_id and license_key)")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", errors.New("must not have a query or fragment")
	}
	if u.Path != "" && u.Path != "/" {
		return "", errors.New("must not have a path (the client adds /minfraud/v2.0/...)")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return "", errors.New("must use https (http is allowed only for loopback hosts)")
		}
	default:
		return "", errors.New("must use https")
	}
	return u.Scheme + "://" + u.Host, nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

// String describes the section with the license key redacted, so that the
// effective configuration can be logged or printed.
func (c Config) String() string {
	return fmt.Sprintf("{account_id:%s license_key:%s endpoint:%s service:%s timeout:%s}",
		c.AccountID, redactKey(c.LicenseKey), c.Endpoint, c.Service, c.Timeout)
}

// GoString is String, so that %#v does not print the key either.
func (c Config) GoString() string { return c.String() }

// LogValue makes slog print the section with the license key redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("account_id", c.AccountID),
		slog.String("license_key", redactKey(c.LicenseKey)),
		slog.String("endpoint", c.Endpoint),
		slog.String("service", c.Service),
		slog.Duration("timeout", c.Timeout),
	)
}

func redactKey(k string) string {
	if k == "" {
		return ""
	}
	return "[redacted]"
}
