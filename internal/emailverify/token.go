package emailverify

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Audience is the only audience a verification token carries and the only
// one accepted. Officer tokens carry none, so they fail here; these carry
// one, and are signed with another key, so they fail there.
const Audience = "verify-email"

// issuer names the gateway, as in officer tokens.
const issuer = "vpsgate"

// keyLabel derives the signing key of verification tokens from
// auth.jwt_secret: HMAC-SHA256(secret, label). A key of its own means a
// token signed with the officer secret, whatever its claims, never verifies
// here, and a leaked verification token tells nothing about that secret.
const keyLabel = "vpsgate email verification token key v1"

// iatLeeway is how far in the future a token's iat may be (clock skew
// between gateway processes).
const iatLeeway = 30 * time.Second

// Token errors. A token that fails any check but expiry is ErrInvalidToken,
// whatever the reason: the page says the link is not valid, nothing more.
var (
	ErrInvalidToken = errors.New("invalid verification token")
	ErrExpiredToken = errors.New("expired verification token")
)

// Claims are what a verification token says.
type Claims struct {
	Owner string `json:"owner"`
	Email string `json:"email"`
	jwt.RegisteredClaims
}

// Account is the account id (the subject; "" for an order that came
// without one).
func (c *Claims) Account() string { return c.Subject }

// Tokens mints and checks verification tokens.
type Tokens struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// NewTokens builds the token codec: secret is auth.jwt_secret (the key used
// is derived from it), ttl the lifetime of a new token.
func NewTokens(secret []byte, ttl time.Duration, now func() time.Time) (*Tokens, error) {
	if len(secret) == 0 {
		return nil, errors.New("verification tokens: auth.jwt_secret is not set")
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("verification tokens: ttl %s must be positive", ttl)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(keyLabel))
	return &Tokens{key: m.Sum(nil), ttl: ttl, now: now}, nil
}

// Mint signs a fresh token for owner's account and email, with a random jti.
func (t *Tokens) Mint(owner, account, email string) (string, error) {
	now := t.now()
	c := Claims{
		Owner: owner,
		Email: email,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   account,
			Audience:  jwt.ClaimStrings{Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
			ID:        rand.Text(),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.key)
	if err != nil {
		return "", fmt.Errorf("signing verification token: %w", err)
	}
	return s, nil
}

// maxTokenLen bounds what is parsed at all: a real token is a few hundred
// bytes.
const maxTokenLen = 2048

// Parse checks a token. It returns the claims and nil for a good token; the
// claims and ErrExpiredToken for a token whose only fault is that it has
// expired (its signature, audience and every other claim are good, so its
// email may be sent a new link); nil and ErrInvalidToken otherwise.
func (t *Tokens) Parse(s string) (*Claims, error) {
	if len(s) > maxTokenLen {
		return nil, fmt.Errorf("%w: too long", ErrInvalidToken)
	}
	var c Claims
	_, err := jwt.ParseWithClaims(s, &c, func(*jwt.Token) (any, error) { return t.key, nil }, t.parserOptions(t.now)...)
	if err == nil {
		if err := t.checkClaims(&c); err != nil {
			return nil, err
		}
		return &c, nil
	}
	if !errors.Is(err, jwt.ErrTokenExpired) || c.ExpiresAt == nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	// The parser joins every failed check, and reports expiry even when
	// the audience is wrong too; only a token that passes every check at
	// a moment before its expiry is "expired" rather than invalid. (The
	// signature was verified before any claim was looked at.)
	before := c.ExpiresAt.Add(-time.Second)
	v := jwt.NewValidator(t.validatorOptions(func() time.Time { return before })...)
	if verr := v.Validate(&c); verr != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, verr)
	}
	if err := t.checkClaims(&c); err != nil {
		return nil, err
	}
	return &c, ErrExpiredToken
}

func (t *Tokens) parserOptions(now func() time.Time) []jwt.ParserOption {
	return append(t.validatorOptions(now), jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}))
}

func (t *Tokens) validatorOptions(now func() time.Time) []jwt.ParserOption {
	return []jwt.ParserOption{
		jwt.WithAudience(Audience),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(iatLeeway),
		jwt.WithTimeFunc(now),
	}
}

// checkClaims checks what the parser does not: the claims this package
// relies on are present, the audience is this one alone, and the lifetime
// is no longer than a token this gateway mints (whoever holds the key must
// not be able to sign a link good for a year).
func (t *Tokens) checkClaims(c *Claims) error {
	switch {
	case len(c.Audience) != 1:
		return fmt.Errorf("%w: audience %q", ErrInvalidToken, []string(c.Audience))
	case c.Owner == "" || c.Email == "" || c.ID == "":
		// No sub is a link of an order that came without an account id:
		// it verifies the owner's orders of that address only.
		return fmt.Errorf("%w: missing owner, email or jti", ErrInvalidToken)
	case c.IssuedAt == nil:
		return fmt.Errorf("%w: no iat", ErrInvalidToken)
	case c.ExpiresAt.Sub(c.IssuedAt.Time) > t.ttl:
		return fmt.Errorf("%w: lifetime longer than email_verification.token_ttl", ErrInvalidToken)
	}
	return nil
}
