package webhooks

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/vpsgate/gateway/internal/configerr"
)

// Config is the `webhooks` section: where events go and how long delivery
// keeps trying. No endpoints: nothing is delivered and the event outbox is
// trimmed at about a million entries as before.
type Config struct {
	// Endpoints are the provisioning receivers. In the environment:
	// GATEWAY_WEBHOOKS_ENDPOINTS as a JSON list of objects.
	Endpoints []Endpoint `yaml:"endpoints"`
	// RetrySchedule is the wait before each retry after a failed attempt:
	// the first attempt, then one retry per entry, then the delivery is a
	// dead letter. Each wait gets up to +-20% jitter.
	RetrySchedule []time.Duration `yaml:"retry_schedule"`
	// MaxRetryAfter bounds a receiver's Retry-After: a longer one is cut
	// to it; a shorter one than the schedule's wait is raised to the
	// wait (the schedule is the floor).
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
	// ClaimAfter is how long a delivery read by a gateway process stays
	// its own before another process takes it over (the first died). It
	// must exceed every endpoint's timeout.
	ClaimAfter time.Duration `yaml:"claim_after"`
	// Retention is how long a delivered or dead-lettered delivery and its
	// attempts are kept for the API and replay.
	Retention time.Duration `yaml:"retention"`
	// MaxAttemptsKept bounds the attempts recorded per delivery (the
	// newest are kept).
	MaxAttemptsKept int `yaml:"max_attempts_kept"`
}

// Endpoint is one receiver.
type Endpoint struct {
	// Name names the endpoint in the API, metrics and Redis keys
	// (letters, digits, '.', '_', '-'); default: the URL's host, with
	// ':' as '-'. Names must be unique.
	Name string `yaml:"name"`
	// URL is the receiver's http or https URL.
	URL string `yaml:"url"`
	// Secret is the signing secret, whsec_ + base64 of 24 to 64 bytes.
	Secret string `yaml:"secret"`
	// Secrets are several signing secrets, for rotation: each signs every
	// delivery (several v1 signatures in webhook-signature); the receiver
	// accepts any it knows. Secret and Secrets may be combined.
	Secrets []string `yaml:"secrets"`
	// Events lists the event types sent; empty: all.
	Events []string `yaml:"events"`
	// Timeout bounds one attempt: connecting, sending and the answer's
	// headers and excerpt.
	Timeout time.Duration `yaml:"timeout"`
	// MaxInFlight bounds the concurrent attempts of one gateway process
	// to this endpoint.
	MaxInFlight int `yaml:"max_in_flight"`
}

// DefaultRetrySchedule is about a day and a half in all.
var DefaultRetrySchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

const (
	defaultTimeout     = 10 * time.Second
	defaultMaxInFlight = 8
	// maxMaxInFlight bounds max_in_flight: each attempt is a goroutine and
	// a connection.
	maxMaxInFlight = 256
)

var namePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// SetDefaults fills unset values.
func (c *Config) SetDefaults() {
	if len(c.RetrySchedule) == 0 {
		c.RetrySchedule = append([]time.Duration(nil), DefaultRetrySchedule...)
	}
	if c.MaxRetryAfter == 0 {
		c.MaxRetryAfter = 12 * time.Hour
	}
	if c.ClaimAfter == 0 {
		c.ClaimAfter = time.Minute
	}
	if c.Retention == 0 {
		c.Retention = 7 * 24 * time.Hour
	}
	if c.MaxAttemptsKept == 0 {
		c.MaxAttemptsKept = 20
	}
	for i := range c.Endpoints {
		c.Endpoints[i].setDefaults()
	}
}

func (e *Endpoint) setDefaults() {
	if e.Name == "" {
		if u, err := url.Parse(e.URL); err == nil && u.Host != "" {
			e.Name = strings.ReplaceAll(strings.ToLower(u.Host), ":", "-")
		}
	}
	if e.Timeout == 0 {
		e.Timeout = defaultTimeout
	}
	if e.MaxInFlight == 0 {
		e.MaxInFlight = defaultMaxInFlight
	}
}

// Validate reports every bad value. Secrets are never echoed.
func (c *Config) Validate() error {
	var errs []error
	for i, d := range c.RetrySchedule {
		if d <= 0 {
			errs = append(errs, configerr.Field(fmt.Sprintf("retry_schedule[%d]", i), d.String(), "must be positive"))
		}
	}
	if c.MaxRetryAfter <= 0 {
		errs = append(errs, configerr.Field("max_retry_after", c.MaxRetryAfter.String(), "must be positive"))
	}
	if c.Retention <= 0 {
		errs = append(errs, configerr.Field("retention", c.Retention.String(), "must be positive"))
	}
	if c.MaxAttemptsKept < 1 || c.MaxAttemptsKept > 1000 {
		errs = append(errs, configerr.Field("max_attempts_kept", c.MaxAttemptsKept, "must be from 1 to 1000"))
	}
	names := map[string]bool{}
	for i, e := range c.Endpoints {
		key := func(k string) string { return fmt.Sprintf("endpoints[%d].%s", i, k) }
		errs = append(errs, e.validate(key)...)
		if c.ClaimAfter <= e.Timeout {
			errs = append(errs, configerr.Field("claim_after", c.ClaimAfter.String(), fmt.Sprintf("must exceed the timeout of endpoint %q (%s): a slow attempt would be taken over mid-send", e.Name, e.Timeout)))
		}
		if names[e.Name] {
			errs = append(errs, configerr.Field(key("name"), e.Name, "is used by another endpoint: give each endpoint its own name"))
		}
		names[e.Name] = true
	}
	if c.ClaimAfter <= 0 {
		errs = append(errs, configerr.Field("claim_after", c.ClaimAfter.String(), "must be positive"))
	}
	return errors.Join(errs...)
}

func (e Endpoint) validate(key func(string) string) []error {
	var errs []error
	if !namePattern.MatchString(e.Name) {
		errs = append(errs, configerr.Field(key("name"), e.Name, "must be 1 to 64 letters, digits, '.', '_' or '-' (set it when the URL's host does not make one)"))
	}
	if err := checkURL(e.URL); err != nil {
		// The URL may carry credentials: not echoed.
		errs = append(errs, configerr.Field(key("url"), nil, err.Error()))
	}
	secrets := e.allSecrets()
	if len(secrets) == 0 {
		errs = append(errs, configerr.Field(key("secret"), nil, "is required (whsec_ followed by base64 of 24 to 64 random bytes)"))
	}
	for i, s := range secrets {
		if _, err := ParseSecret(s); err != nil {
			errs = append(errs, configerr.Field(fmt.Sprintf("%s[%d]", key("secrets"), i), nil, err.Error()))
		}
	}
	for i, t := range e.Events {
		if !eventTypePattern.MatchString(t) {
			errs = append(errs, configerr.Field(fmt.Sprintf("%s[%d]", key("events"), i), t, "must be an event type such as order.cleared"))
		}
	}
	if e.Timeout <= 0 {
		errs = append(errs, configerr.Field(key("timeout"), e.Timeout.String(), "must be positive"))
	}
	if e.MaxInFlight < 1 || e.MaxInFlight > maxMaxInFlight {
		errs = append(errs, configerr.Field(key("max_in_flight"), e.MaxInFlight, fmt.Sprintf("must be from 1 to %d", maxMaxInFlight)))
	}
	return errs
}

var eventTypePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

// allSecrets is Secret then Secrets, the ones that sign.
func (e Endpoint) allSecrets() []string {
	var out []string
	if e.Secret != "" {
		out = append(out, e.Secret)
	}
	return append(out, e.Secrets...)
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return errors.New("is required")
	case err != nil:
		return errors.New("is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must be an http:// or https:// URL")
	case u.Host == "" || u.Hostname() == "":
		return errors.New("has no host")
	case u.Fragment != "" || u.Opaque != "":
		return errors.New("must not have a fragment or an opaque part")
	}
	return nil
}

// secretPrefix starts a Standard Webhooks secret.
const secretPrefix = "whsec_"

// ParseSecret decodes a whsec_<base64> secret into the HMAC key: 24 to 64
// bytes (the Standard Webhooks bounds).
func ParseSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return nil, errors.New("must start with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("must be whsec_ followed by standard base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("decodes to %d bytes; must be 24 to 64", len(key))
	}
	return key, nil
}
