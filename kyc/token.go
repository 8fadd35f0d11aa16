package kyc

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vpsgate/gateway/internal/kind"
)

// Audience is the only audience a KYC link token carries and the only one
// accepted: a verification or officer token never passes here.
const Audience = "kyc"

const issuer = "vpsgate"

// keyLabel derives the signing key of KYC tokens from auth.jwt_secret:
// HMAC-SHA256(secret, label), a key of their own.
const keyLabel = "vpsgate kyc upload token key v1"

const iatLeeway = 30 * time.Second

// Token errors: anything wrong but expiry is ErrInvalidToken.
var (
	ErrInvalidToken = kind.New(kind.ErrInvalidInput, "this KYC link is not valid")
	ErrExpiredToken = kind.New(kind.ErrInvalidInput, "this KYC link has expired")
)

// Claims are what a KYC link says: whose account (owner and account id,
// the subject), which case, and what the order told of the customer
// (billing name and email, for the officer's name match and the
// resubmission mail).
type Claims struct {
	Owner string `json:"owner"`
	Case  string `json:"case"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	jwt.RegisteredClaims
}

// Account is the account id (the subject).
func (c *Claims) Account() string { return c.Subject }

// Tokens mints and checks KYC link tokens.
type Tokens struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// NewTokens builds the codec from auth.jwt_secret (the key is derived).
func NewTokens(secret []byte, ttl time.Duration, now func() time.Time) (*Tokens, error) {
	if len(secret) == 0 {
		return nil, errors.New("kyc tokens: auth.jwt_secret is not set")
	}
	if ttl <= 0 || now == nil {
		return nil, fmt.Errorf("kyc tokens: ttl %s must be positive and a clock given", ttl)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(keyLabel))
	return &Tokens{key: m.Sum(nil), ttl: ttl, now: now}, nil
}

// Mint signs a fresh token for the case of owner's account.
func (t *Tokens) Mint(owner, account, caseID, name, email string) (string, error) {
	if owner == "" || account == "" || caseID == "" {
		return "", fmt.Errorf("kyc token: owner, account and case are required: %w", ErrInvalidInput)
	}
	now := t.now()
	c := Claims{
		Owner: owner, Case: caseID, Name: name, Email: email,
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
		return "", fmt.Errorf("signing kyc token: %w", err)
	}
	return s, nil
}

const maxTokenLen = 4096

// Parse checks a token: the claims and nil for a good one; the claims and
// ErrExpiredToken when its only fault is its age; nil and ErrInvalidToken
// otherwise (forged, other audience or algorithm, missing claims, a
// lifetime longer than this gateway mints).
func (t *Tokens) Parse(s string) (*Claims, error) {
	if s == "" || len(s) > maxTokenLen {
		return nil, fmt.Errorf("%w: empty or too long", ErrInvalidToken)
	}
	var c Claims
	_, err := jwt.ParseWithClaims(s, &c, func(*jwt.Token) (any, error) { return t.key, nil }, t.options(t.now, true)...)
	if err == nil {
		if err := t.check(&c); err != nil {
			return nil, err
		}
		return &c, nil
	}
	if !errors.Is(err, jwt.ErrTokenExpired) || c.ExpiresAt == nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	// Expired: only a token good in every other way, checked at a moment
	// before its expiry, is "expired" rather than invalid.
	before := c.ExpiresAt.Add(-time.Second)
	if verr := jwt.NewValidator(t.options(func() time.Time { return before }, false)...).Validate(&c); verr != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, verr)
	}
	if err := t.check(&c); err != nil {
		return nil, err
	}
	return &c, ErrExpiredToken
}

func (t *Tokens) options(now func() time.Time, parser bool) []jwt.ParserOption {
	opts := []jwt.ParserOption{
		jwt.WithAudience(Audience), jwt.WithIssuer(issuer), jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(), jwt.WithLeeway(iatLeeway), jwt.WithTimeFunc(now),
	}
	if parser {
		opts = append(opts, jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}))
	}
	return opts
}

func (t *Tokens) check(c *Claims) error {
	switch {
	case len(c.Audience) != 1:
		return fmt.Errorf("%w: audience %q", ErrInvalidToken, []string(c.Audience))
	case c.Owner == "" || c.Subject == "" || c.Case == "" || c.ID == "":
		return fmt.Errorf("%w: missing owner, sub, case or jti", ErrInvalidToken)
	case !validID(c.Case):
		return fmt.Errorf("%w: case id", ErrInvalidToken)
	case c.IssuedAt == nil:
		return fmt.Errorf("%w: no iat", ErrInvalidToken)
	case c.ExpiresAt.Sub(c.IssuedAt.Time) > t.ttl:
		return fmt.Errorf("%w: lifetime longer than kyc.link_ttl", ErrInvalidToken)
	}
	return nil
}

// newID is a random case or document id: 26 base32 characters.
func newID() string { return rand.Text() }

// validID reports whether s looks like newID's output, so that it can
// stand in a key.
func validID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '2' && r <= '7') {
			return false
		}
	}
	return true
}
