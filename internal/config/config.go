// Package config loads the gateway's one configuration: a YAML file whose
// every key can also be set by an environment variable. Each package owns its
// section (type, defaults, validation); this package composes them, applies
// the environment, and reports every problem at once.
package config

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vpsgate/gateway/audit"
	"github.com/vpsgate/gateway/gateway"
	"github.com/vpsgate/gateway/geoblock"
	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/internal/configerr"
	"github.com/vpsgate/gateway/internal/emailverify"
	"github.com/vpsgate/gateway/internal/mail"
	"github.com/vpsgate/gateway/kyc"
	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/refunds"
	"github.com/vpsgate/gateway/screening"
	"github.com/vpsgate/gateway/screening/minfraud"
	"github.com/vpsgate/gateway/webhooks"
)

// Config is the whole configuration.
type Config struct {
	gateway.Config `yaml:",inline"`

	// DataDir holds what the embedded servers keep on disk.
	DataDir string `yaml:"data_dir"`

	Log      LogConfig            `yaml:"log"`
	GeoIP    geoblock.GeoIPConfig `yaml:"geoip"`
	Geoblock geoblock.Config      `yaml:"geoblock"`
	Redis    RedisConfig          `yaml:"redis"`
	S3       kyc.StoreConfig      `yaml:"s3"`
	Audit    audit.Config         `yaml:"audit"`
	Auth     auth.Config          `yaml:"auth"`

	EmailVerification emailverify.Config `yaml:"email_verification"`
	// KYC is the identity documents' upload, case workflow and retention.
	KYC kyc.Config `yaml:"kyc"`

	Screening screening.Config `yaml:"screening"`
	// Holds is what an order waits for before it clears (orders).
	Holds    orders.HoldsConfig `yaml:"holds"`
	MinFraud minfraud.Config    `yaml:"minfraud"`
	// Refunds is the refund rules of the terms (refunds; issue 11).
	Refunds refunds.Config `yaml:"refunds"`
	// SMTP and Mail: mail to customers; no smtp.url is the development
	// outbox.
	SMTP mail.SMTPConfig `yaml:"smtp"`
	Mail mail.Config     `yaml:"mail"`
	// Intercept lists the storefront's checkout routes to screen before
	// they are forwarded. Empty with the demo storefront: its checkout.
	Intercept []screening.InterceptRoute `yaml:"intercept"`
	// Webhooks lists the endpoints signed events are delivered to
	// (provisioning); WebhookDelivery is how delivery retries and what it
	// keeps. WebhooksConfig joins the two for the webhooks package.
	Webhooks        []webhooks.Endpoint     `yaml:"webhooks"`
	WebhookDelivery webhooks.DeliveryConfig `yaml:"webhook_delivery"`

	// AcknowledgeRisks lists the dangerous settings (see Risks) the
	// operator means: a refused one is then accepted, and still warned
	// about at every start.
	AcknowledgeRisks []string `yaml:"acknowledge_risks"`

	// generated lists the secrets SetDefaults made up for the zero-config
	// mode, so that start-up can say so.
	generated []string
}

// LogConfig is the `log` section.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // json | text
	// Access is the access log: all requests, errors (status >= 500) only,
	// or off. Load tests and very busy gateways may want less than all.
	Access string `yaml:"access"`
}

// Embedded says which dependencies run in-process because their keys are
// empty. The zero-config start is all of them.
type Embedded struct {
	Redis, S3, GeoIP, Upstream bool
	// Mail: no smtp.url, so mail goes to the development outbox.
	Mail bool
}

// Any reports whether anything runs embedded.
func (e Embedded) Any() bool { return e.Redis || e.S3 || e.GeoIP || e.Upstream || e.Mail }

// Embedded reports which dependencies the configuration leaves to the
// embedded servers.
func (c *Config) Embedded() Embedded {
	return Embedded{
		Redis:    c.Redis.URL == "",
		S3:       c.S3.Endpoint == "",
		GeoIP:    c.GeoIP.CountryDB == "",
		Upstream: c.Upstream == "",
		Mail:     c.SMTP.URL == "",
	}
}

// Error is a configuration that cannot be used; cmd/gateway exits 2 on it.
type Error struct {
	Source string // file name or "environment"
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration (%s):", e.Source)
	for _, err := range configerr.Flatten(e.Err) {
		b.WriteString("\n  - ")
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Load reads the file at path (none when empty), applies the environment,
// secrets and defaults, and validates everything. Every problem found is
// reported at once; only a file that cannot be parsed stops it early.
func Load(path string, env map[string]string) (*Config, error) {
	var cfg Config
	source := "defaults and environment"
	var errs []error
	if path != "" {
		source = path
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, &Error{Source: path, Err: fmt.Errorf("reading config file: %w", err)}
		}
		if err := decodeYAML(data, &cfg); err != nil {
			return nil, &Error{Source: path, Err: err}
		}
		errs = append(errs, expandSecrets(&cfg, env))
	}
	errs = append(errs, applyEnv(&cfg, env))
	cfg.SetDefaults()
	errs = append(errs, cfg.Validate())
	if err := joinSorted(errs); err != nil {
		return nil, &Error{Source: source, Err: err}
	}
	return &cfg, nil
}

func decodeYAML(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file is all defaults
		}
		if hint := webhooksHint(data); hint != nil {
			return errors.Join(fmt.Errorf("parsing YAML: %w", err), hint)
		}
		return fmt.Errorf("parsing YAML: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("parsing YAML: the file holds more than one document")
	}
	return nil
}

// SetDefaults fills every unset value of every section.
func (c *Config) SetDefaults() {
	c.Config.SetDefaults()
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	if c.Log.Access == "" {
		c.Log.Access = "all"
	}
	c.GeoIP.SetDefaults()
	c.Geoblock.SetDefaults()
	c.Redis.SetDefaults()
	c.S3.SetDefaults()
	c.Audit.SetDefaults()
	c.Auth.SetDefaults()
	c.EmailVerification.SetDefaults()
	c.KYC.SetDefaults()
	// With the embedded, memory-only Redis nothing keyed by hash_key
	// outlives the process, so a random key per start is safe; with a
	// real Redis the operator must choose one (Validate says so).
	if c.Redis.URL == "" && c.Screening.HashKey == "" {
		c.Screening.HashKey = rand.Text() + rand.Text()
		c.generated = append(c.generated, "screening.hash_key")
	}
	c.Screening.SetDefaults()
	c.Holds.SetDefaults()
	c.Refunds.SetDefaults()
	c.MinFraud.SetDefaults()
	c.SMTP.SetDefaults()
	c.Mail.SetDefaults()
	c.WebhookDelivery.SetDefaults()
	for i := range c.Webhooks {
		c.Webhooks[i].SetDefaults()
	}
	for i := range c.Intercept {
		c.Intercept[i].SetDefaults()
	}
}

// Generated lists the keys whose secret SetDefaults made up (zero-config
// mode only).
func (c *Config) Generated() []string { return c.generated }

// Validate checks every section and reports all problems at once, each with
// its full key.
func (c *Config) Validate() error {
	var errs []error
	errs = append(errs, c.Config.Validate())
	if _, err := c.Log.SlogLevel(); err != nil {
		errs = append(errs, configerr.Field("log.level", c.Log.Level, err.Error()))
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		errs = append(errs, configerr.Field("log.format", c.Log.Format, "must be json or text"))
	}
	switch c.Log.Access {
	case "all", "errors", "off":
	default:
		errs = append(errs, configerr.Field("log.access", c.Log.Access, "must be all, errors or off"))
	}
	errs = append(errs,
		configerr.Prefix("geoip", c.GeoIP.Validate()),
		configerr.Prefix("redis", c.Redis.Validate()),
		configerr.Prefix("s3", c.S3.Validate()),
		configerr.Prefix("audit", c.Audit.Validate()),
		configerr.Prefix("auth", c.Auth.Validate()),
		configerr.Prefix("email_verification", c.EmailVerification.Validate()),
		configerr.Prefix("kyc", c.KYC.Validate()),
		configerr.Prefix("screening", c.Screening.Validate()),
		configerr.Prefix("holds", c.Holds.Validate()),
		configerr.Prefix("refunds", c.Refunds.Validate()),
		configerr.Prefix("minfraud", c.MinFraud.Validate()),
		configerr.Prefix("smtp", c.SMTP.Validate()),
		configerr.Prefix("mail", c.Mail.Validate()),
		c.WebhooksConfig().Validate(), // names webhooks[N].* and webhook_delivery.*
	)
	routes := map[string]int{}
	for i, r := range c.Intercept {
		key := fmt.Sprintf("intercept[%d]", i)
		errs = append(errs, configerr.Prefix(key, r.Validate()))
		// Routes match by path (case folded) and query, whatever the
		// method.
		for _, m := range r.Matchers() {
			for _, p := range m.Paths {
				id := strings.ToLower(p) + "?" + screening.DescribeQuery(m.MatchQuery)
				if j, dup := routes[id]; dup && j != i {
					errs = append(errs, configerr.Field(key+".path", p, fmt.Sprintf("is already intercept[%d] (a route covers every method with a body)", j)))
				}
				routes[id] = i
			}
		}
	}
	errs = append(errs, c.validateRisks()...)
	// The geo policy is compiled once here, as serve compiles it: its
	// errors and its exemptions come from the one compiled policy.
	var exempt func(string) bool
	if p, err := geoblock.NewPolicy(c.Geoblock); err != nil {
		errs = append(errs, configerr.Prefix("geoblock", err))
	} else {
		exempt = p.Exempt
	}
	errs = append(errs, gateway.CheckWebsocketPaths(c.Proxy.WebsocketPaths, c.Intercept, exempt))
	return joinSorted(errs)
}

// SlogLevel parses the level.
func (l LogConfig) SlogLevel() (slog.Level, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.Level)); err != nil {
		return 0, fmt.Errorf("must be debug, info, warn or error")
	}
	return lv, nil
}

// Redacted is the effective configuration for the start-up log, with every
// secret replaced and passwords removed from URLs.
func (c *Config) Redacted() map[string]any {
	out := map[string]any{}
	for _, l := range leaves(reflect.ValueOf(c), "") {
		v := l.value.Interface()
		switch {
		case isSecretKey(l.key):
			if !l.value.IsZero() {
				v = "[redacted]"
			}
		case l.value.Type() == durationType:
			v = time.Duration(l.value.Int()).String()
		case l.value.Kind() == reflect.String:
			v = redactURL(l.value.String())
		}
		out[l.key] = v
	}
	return out
}

// redactURL hides the password of a URL-shaped value (redis://:pw@host).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
