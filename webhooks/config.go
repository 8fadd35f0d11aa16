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

// The configuration keys of webhook delivery, as the operator writes them:
// the list of endpoints and the section of delivery settings.
const (
	EndpointsKey = "webhooks"
	DeliveryKey  = "webhook_delivery"
)

// Config is what delivery needs: the endpoints (the top-level `webhooks`
// list) and the delivery settings (the `webhook_delivery` section).
// internal/config holds the two keys and builds it (WebhooksConfig). No
// endpoints: nothing is delivered and the event outbox is trimmed at about
// a million entries.
type Config struct {
	// Endpoints are the provisioning receivers. In the environment:
	// GATEWAY_WEBHOOKS as a JSON list of objects.
	Endpoints []Endpoint
	DeliveryConfig
}

// DeliveryConfig is the `webhook_delivery` section: how long delivery keeps
// trying, the same for every endpoint.
type DeliveryConfig struct {
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

// SetDefaults fills unset values of the delivery settings and of every
// endpoint.
func (c *Config) SetDefaults() {
	c.DeliveryConfig.SetDefaults()
	for i := range c.Endpoints {
		c.Endpoints[i].SetDefaults()
	}
}

// SetDefaults fills unset values.
func (d *DeliveryConfig) SetDefaults() {
	if len(d.RetrySchedule) == 0 {
		d.RetrySchedule = append([]time.Duration(nil), DefaultRetrySchedule...)
	}
	if d.MaxRetryAfter == 0 {
		d.MaxRetryAfter = 12 * time.Hour
	}
	if d.ClaimAfter == 0 {
		d.ClaimAfter = time.Minute
	}
	if d.Retention == 0 {
		d.Retention = 7 * 24 * time.Hour
	}
	if d.MaxAttemptsKept == 0 {
		d.MaxAttemptsKept = 20
	}
}

// SetDefaults fills unset values: the name from the URL's host, the
// timeout and max_in_flight.
func (e *Endpoint) SetDefaults() {
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

// Validate reports every bad value of both keys at once. The two are
// checked together (claim_after against every endpoint's timeout, names
// unique across the list), so the keys are named from the top, as the
// operator writes them: webhooks[0].url, webhook_delivery.claim_after.
// Secrets and URLs are never echoed.
func (c Config) Validate() error {
	errs := []error{configerr.Prefix(DeliveryKey, c.DeliveryConfig.validate())}
	claimAfter := DeliveryKey + ".claim_after"
	names := map[string]int{}
	for i, e := range c.Endpoints {
		section := fmt.Sprintf("%s[%d]", EndpointsKey, i)
		errs = append(errs, configerr.Prefix(section, errors.Join(e.validate()...)))
		if c.ClaimAfter > 0 && c.ClaimAfter <= e.Timeout {
			errs = append(errs, configerr.Field(claimAfter, c.ClaimAfter.String(), fmt.Sprintf("must exceed the timeout of endpoint %q (%s): a slow attempt would be taken over mid-send", e.Name, e.Timeout)))
		}
		if j, dup := names[e.Name]; dup {
			errs = append(errs, configerr.Field(section+".name", e.Name, fmt.Sprintf("is used by %s[%d]: give each endpoint its own name", EndpointsKey, j)))
			continue
		}
		names[e.Name] = i
	}
	return errors.Join(errs...)
}

// validate reports the delivery settings' bad values, keys relative to
// the section.
func (d DeliveryConfig) validate() error {
	var errs []error
	for i, v := range d.RetrySchedule {
		if v <= 0 {
			errs = append(errs, configerr.Field(fmt.Sprintf("retry_schedule[%d]", i), v.String(), "must be positive"))
		}
	}
	if d.MaxRetryAfter <= 0 {
		errs = append(errs, configerr.Field("max_retry_after", d.MaxRetryAfter.String(), "must be positive"))
	}
	if d.ClaimAfter <= 0 {
		errs = append(errs, configerr.Field("claim_after", d.ClaimAfter.String(), "must be positive"))
	}
	if d.Retention <= 0 {
		errs = append(errs, configerr.Field("retention", d.Retention.String(), "must be positive"))
	}
	if d.MaxAttemptsKept < 1 || d.MaxAttemptsKept > 1000 {
		errs = append(errs, configerr.Field("max_attempts_kept", d.MaxAttemptsKept, "must be from 1 to 1000"))
	}
	return errors.Join(errs...)
}

// validate reports the endpoint's bad values, keys relative to it.
func (e Endpoint) validate() []error {
	var errs []error
	if !namePattern.MatchString(e.Name) {
		errs = append(errs, configerr.Field("name", e.Name, "must be 1 to 64 letters, digits, '.', '_' or '-' (set it when the URL's host does not make one)"))
	}
	if err := checkURL(e.URL); err != nil {
		// The URL may carry credentials: not echoed.
		errs = append(errs, configerr.Field("url", nil, err.Error()))
	}
	if len(e.allSecrets()) == 0 {
		errs = append(errs, configerr.Field("secret", nil, "is required (whsec_ followed by base64 of 24 to 64 random bytes)"))
	}
	if e.Secret != "" {
		if _, err := ParseSecret(e.Secret); err != nil {
			errs = append(errs, configerr.Field("secret", nil, err.Error()))
		}
	}
	for i, s := range e.Secrets {
		if _, err := ParseSecret(s); err != nil {
			errs = append(errs, configerr.Field(fmt.Sprintf("secrets[%d]", i), nil, err.Error()))
		}
	}
	for i, t := range e.Events {
		if !eventTypePattern.MatchString(t) {
			errs = append(errs, configerr.Field(fmt.Sprintf("events[%d]", i), t, "must be an event type such as order.cleared"))
		}
	}
	if e.Timeout <= 0 {
		errs = append(errs, configerr.Field("timeout", e.Timeout.String(), "must be positive"))
	}
	if e.MaxInFlight < 1 || e.MaxInFlight > maxMaxInFlight {
		errs = append(errs, configerr.Field("max_in_flight", e.MaxInFlight, fmt.Sprintf("must be from 1 to %d", maxMaxInFlight)))
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
