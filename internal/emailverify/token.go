package emailverify

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vpsgate/gateway/internal/linktoken"
)

// Audience is the only audience a verification token carries and the only
// one accepted. Officer tokens carry none, so they fail here; these carry
// one, and are signed with another key, so they fail there.
const Audience = "verify-email"

// keyLabel derives the signing key of verification tokens from
// auth.jwt_secret (linktoken.DeriveKey): a key of their own.
const keyLabel = "vpsgate email verification token key v1"

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
	codec *linktoken.Codec
}

// NewTokens builds the token codec: secret is auth.jwt_secret (the key used
// is derived from it), ttl the lifetime of a new token.
func NewTokens(secret []byte, ttl time.Duration, now func() time.Time) (*Tokens, error) {
	c, err := linktoken.New(secret, keyLabel, Audience, ttl, now)
	if err != nil {
		return nil, err
	}
	return &Tokens{codec: c}, nil
}

// Mint signs a fresh token for owner's account and email, with a random jti.
func (t *Tokens) Mint(owner, account, email string) (string, error) {
	return t.codec.Sign(Claims{Owner: owner, Email: email, RegisteredClaims: t.codec.Registered(account)})
}

// Parse checks a token. It returns the claims and nil for a good token; the
// claims and ErrExpiredToken for a token whose only fault is that it has
// expired (its signature, audience and every other claim are good, so its
// email may be sent a new link); nil and ErrInvalidToken otherwise.
func (t *Tokens) Parse(s string) (*Claims, error) {
	var c Claims
	err := t.codec.Parse(s, &c, &c.RegisteredClaims)
	if err != nil && !errors.Is(err, linktoken.ErrExpired) {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	// No sub is a link of an order that came without an account id: it
	// verifies the owner's orders of that address only.
	if c.Owner == "" || c.Email == "" {
		return nil, fmt.Errorf("%w: missing owner or email", ErrInvalidToken)
	}
	if err != nil {
		return &c, ErrExpiredToken
	}
	return &c, nil
}
