// Package auth decides who is calling the admin API: storefronts with API
// keys (stored only as SHA-256 hashes in the configuration) and compliance
// officers with short-lived JWTs signed by the gateway (HS256 only; the
// algorithm is pinned so a token cannot choose how it is checked; iat is
// required and the lifetime bounded by auth.token_max_ttl). Failed
// authentications are limited per client address by a Limiter shared
// through Redis (see Limiter for the rule, docs/SECURITY.md for the why).
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vpsgate/gateway/internal/configerr"
	"github.com/vpsgate/gateway/internal/kind"
)

// Role is what a caller may do.
type Role string

// Roles. A storefront submits and reads orders; an officer reviews; an admin
// also manages what officers cannot (removing blocklist entries, ...).
const (
	RoleStorefront Role = "storefront"
	RoleOfficer    Role = "officer"
	RoleAdmin      Role = "admin"
)

// Errors. ErrUnauthenticated maps to 401, ErrForbidden to 403.
var (
	ErrUnauthenticated = kind.New(kind.ErrUnauthenticated, "unauthenticated")
	ErrForbidden       = kind.New(kind.ErrForbidden, "forbidden")
)

// APIKey is one storefront's key, as its hash.
type APIKey struct {
	Name    string `yaml:"name"`
	KeyHash string `yaml:"key_hash"` // sha256:<hex>, from `gateway hash-key`
}

// User is a console user (officer or admin).
type User struct {
	Email        string `yaml:"email"`
	PasswordHash string `yaml:"password_hash"` // from `gateway hash-password`
	Role         string `yaml:"role"`          // officer | admin
}

// Config is the `auth` section.
type Config struct {
	APIKeys []APIKey `yaml:"api_keys"`
	Users   []User   `yaml:"users"`
	// JWTSecret signs officer tokens and console sessions; at least 32
	// characters. Empty: officer tokens are refused (and `gateway token`
	// cannot mint any).
	JWTSecret string `yaml:"jwt_secret"`
	// TokenTTL is the default lifetime of a minted officer token.
	TokenTTL time.Duration `yaml:"token_ttl"`
	// TokenMaxTTL is the longest lifetime (exp - iat) a token may claim,
	// checked when one is minted and again when one is presented: a token
	// signed with the right secret but claiming a week, or no iat, is
	// refused. Default 24h, at most 720h.
	TokenMaxTTL time.Duration `yaml:"token_max_ttl"`
	// FailureLimit is how many failed authentications (wrong API key, bad
	// token) one client address may make per FailureWindow, counted in
	// Redis across every gateway process; past it the address gets 429.
	FailureLimit int `yaml:"failure_limit"`
	// FailureWindow is the window of FailureLimit and the longest lock.
	FailureWindow time.Duration `yaml:"failure_window"`
}

// SetDefaults fills unset values.
func (c *Config) SetDefaults() {
	if c.TokenTTL == 0 {
		c.TokenTTL = time.Hour
	}
	if c.TokenMaxTTL == 0 {
		c.TokenMaxTTL = defaultTokenMaxTTL
	}
	if c.FailureLimit == 0 {
		c.FailureLimit = defaultFailureLimit
	}
	if c.FailureWindow == 0 {
		c.FailureWindow = defaultFailureWindow
	}
}

// Token lifetimes. A leaked officer token must not stay good for months: the
// default ceiling is a working day and a night, and no configuration may
// raise it past 30 days.
const (
	defaultTokenMaxTTL = 24 * time.Hour
	maxTokenMaxTTL     = 30 * 24 * time.Hour
	// iatLeeway is how far in the future a token's iat may be: the clock
	// skew between the host that minted it and this one.
	iatLeeway = 30 * time.Second
)

// Failure limit defaults: ten wrong credentials per address per quarter of
// an hour is far more than a misconfigured storefront needs to notice its
// mistake, and far less than guessing anything needs.
const (
	defaultFailureLimit  = 10
	defaultFailureWindow = 15 * time.Minute
	maxFailureWindow     = 24 * time.Hour
)

// minSecret is the shortest JWT secret accepted: HS256 wants at least 256
// bits of key.
const minSecret = 32

// Validate reports every bad value.
func (c *Config) Validate() error {
	var errs []error
	names := map[string]bool{}
	for i, k := range c.APIKeys {
		key := fmt.Sprintf("api_keys[%d]", i)
		if k.Name == "" {
			errs = append(errs, configerr.Field(key+".name", nil, "is required"))
		} else if !plainKeyName(k.Name) {
			errs = append(errs, configerr.Field(key+".name", k.Name, keyNameRule))
		} else if names[k.Name] {
			errs = append(errs, configerr.Field(key+".name", k.Name, "is used by another key"))
		}
		names[k.Name] = true
		if _, err := parseKeyHash(k.KeyHash); err != nil {
			errs = append(errs, configerr.Field(key+".key_hash", k.KeyHash, err.Error()))
		}
	}
	emails := map[string]bool{}
	for i, u := range c.Users {
		key := fmt.Sprintf("users[%d]", i)
		if !strings.Contains(u.Email, "@") {
			errs = append(errs, configerr.Field(key+".email", u.Email, "must be an email address"))
		} else if emails[strings.ToLower(u.Email)] {
			errs = append(errs, configerr.Field(key+".email", u.Email, "is used by another user"))
		}
		emails[strings.ToLower(u.Email)] = true
		if err := checkPasswordHash(u.PasswordHash); err != nil {
			errs = append(errs, configerr.Field(key+".password_hash", nil, err.Error()))
		}
		if r := Role(u.Role); r != RoleOfficer && r != RoleAdmin {
			errs = append(errs, configerr.Field(key+".role", u.Role, "must be officer or admin"))
		}
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < minSecret {
		errs = append(errs, configerr.Field("jwt_secret", nil, fmt.Sprintf("must be at least %d characters", minSecret)))
	}
	if c.TokenMaxTTL <= 0 || c.TokenMaxTTL > maxTokenMaxTTL {
		errs = append(errs, configerr.Field("token_max_ttl", c.TokenMaxTTL, "must be positive and at most 720h"))
	}
	if c.TokenTTL < 0 || c.TokenTTL > c.TokenMaxTTL {
		errs = append(errs, configerr.Field("token_ttl", c.TokenTTL, fmt.Sprintf("must be between 0 and token_max_ttl (%s)", c.TokenMaxTTL)))
	}
	if c.FailureLimit < 1 {
		errs = append(errs, configerr.Field("failure_limit", c.FailureLimit, "must be at least 1"))
	}
	if c.FailureWindow < time.Second || c.FailureWindow > maxFailureWindow {
		errs = append(errs, configerr.Field("failure_window", c.FailureWindow, "must be between 1s and 24h"))
	}
	return errors.Join(errs...)
}

// keyNameRule is what an API key's name may be. The name becomes the
// owner "key:<name>" of the key's orders, and an account reference is
// "<owner>/<account id>": a "/" in a name would let key "a" with account
// "b/c" and key "a/b" with account "c" name one account (one standing, one
// KYC identity). Plain characters also keep the name safe in logs, URLs
// and the console.
const keyNameRule = "must be 1 to 64 letters, digits, '.', '_' or '-' (no '/': the name is part of account references)"

// plainKeyName says whether name follows keyNameRule.
func plainKeyName(name string) bool {
	if len(name) > 64 {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return name != ""
}

// HashKey returns the configuration form of an API key: sha256:<hex>. A
// plain hash is enough because keys are long random strings, not passwords.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func parseKeyHash(s string) ([]byte, error) {
	hexPart, ok := strings.CutPrefix(s, "sha256:")
	if !ok {
		return nil, errors.New("must be sha256:<64 hex digits> (see `gateway hash-key`)")
	}
	b, err := hex.DecodeString(hexPart)
	if err != nil || len(b) != sha256.Size {
		return nil, errors.New("must be sha256:<64 hex digits> (see `gateway hash-key`)")
	}
	return b, nil
}

// Principal is an authenticated caller.
type Principal struct {
	Name string // API key name or officer subject
	Role Role
}

// Can reports whether the principal holds role or a stronger one.
func (p Principal) Can(role Role) bool {
	switch role {
	case RoleStorefront:
		return p.Role == RoleStorefront
	case RoleOfficer:
		return p.Role == RoleOfficer || p.Role == RoleAdmin
	case RoleAdmin:
		return p.Role == RoleAdmin
	}
	return false
}

type apiKey struct {
	name string
	hash []byte
}

// Authenticator checks API keys and officer tokens.
type Authenticator struct {
	keys    []apiKey
	secret  []byte
	ttl     time.Duration
	maxTTL  time.Duration
	now     func() time.Time
	limiter *Limiter // nil: failures are not limited (the token command)
}

// New builds an Authenticator from a validated Config.
func New(cfg Config, now func() time.Time) (*Authenticator, error) {
	a := &Authenticator{secret: []byte(cfg.JWTSecret), ttl: cfg.TokenTTL, maxTTL: cfg.TokenMaxTTL, now: now}
	if a.maxTTL == 0 {
		a.maxTTL = defaultTokenMaxTTL
	}
	for _, k := range cfg.APIKeys {
		h, err := parseKeyHash(k.KeyHash)
		if err != nil {
			return nil, fmt.Errorf("api key %s: %w", k.Name, err)
		}
		a.keys = append(a.keys, apiKey{name: k.Name, hash: h})
	}
	return a, nil
}

// APIKey returns the name of the storefront whose key this is. Every
// configured key is compared, in constant time, so timing says nothing about
// which key came close.
func (a *Authenticator) APIKey(key string) (string, bool) {
	return a.apiKey(sha256.Sum256([]byte(key)))
}

func (a *Authenticator) apiKey(sum [sha256.Size]byte) (string, bool) {
	name, found := "", 0
	for _, k := range a.keys {
		if subtle.ConstantTimeCompare(sum[:], k.hash) == 1 {
			name, found = k.name, 1
		}
	}
	return name, found == 1
}

// claims are the officer token's claims.
type claims struct {
	Role Role `json:"role"`
	jwt.RegisteredClaims
}

const issuer = "vpsgate"

// Mint signs a token for an officer or admin. ttl 0 uses the configured
// default.
func (a *Authenticator) Mint(sub string, role Role, ttl time.Duration) (string, error) {
	if len(a.secret) == 0 {
		return "", errors.New("auth.jwt_secret is not set: a token minted now could not be verified by any gateway")
	}
	if sub == "" {
		return "", errors.New("subject is empty")
	}
	if role != RoleOfficer && role != RoleAdmin {
		return "", fmt.Errorf("role %q: must be officer or admin", role)
	}
	if ttl == 0 {
		ttl = a.ttl
	}
	if ttl <= 0 || ttl > a.maxTTL {
		return "", fmt.Errorf("ttl %s: must be positive and at most %s (auth.token_max_ttl)", ttl, a.maxTTL)
	}
	now := a.now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{
		Role: role,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   sub,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	})
	s, err := tok.SignedString(a.secret)
	if err != nil {
		return "", fmt.Errorf("signing token: %w", err)
	}
	return s, nil
}

// VerifyToken checks signature, algorithm, issuer, expiry, issue time,
// lifetime and role. The lifetime is checked on the token itself, not only
// when minting: whoever holds the secret (another tool, an old gateway, a
// leak) must not be able to sign a token good for a year.
func (a *Authenticator) VerifyToken(token string) (Principal, error) {
	if len(a.secret) == 0 {
		return Principal{}, fmt.Errorf("%w: officer tokens are disabled (auth.jwt_secret is not set)", ErrUnauthenticated)
	}
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(a.now),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Principal{}, fmt.Errorf("%w: token expired", ErrUnauthenticated)
		}
		return Principal{}, fmt.Errorf("%w: invalid token", ErrUnauthenticated)
	}
	if c.IssuedAt == nil {
		return Principal{}, fmt.Errorf("%w: token has no iat", ErrUnauthenticated)
	}
	iat := c.IssuedAt.Time
	if iat.After(a.now().Add(iatLeeway)) {
		return Principal{}, fmt.Errorf("%w: token issued in the future", ErrUnauthenticated)
	}
	if life := c.ExpiresAt.Sub(iat); life > a.maxTTL {
		return Principal{}, fmt.Errorf("%w: token lifetime %s exceeds auth.token_max_ttl (%s)", ErrUnauthenticated, life, a.maxTTL)
	}
	if c.Role != RoleOfficer && c.Role != RoleAdmin {
		return Principal{}, fmt.Errorf("%w: token has no valid role", ErrUnauthenticated)
	}
	if c.Subject == "" {
		return Principal{}, fmt.Errorf("%w: token has no subject", ErrUnauthenticated)
	}
	return Principal{Name: c.Subject, Role: c.Role}, nil
}

// WithLimiter returns a copy of a that limits failed authentications with l
// (see Limiter for the rule).
func (a *Authenticator) WithLimiter(l *Limiter) *Authenticator {
	c := *a
	c.limiter = l
	return &c
}

// Authenticate reads "Authorization: Bearer ..." and accepts either an API
// key or an officer token (a JWT has two dots; an API key never needs them).
// With a Limiter, failures are counted against the peer address
// (r.RemoteAddr: the admin side sits behind no proxy) and a locked address
// gets a *RateLimitedError without its credential being checked. A request
// without a credential tried nothing and is not counted.
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(cred) == "" {
		return Principal{}, fmt.Errorf("%w: send Authorization: Bearer <api key or token>", ErrUnauthenticated)
	}
	cred = strings.TrimSpace(cred)
	sum := sha256.Sum256([]byte(cred))
	if a.limiter == nil {
		return a.verify(cred, sum)
	}
	addr := clientKey(r.RemoteAddr)
	if wait, locked := a.limiter.blocked(addr, sum); locked {
		return Principal{}, &RateLimitedError{RetryAfter: wait}
	}
	p, err := a.verify(cred, sum)
	if err == nil {
		a.limiter.succeeded(addr, sum)
		return p, nil
	}
	if wait, locked := a.limiter.failed(r.Context(), addr); locked {
		return Principal{}, &RateLimitedError{RetryAfter: wait}
	}
	return Principal{}, err
}

// verify checks one credential, whose SHA-256 is sum: an officer token or
// an API key.
func (a *Authenticator) verify(cred string, sum [sha256.Size]byte) (Principal, error) {
	if strings.Count(cred, ".") == 2 {
		return a.VerifyToken(cred)
	}
	if name, ok := a.apiKey(sum); ok {
		return Principal{Name: name, Role: RoleStorefront}, nil
	}
	return Principal{}, fmt.Errorf("%w: unknown API key", ErrUnauthenticated)
}
