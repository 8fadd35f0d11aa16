package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SMTPSender delivers mail to the server of smtp.url with go-mail, one
// connection per message.
type SMTPSender struct {
	settings smtpSettings
	timeout  time.Duration
	from     string
	domain   string // of From, for Message-ID
	// rootCAs verify the server's certificate; nil: the system's. Tests
	// set their own CA.
	rootCAs *x509.CertPool
}

// NewSMTPSender builds a sender for smtp (its URL set) with the From of
// cfg.
func NewSMTPSender(smtp SMTPConfig, cfg Config) (*SMTPSender, error) {
	s, err := parseSMTPURL(smtp.URL)
	if err != nil {
		return nil, fmt.Errorf("smtp.url: %w", err)
	}
	return &SMTPSender{settings: s, timeout: smtp.Timeout, from: cfg.From, domain: fromDomain(cfg.From)}, nil
}

func fromDomain(from string) string {
	a, err := netmail.ParseAddress(from)
	if err != nil {
		return "localhost"
	}
	i := strings.LastIndex(a.Address, "@")
	if i < 0 || i == len(a.Address)-1 {
		return "localhost"
	}
	return a.Address[i+1:]
}

func (s *SMTPSender) client() (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(s.settings.port),
		// Every step has a deadline: go-mail sets it on the connection
		// when it dials (greeting, EHLO, STARTTLS, AUTH) and again before
		// each message (MAIL, RCPT, DATA).
		gomail.WithTimeout(s.timeout),
		// No RSET after the message: one message per connection needs
		// none, and a failed RSET after the server accepted the message
		// would count as a failed delivery and send it again.
		gomail.WithoutRset(),
	}
	// The certificate is always verified, for STARTTLS too: a server
	// whose certificate does not verify gets no mail rather than mail in
	// the clear.
	opts = append(opts, gomail.WithTLSConfig(&tls.Config{
		ServerName: s.settings.host, RootCAs: s.rootCAs, MinVersion: tls.VersionTLS12,
	}))
	switch s.settings.tls {
	case tlsImplicit:
		opts = append(opts, gomail.WithSSL())
	case tlsStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if s.settings.user != "" {
		// The strongest mechanism the server offers; go-mail refuses
		// PLAIN and LOGIN over an unencrypted connection.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.settings.user), gomail.WithPassword(s.settings.password))
	}
	return gomail.NewClient(s.settings.host, opts...)
}

// Send delivers m and calls accepted as soon as the server has accepted the
// message (the reply to the end of DATA), before QUIT: the outbox records
// the success there, so that the window in which a crash makes it send the
// message again is as short as it can be.
func (s *SMTPSender) Send(ctx context.Context, m Message, accepted func() error) error {
	msg, err := s.build(m)
	if err != nil {
		return &permanentError{err: err}
	}
	c, err := s.client()
	if err != nil {
		return fmt.Errorf("building the SMTP client: %w", err)
	}
	if err := c.DialWithContext(ctx); err != nil {
		return fmt.Errorf("connecting to the SMTP server %s:%d: %w", s.settings.host, s.settings.port, err)
	}
	defer func() { _ = c.Close() }() // QUIT: the message is already accepted or failed
	if err := c.Send(msg); err != nil {
		if se, ok := errors.AsType[*gomail.SendError](err); ok && !se.IsTemp() && rejectsMessage(se) {
			return &permanentError{err: fmt.Errorf("the SMTP server refused the message: %w", err)}
		}
		return fmt.Errorf("sending through %s:%d: %w", s.settings.host, s.settings.port, err)
	}
	return accepted()
}

// rejectsMessage reports whether a permanent (5xx) error is about this
// message (its recipient or content) rather than the server or the
// gateway's own settings: only those go to the dead letters at once;
// anything else (a refused MAIL FROM, a wrong password) is retried, since
// fixing the configuration sends the mail.
func rejectsMessage(se *gomail.SendError) bool {
	switch se.Reason {
	case gomail.ErrSMTPRcptTo, gomail.ErrSMTPDataClose:
		return true
	}
	return false
}

func (s *SMTPSender) build(m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return nil, fmt.Errorf("mail.from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	// The same Message-ID on every attempt: a receiver that got the message
	// in the window between its acceptance and the outbox's record can
	// drop the second copy.
	msg.SetMessageIDWithValue(MessageID(m.ID, s.domain))
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// permanentError is a failure that no retry can fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }
