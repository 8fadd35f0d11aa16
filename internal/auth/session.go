package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/kind"
)

// Console sessions. A session is a JWT (HS256 pinned) signed with a key of
// its own derived from auth.jwt_secret, so an officer API token is never a
// session and a session never an API token; its audience is "console". It
// carries the role as configured at login and a random CSRF token that
// every state-changing form of the session must echo. It lives SessionTTL
// and is renewed (re-minted) by the console when less than half of it is
// left, so an officer at work stays signed in and an abandoned browser is
// signed out after SessionTTL.

// SessionTTL is a console session's lifetime without activity.
const SessionTTL = 30 * time.Minute

const sessionAudience = "console"

// Session is a verified console session.
type Session struct {
	Principal
	CSRF    string
	Expires time.Time
	Issued  time.Time
}

type sessionClaims struct {
	Role Role   `json:"role"`
	CSRF string `json:"csrf"`
	jwt.RegisteredClaims
}

// Sessions mints and verifies console sessions and checks console
// passwords (auth.users).
type Sessions struct {
	key   []byte
	users map[string]User // lower-cased email -> user
	now   func() time.Time
	// dummy is compared against when the email is unknown, so that the
	// time of a login does not say whether the account exists.
	dummy string
}

// NewSessions builds the console's sessions from a validated Config; nil
// when there is no jwt_secret or no user (the console is then off).
func NewSessions(cfg Config, now func() time.Time) *Sessions {
	if cfg.JWTSecret == "" || len(cfg.Users) == 0 {
		return nil
	}
	m := hmac.New(sha256.New, []byte(cfg.JWTSecret))
	m.Write([]byte("vpsgate console session v1"))
	s := &Sessions{key: m.Sum(nil), users: map[string]User{}, now: now}
	for _, u := range cfg.Users {
		s.users[strings.ToLower(u.Email)] = u
		s.dummy = u.PasswordHash // same cost as the real ones
	}
	return s
}

// Users lists the configured console users (without their hashes).
func (s *Sessions) Users() []User {
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, User{Email: u.Email, Role: u.Role})
	}
	return out
}

// ErrLimiterDown: the login failures cannot be counted (Redis); the
// login is refused rather than let through uncounted.
var ErrLimiterDown = kind.New(kind.ErrUnavailable, "login limiter unavailable")

// CheckLogin returns the principal of email and password, or
// ErrUnauthenticated (one message whether the email or the password was
// wrong).
func (s *Sessions) CheckLogin(email, password string) (Principal, error) {
	u, ok := s.users[strings.ToLower(strings.TrimSpace(email))]
	if !ok {
		CheckPassword(s.dummy, "\x00"+password)
		return Principal{}, fmt.Errorf("%w: wrong email or password", ErrUnauthenticated)
	}
	if !CheckPassword(u.PasswordHash, password) {
		return Principal{}, fmt.Errorf("%w: wrong email or password", ErrUnauthenticated)
	}
	return Principal{Name: u.Email, Role: Role(u.Role)}, nil
}

// Mint signs a session for p with a fresh CSRF token, or keeps csrf when
// renewing one.
func (s *Sessions) Mint(p Principal, csrf string) (string, Session, error) {
	if csrf == "" {
		csrf = hex.EncodeToString(randomBytes(16))
	}
	now := s.now()
	ss := Session{Principal: p, CSRF: csrf, Issued: now, Expires: now.Add(SessionTTL)}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, sessionClaims{
		Role: p.Role, CSRF: csrf,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Subject: p.Name, Audience: jwt.ClaimStrings{sessionAudience},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(ss.Expires),
		},
	})
	str, err := tok.SignedString(s.key)
	if err != nil {
		return "", Session{}, fmt.Errorf("signing session: %w", err)
	}
	return str, ss, nil
}

// Verify checks a session cookie's value: signature (HS256 only, the
// session key), issuer, audience, expiry, lifetime, and that its user is
// still configured with the same role.
func (s *Sessions) Verify(token string) (Session, error) {
	var c sessionClaims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer), jwt.WithAudience(sessionAudience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(s.now),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Session{}, fmt.Errorf("%w: session expired, sign in again", ErrUnauthenticated)
		}
		return Session{}, fmt.Errorf("%w: invalid session, sign in again", ErrUnauthenticated)
	}
	if c.IssuedAt == nil || c.ExpiresAt.Sub(c.IssuedAt.Time) > SessionTTL || len(c.CSRF) != 32 {
		return Session{}, fmt.Errorf("%w: invalid session, sign in again", ErrUnauthenticated)
	}
	u, ok := s.users[strings.ToLower(c.Subject)]
	if !ok || Role(u.Role) != c.Role {
		return Session{}, fmt.Errorf("%w: the account of this session is no longer configured", ErrUnauthenticated)
	}
	return Session{Principal: Principal{Name: u.Email, Role: c.Role}, CSRF: c.CSRF, Issued: c.IssuedAt.Time, Expires: c.ExpiresAt.Time}, nil
}

// CheckCSRF compares a form's token with the session's in constant time.
func (ss Session) CheckCSRF(token string) bool {
	return len(token) == len(ss.CSRF) && subtle.ConstantTimeCompare([]byte(token), []byte(ss.CSRF)) == 1
}

// NeedsRenewal says the session is past half its life.
func (s *Sessions) NeedsRenewal(ss Session) bool {
	return ss.Expires.Sub(s.now()) < SessionTTL/2
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}

// LoginLimiter bounds failed console logins per account and per client
// address, counted in Redis (shared by every gateway process). Past Limit
// failures in Window the account (or address) is locked until the count
// expires: its password is then not checked at all, so guessing during a
// lock-out learns nothing. A successful login clears the account's count.
// A Redis outage refuses logins (503): the console fails closed.
type LoginLimiter struct {
	rdb    redis.Cmdable
	prefix string
	limit  int
	window time.Duration
}

// NewLoginLimiter counts under keys starting with prefix.
func NewLoginLimiter(cfg Config, rdb redis.Cmdable, prefix string) *LoginLimiter {
	return &LoginLimiter{rdb: rdb, prefix: prefix, limit: cfg.LoginFailureLimit(), window: cfg.FailureWindow}
}

// LoginFailureLimit is how many wrong passwords an account or address may
// try per failure_window: a person mistypes a few times, not a dozen.
func (c Config) LoginFailureLimit() int { return min(c.FailureLimit, 5) }

var peekScript = redis.NewScript(`
local best = 0
for i, k in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', k) or '0')
  if n >= tonumber(ARGV[1]) then
    local ttl = redis.call('PTTL', k)
    if ttl > best then best = ttl end
    if ttl < 0 then best = tonumber(ARGV[2]) end
  end
end
return best
`)

func (l *LoginLimiter) keys(email, addr string) (acct, ip string) {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return l.prefix + "acct:{" + hex.EncodeToString(sum[:8]) + "}", l.prefix + "addr:{" + clientKey(addr).String() + "}"
}

// Locked reports whether the account or the address is locked, and for
// how long. addr is the peer's host:port.
func (l *LoginLimiter) Locked(ctx context.Context, email, addr string) (time.Duration, error) {
	acct, ip := l.keys(email, addr)
	var wait time.Duration
	for _, k := range []string{acct, ip} { // separate slots: one call each
		ms, err := peekScript.Run(ctx, l.rdb, []string{k}, l.limit, l.window.Milliseconds()).Int64()
		if err != nil {
			return 0, fmt.Errorf("%w: reading login failures: %v", ErrLimiterDown, err)
		}
		wait = max(wait, time.Duration(ms)*time.Millisecond)
	}
	return wait, nil
}

// Failed counts a failed login of email from addr.
func (l *LoginLimiter) Failed(ctx context.Context, email, addr string) error {
	acct, ip := l.keys(email, addr)
	for _, k := range []string{acct, ip} {
		if err := failScript.Run(ctx, l.rdb, []string{k}, l.window.Milliseconds()).Err(); err != nil {
			return fmt.Errorf("%w: counting a login failure: %v", ErrLimiterDown, err)
		}
	}
	return nil
}

// Succeeded clears the account's count.
func (l *LoginLimiter) Succeeded(ctx context.Context, email string) error {
	acct, _ := l.keys(email, "")
	if err := l.rdb.Del(ctx, acct).Err(); err != nil {
		return fmt.Errorf("%w: clearing login failures: %v", ErrLimiterDown, err)
	}
	return nil
}
