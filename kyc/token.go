package kyc

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vpsgate/gateway/internal/kind"
	"github.com/vpsgate/gateway/internal/linktoken"
)

// Audience is the only audience a KYC link token carries and the only one
// accepted: a verification or officer token never passes here.
const Audience = "kyc"

// keyLabel derives the signing key of KYC tokens from auth.jwt_secret
// (linktoken.DeriveKey): a key of their own.
const keyLabel = "vpsgate kyc upload token key v1"

// Token errors: anything wrong but expiry is ErrInvalidToken.
var (
	ErrInvalidToken = kind.New(kind.ErrInvalidInput, "this KYC link is not valid")
	ErrExpiredToken = kind.New(kind.ErrInvalidInput, "this KYC link has expired")
)

// Claims are what a KYC link says: whose identity (the owner and either
// its account id, the subject, or, for an order that came without an
// account id, the keyed hash of the order's email address), which case,
// and what the order told of the customer (billing name and email, for
// the officer's name match and the resubmission mail).
type Claims struct {
	Owner string `json:"owner"`
	// EmailHash is set instead of the subject for an order without an
	// account id: the email reference the orders package names it by.
	EmailHash string `json:"email_hash,omitempty"`
	Case      string `json:"case"`
	Name      string `json:"name,omitempty"`
	Email     string `json:"email,omitempty"`
	jwt.RegisteredClaims
}

// Account is the account id (the subject; "" for an email reference).
func (c *Claims) Account() string { return c.Subject }

// Ref is the reference of the identity the link checks (see subjectRef).
func (c *Claims) Ref() string { return subjectRef(c.Owner, c.Subject, c.EmailHash) }

// Tokens mints and checks KYC link tokens.
type Tokens struct {
	codec *linktoken.Codec
}

// NewTokens builds the codec from auth.jwt_secret (the key is derived).
func NewTokens(secret []byte, ttl time.Duration, now func() time.Time) (*Tokens, error) {
	c, err := linktoken.New(secret, keyLabel, Audience, ttl, now)
	if err != nil {
		return nil, err
	}
	return &Tokens{codec: c}, nil
}

// Mint signs a fresh token for the case of owner's account, or, when
// account is "", of owner's email reference emailHash.
func (t *Tokens) Mint(owner, account, emailHash, caseID, name, email string) (string, error) {
	if err := checkSubject(owner, account, emailHash); err != nil || caseID == "" {
		return "", fmt.Errorf("kyc token: owner, case and one of account and email reference are required (%v): %w", err, ErrInvalidInput)
	}
	return t.codec.Sign(Claims{
		Owner: owner, EmailHash: emailHash, Case: caseID, Name: name, Email: email,
		RegisteredClaims: t.codec.Registered(account),
	})
}

// Parse checks a token: the claims and nil for a good one; the claims and
// ErrExpiredToken when its only fault is its age; nil and ErrInvalidToken
// otherwise (forged, other audience or algorithm, missing claims, a
// lifetime longer than this gateway mints).
func (t *Tokens) Parse(s string) (*Claims, error) {
	var c Claims
	err := t.codec.Parse(s, &c, &c.RegisteredClaims)
	if err != nil && !errors.Is(err, linktoken.ErrExpired) {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if serr := checkSubject(c.Owner, c.Subject, c.EmailHash); serr != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, serr)
	}
	if !validID(c.Case) {
		return nil, fmt.Errorf("%w: case id", ErrInvalidToken)
	}
	if err != nil {
		return &c, ErrExpiredToken
	}
	return &c, nil
}

// emailRefPrefix starts the reference of an identity known by an email
// address: the orders package's emailRef, which the audit log, events and
// the duplicate index share with it.
const emailRefPrefix = "email:"

// subjectRef names whose identity a case checks, exactly as the orders
// package names accounts (orders.refOf), so that the audit log joins a
// case to its orders: "<owner>/<account id>", or, for orders that came
// without an account id, "email:<owner>/<email hash>". The two never
// meet: no owner begins with "email:" (checkSubject), and an account id
// that does ("email:...", a storefront's choice) still ends up after
// "<owner>/". An email hash holds no "/", so "<owner>/<hash>" names one
// pair.
func subjectRef(owner, account, emailHash string) string {
	if account != "" {
		return owner + "/" + account
	}
	return emailRefPrefix + owner + "/" + emailHash
}

// checkSubject says what is wrong with a case's subject: an owner, and
// exactly one of an account id and an email hash.
func checkSubject(owner, account, emailHash string) error {
	switch {
	case owner == "" || strings.HasPrefix(owner, emailRefPrefix):
		return fmt.Errorf("owner %q", owner)
	case (account == "") == (emailHash == ""):
		return errors.New("one of account and email reference")
	case strings.ContainsAny(emailHash, "/"):
		return errors.New("email reference is not a hash")
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
