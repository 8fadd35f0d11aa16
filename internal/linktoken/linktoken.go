// Package linktoken signs and checks the tokens of the links the gateway
// mails to customers (email verification, KYC upload): HS256 JWTs with a
// key of their own per kind of link, one audience, a lifetime no longer
// than the gateway mints, and a jti for single use.
//
// A link whose only fault is its age is told apart from one that is
// wrong in any other way, so that its page can offer a new link without
// saying anything about a forged one.
package linktoken

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer names the gateway, as in officer tokens.
const Issuer = "vpsgate"

// iatLeeway is how far in the future a token's iat may be (clock skew
// between gateway processes).
const iatLeeway = 30 * time.Second

// MaxLen bounds what is parsed at all: a real link token is a few hundred
// bytes.
const MaxLen = 4096

// Parse's errors.
var (
	// ErrInvalid is any fault but age: forged, another audience or
	// algorithm, a missing claim, a lifetime longer than minted.
	ErrInvalid = errors.New("invalid link token")
	// ErrExpired is a token good in every other way.
	ErrExpired = errors.New("expired link token")
)

// Codec mints and checks one kind of link token.
type Codec struct {
	key      []byte
	audience string
	ttl      time.Duration
	now      func() time.Time
}

// New builds a codec. secret is auth.jwt_secret; the signing key is
// HMAC-SHA256(secret, label), so a token of another kind, or an officer
// token signed with the secret itself, never verifies here, and a leaked
// link tells nothing about the secret. audience is the only one minted and
// accepted; ttl the lifetime of a new token.
func New(secret []byte, label, audience string, ttl time.Duration, now func() time.Time) (*Codec, error) {
	switch {
	case len(secret) == 0:
		return nil, fmt.Errorf("%s tokens: auth.jwt_secret is not set", audience)
	case ttl <= 0:
		return nil, fmt.Errorf("%s tokens: ttl %s must be positive", audience, ttl)
	case now == nil || label == "" || audience == "":
		return nil, fmt.Errorf("%s tokens: a clock, a key label and an audience are required", audience)
	}
	return &Codec{key: DeriveKey(secret, label), audience: audience, ttl: ttl, now: now}, nil
}

// DeriveKey is the signing key of the tokens labelled label:
// HMAC-SHA256(secret, label).
func DeriveKey(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// Registered is the registered claims of a new token for subject: this
// codec's issuer and audience, issued now, expiring after the ttl, with a
// random jti.
func (c *Codec) Registered(subject string) jwt.RegisteredClaims {
	now := c.now()
	return jwt.RegisteredClaims{
		Issuer:    Issuer,
		Subject:   subject,
		Audience:  jwt.ClaimStrings{c.audience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(c.ttl)),
		ID:        rand.Text(),
	}
}

// Sign signs claims (whose registered part came from Registered).
func (c *Codec) Sign(claims jwt.Claims) (string, error) {
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(c.key)
	if err != nil {
		return "", fmt.Errorf("signing %s token: %w", c.audience, err)
	}
	return s, nil
}

// Parse checks s and decodes it into claims, a pointer to a struct that
// embeds jwt.RegisteredClaims, reg (a pointer to that embedded part, where
// the checks here read it). It returns nil for a good token,
// ErrExpired for a token whose only fault is its age (claims is filled:
// the caller may offer a new link to its address), and an error wrapping
// ErrInvalid otherwise. Claims of the caller's own are checked by the
// caller, on both nil and ErrExpired.
func (c *Codec) Parse(s string, claims jwt.Claims, reg *jwt.RegisteredClaims) error {
	if s == "" || len(s) > MaxLen {
		return fmt.Errorf("%w: empty or too long", ErrInvalid)
	}
	_, err := jwt.ParseWithClaims(s, claims, func(*jwt.Token) (any, error) { return c.key, nil },
		append(c.options(c.now), jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}))...)
	if err == nil {
		return c.check(reg)
	}
	if !errors.Is(err, jwt.ErrTokenExpired) || reg.ExpiresAt == nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	// The parser joins every failed check, and reports expiry even when
	// the audience is wrong too; only a token that passes every check at
	// a moment before its expiry is "expired" rather than invalid. (The
	// signature was verified before any claim was looked at.)
	before := reg.ExpiresAt.Add(-time.Second)
	if verr := jwt.NewValidator(c.options(func() time.Time { return before })...).Validate(claims); verr != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, verr)
	}
	if err := c.check(reg); err != nil {
		return err
	}
	return ErrExpired
}

func (c *Codec) options(now func() time.Time) []jwt.ParserOption {
	return []jwt.ParserOption{
		jwt.WithAudience(c.audience),
		jwt.WithIssuer(Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(iatLeeway),
		jwt.WithTimeFunc(now),
	}
}

// check checks what the parser does not: the audience is this one alone,
// there is a jti and an iat, and the lifetime is no longer than a token
// this gateway mints (whoever holds the key must not be able to sign a
// link good for a year).
func (c *Codec) check(r *jwt.RegisteredClaims) error {
	switch {
	case len(r.Audience) != 1:
		return fmt.Errorf("%w: audience %q", ErrInvalid, []string(r.Audience))
	case r.ID == "":
		return fmt.Errorf("%w: no jti", ErrInvalid)
	case r.IssuedAt == nil:
		return fmt.Errorf("%w: no iat", ErrInvalid)
	case r.ExpiresAt.Sub(r.IssuedAt.Time) > c.ttl:
		return fmt.Errorf("%w: lifetime longer than minted", ErrInvalid)
	}
	return nil
}
