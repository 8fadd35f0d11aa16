package mail

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vpsgate/gateway/internal/configerr"
)

// SMTPConfig is the `smtp` section: where mail goes out.
type SMTPConfig struct {
	// URL is smtp://[user:password@]host[:port] (STARTTLS when the server
	// offers it), smtp+starttls://... or smtp://...?starttls=required
	// (STARTTLS or no mail), or smtps://... (TLS from the first byte). The
	// password is best given as ${VAR}. Empty: the development outbox (mail
	// is kept in Redis for GET /api/v1/dev/mail and printed in the log).
	URL string `yaml:"url"`
	// Timeout bounds connecting plus the greeting, STARTTLS and AUTH, and
	// then again each message's MAIL, RCPT and DATA.
	Timeout time.Duration `yaml:"timeout"`
}

// Config is the `mail` section: what the gateway's mail says and how long
// the outbox keeps trying.
type Config struct {
	// From is the sender address, e.g. "Shop <no-reply@shop.example>".
	From string `yaml:"from"`
	// ShopName is the storefront's name as the templates show it.
	ShopName string `yaml:"shop_name"`
	// RetryMin and RetryMax bound the exponential back-off between two
	// attempts at one message.
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
	// DeadAfter is how long a message is retried before it goes to the
	// dead-letter set (counted by gateway_mail_dead_letters_total).
	DeadAfter time.Duration `yaml:"dead_after"`
}

// SetDefaults fills unset values.
func (c *SMTPConfig) SetDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
}

// Validate reports every bad value. The URL may hold a password, so it is
// never echoed.
func (c *SMTPConfig) Validate() error {
	var errs []error
	if c.URL != "" {
		if _, err := parseSMTPURL(c.URL); err != nil {
			errs = append(errs, configerr.Field("url", nil, err.Error()))
		}
	}
	if c.Timeout <= 0 {
		errs = append(errs, configerr.Field("timeout", c.Timeout.String(), "must be positive"))
	}
	return errors.Join(errs...)
}

// SetDefaults fills unset values.
func (c *Config) SetDefaults() {
	if c.From == "" {
		c.From = "no-reply@localhost"
	}
	if c.ShopName == "" {
		c.ShopName = "our shop"
	}
	if c.RetryMin == 0 {
		c.RetryMin = 10 * time.Second
	}
	if c.RetryMax == 0 {
		c.RetryMax = 10 * time.Minute
	}
	if c.DeadAfter == 0 {
		c.DeadAfter = 72 * time.Hour
	}
}

// Validate reports every bad value.
func (c *Config) Validate() error {
	var errs []error
	if _, err := mail.ParseAddress(c.From); err != nil {
		errs = append(errs, configerr.Field("from", c.From, "not an address such as \"Shop <no-reply@shop.example>\""))
	}
	if strings.ContainsAny(c.ShopName, "\r\n") {
		errs = append(errs, configerr.Field("shop_name", c.ShopName, "must be one line (it goes into the subject)"))
	}
	if c.RetryMin <= 0 {
		errs = append(errs, configerr.Field("retry_min", c.RetryMin.String(), "must be positive"))
	}
	if c.RetryMax < c.RetryMin {
		errs = append(errs, configerr.Field("retry_max", c.RetryMax.String(), "must be at least retry_min"))
	}
	if c.DeadAfter < time.Hour {
		errs = append(errs, configerr.Field("dead_after", c.DeadAfter.String(), "must be at least 1h: mail is kept while the SMTP server is down"))
	}
	return errors.Join(errs...)
}

// tlsMode is how a connection is protected.
type tlsMode int

const (
	// tlsOpportunistic upgrades with STARTTLS when the server offers it.
	tlsOpportunistic tlsMode = iota
	// tlsStartTLS requires STARTTLS: no mail goes out in clear text.
	tlsStartTLS
	// tlsImplicit speaks TLS from the first byte (smtps, port 465).
	tlsImplicit
)

// smtpSettings is a parsed smtp.url.
type smtpSettings struct {
	host     string
	port     int
	tls      tlsMode
	user     string
	password string
}

func parseSMTPURL(raw string) (smtpSettings, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's error repeats the URL, password and all.
		return smtpSettings{}, errors.New("not a URL such as smtp://user:password@host:587")
	}
	var s smtpSettings
	defaultPort := 587
	switch u.Scheme {
	case "smtp":
		s.tls = tlsOpportunistic
	case "smtp+starttls":
		s.tls = tlsStartTLS
	case "smtps":
		s.tls, defaultPort = tlsImplicit, 465
	default:
		return s, fmt.Errorf("scheme %q: must be smtp, smtp+starttls or smtps", u.Scheme)
	}
	q := u.Query()
	for k := range q {
		if k != "starttls" {
			return s, fmt.Errorf("unknown parameter %q (only starttls=required)", k)
		}
	}
	switch v := q.Get("starttls"); v {
	case "":
	case "required":
		if s.tls == tlsImplicit {
			return s, errors.New("starttls=required makes no sense with smtps (already TLS)")
		}
		s.tls = tlsStartTLS
	default:
		return s, fmt.Errorf("starttls=%q: only starttls=required", v)
	}
	if u.Path != "" && u.Path != "/" {
		return s, errors.New("an SMTP URL has no path")
	}
	s.host = u.Hostname()
	if s.host == "" {
		return s, errors.New("no host")
	}
	s.port = defaultPort
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return s, fmt.Errorf("port %q: not a port", p)
		}
		s.port = n
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.password, _ = u.User.Password()
	}
	return s, nil
}
