package emailverify

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/kind"
	"github.com/vpsgate/gateway/internal/linktoken"
	"github.com/vpsgate/gateway/internal/logctx"
)

// Errors. ErrInvalidInput maps to 400, ErrUnavailable to 503 (nothing was
// done; try again).
var (
	ErrInvalidInput = kind.New(kind.ErrInvalidInput, "invalid input")
	ErrUnavailable  = kind.New(kind.ErrUnavailable, "email verification unavailable")
)

// emailVerifier is the order lifecycle (orders.Service): it marks the
// account verified and completes the holds waiting on it. Idempotent.
type emailVerifier interface {
	EmailVerified(ctx context.Context, owner, accountID, email, actor string) error
}

// Message is one mail for the outbox, in the shape of the mail package's
// Message (convert with mail.Message(m)). ID is the outbox's idempotency
// key: a message whose ID was already queued is not queued again.
type Message struct {
	ID      string
	To      string
	Subject string
	Text    string
	HTML    string
}

// outbox queues mail durably (the mail package's Outbox, adapted).
type outbox interface {
	Enqueue(ctx context.Context, m Message) error
}

// renderer fills a named mail template (the mail package's Templates).
type renderer interface {
	Render(name string, data any) (subject, text, html string, err error)
}

// MailTemplate is the template SendVerification renders.
const MailTemplate = "verify_email"

// MailData is what the verify_email template is given.
type MailData struct {
	Link     string        // the verification link
	Email    string        // the address being verified (the mail's own To)
	Expires  time.Time     // when the link stops working
	ValidFor string        // the link's lifetime in words ("24 hours")
	TTL      time.Duration // the link's lifetime
}

// PagePath is the customer page, on the public side.
const PagePath = "/_gateway/verify-email"

// Deps are what a Service is built from.
type Deps struct {
	// Redis holds consumed jtis and resend counters.
	Redis redis.Cmdable
	// Prefix starts every key (screening.key_prefix + "verify:").
	Prefix string
	// Secret is auth.jwt_secret; the token key is derived from it.
	Secret []byte
	// PublicURL is how customers reach the public side (public_url).
	PublicURL string
	// Verifier is told when a token is consumed (the order lifecycle).
	// Nil (not wired): confirming answers ErrUnavailable and burns
	// nothing, it never pretends to have verified.
	Verifier emailVerifier
	// Outbox and Templates send the mail. Nil (no mail package wired):
	// sending answers ErrUnavailable, it never pretends to have sent.
	Outbox    outbox
	Templates renderer
	Logger    *slog.Logger
	Now       func() time.Time
}

// Service mints, sends, consumes and resends verification links.
type Service struct {
	cfg     Config
	d       Deps
	tokens  *Tokens
	limits  *limiter
	baseURL string
}

// New builds the service from a validated Config.
func New(cfg Config, d Deps) (*Service, error) {
	if d.Redis == nil || d.Logger == nil || d.Now == nil {
		return nil, errors.New("email verification: Redis, Logger and Now are required")
	}
	u, err := url.Parse(d.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("email verification: public_url %q must be an http(s) URL: links in mails point there", d.PublicURL)
	}
	tokens, err := NewTokens(d.Secret, cfg.TokenTTL, d.Now)
	if err != nil {
		return nil, err
	}
	return &Service{
		cfg:     cfg,
		d:       d,
		tokens:  tokens,
		limits:  &limiter{rdb: d.Redis, prefix: d.Prefix, key: linktoken.DeriveKey(d.Secret, keyLabel), window: cfg.ResendWindow},
		baseURL: strings.TrimRight(d.PublicURL, "/"),
	}, nil
}

// VerifyEmailLink returns a fresh single-use link for owner's account and
// email: public_url + /_gateway/verify-email?token=...
func (s *Service) VerifyEmailLink(owner, accountID, email string) (string, error) {
	if err := checkAccount(owner, accountID, email); err != nil {
		return "", err
	}
	tok, err := s.tokens.Mint(owner, accountID, email)
	if err != nil {
		return "", err
	}
	return s.baseURL + PagePath + "?token=" + url.QueryEscape(tok), nil
}

// SendVerification queues the verification mail for owner's account and
// email. ref makes it idempotent: the same (owner, account, email, ref)
// gives the same message ID, which the outbox queues once.
func (s *Service) SendVerification(ctx context.Context, owner, accountID, email, ref string) error {
	if ref == "" {
		return fmt.Errorf("%w: ref: is required", ErrInvalidInput)
	}
	if s.d.Outbox == nil || s.d.Templates == nil {
		return fmt.Errorf("sending verification mail: %w: no mail outbox is configured", ErrUnavailable)
	}
	link, err := s.VerifyEmailLink(owner, accountID, email)
	if err != nil {
		return err
	}
	now := s.d.Now()
	subject, text, html, err := s.d.Templates.Render(MailTemplate, MailData{
		Link: link, Email: email, Expires: now.Add(s.cfg.TokenTTL), ValidFor: inWords(s.cfg.TokenTTL), TTL: s.cfg.TokenTTL,
	})
	if err != nil {
		return fmt.Errorf("rendering %s: %w", MailTemplate, err)
	}
	id := sha256.Sum256([]byte(owner + "\x00" + accountID + "\x00" + email + "\x00" + ref))
	m := Message{ID: "verify-email:" + hex.EncodeToString(id[:16]), To: email, Subject: subject, Text: text, HTML: html}
	if err := s.d.Outbox.Enqueue(ctx, m); err != nil {
		return fmt.Errorf("queueing verification mail for %s/%s: %w", owner, accountID, err)
	}
	s.d.Logger.InfoContext(ctx, "verification mail queued", "owner", owner, "account", accountID, "email", logctx.MaskEmail(email), "message_id", m.ID)
	return nil
}

// Requester is who asks for a resend, for the per-address limit: a visitor
// of the customer page, or a storefront calling the API.
type Requester struct {
	Addr netip.Addr
	API  bool
}

// Resend sends a new link to owner's account and email, within the resend
// limits (per client address first, so that a flood from one address does
// not eat the account's allowance; then per account). Each resend is a
// new message.
func (s *Service) Resend(ctx context.Context, owner, accountID, email string, from Requester) error {
	if accountID == "" {
		return fmt.Errorf("%w: account id: must be 1 to %d printable characters", ErrInvalidInput, maxAccountID)
	}
	if err := checkAccount(owner, accountID, email); err != nil {
		return err
	}
	return s.resend(ctx, owner, accountID, email, from, rand.Text())
}

func (s *Service) resend(ctx context.Context, owner, accountID, email string, from Requester, ref string) error {
	// Before counting: a gateway that cannot send must not eat the
	// customer's allowance.
	if s.d.Outbox == nil || s.d.Templates == nil {
		return fmt.Errorf("resending verification mail: %w: no mail outbox is configured", ErrUnavailable)
	}
	scope, limit := "address", s.cfg.ResendPerAddress
	if from.API {
		scope, limit = "api_client", s.cfg.ResendPerAPIClient
	}
	if err := s.limits.allow(ctx, scope, addrID(from.Addr), limit); err != nil {
		return err
	}
	account := owner + "\x00" + accountID
	if accountID == "" {
		// An order without an account id: its address is its account.
		account = owner + "\x00\x00" + email
	}
	if err := s.limits.allow(ctx, "account", account, s.cfg.ResendPerAccount); err != nil {
		return err
	}
	return s.SendVerification(ctx, owner, accountID, email, "resend:"+ref)
}

// inWords says a duration as the mail says it: "24 hours", "90 minutes".
func inWords(d time.Duration) string {
	if d%time.Hour == 0 {
		if d == time.Hour {
			return "1 hour"
		}
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return fmt.Sprintf("%d minutes", d/time.Minute)
}

// Bounds of what is put in a token.
const (
	maxAccountID = 128
	maxOwner     = 256
	maxEmail     = 254
)

// checkAccount refuses what cannot name an account and its mailbox: the
// email must be one plain address (no display name, no list), as the
// storefront's own copy would be sent to.
func checkAccount(owner, accountID, email string) error {
	switch {
	case owner == "" || len(owner) > maxOwner || !printable(owner):
		return fmt.Errorf("%w: owner: must be 1 to %d printable characters", ErrInvalidInput, maxOwner)
	case len(accountID) > maxAccountID || !printable(accountID):
		// "" is the account of an order that came without an account
		// id: the address stands for it.
		return fmt.Errorf("%w: account id: must be at most %d printable characters", ErrInvalidInput, maxAccountID)
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || len(email) > maxEmail || !printable(email) {
		return fmt.Errorf("%w: email: must be one plain address (name@example.com)", ErrInvalidInput)
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
