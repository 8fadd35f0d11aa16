package emailverify

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/internal/fakeclock"
	"github.com/vpsgate/gateway/internal/linktoken"
)

func newTestTokens(t testing.TB, c *fakeclock.Clock) *Tokens {
	t.Helper()
	tk, err := NewTokens(testSecret, 24*time.Hour, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// sign signs claims with key and method, as a forger or another tool with
// some key would.
func sign(t testing.TB, m jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// goodClaims are the claims Mint would write at now.
func goodClaims(now time.Time) Claims {
	return Claims{
		Owner: "key:shop", Email: "ann@example.com",
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: linktoken.Issuer, Subject: "42", Audience: jwt.ClaimStrings{Audience},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(24 * time.Hour)), ID: "jti-1",
		},
	}
}

func TestParse(t *testing.T) {
	c := newClock()
	tk := newTestTokens(t, c)
	now := c.Now()
	with := func(f func(*Claims)) Claims {
		cl := goodClaims(now)
		f(&cl)
		return cl
	}
	hs := jwt.SigningMethodHS256
	// An officer token, minted by the gateway's own authenticator with the
	// same jwt_secret.
	a, err := auth.New(auth.Config{JWTSecret: string(testSecret), TokenTTL: time.Hour, TokenMaxTTL: 24 * time.Hour}, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	officer, err := a.Mint("olga", auth.RoleAdmin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	valid := sign(t, hs, signingKey, goodClaims(now))
	tests := []struct {
		name    string
		token   string
		wantErr error
		want    *Claims
	}{
		{name: "valid", token: valid, want: new(goodClaims(now))},
		{name: "expired", token: sign(t, hs, signingKey, with(func(cl *Claims) {
			cl.IssuedAt = jwt.NewNumericDate(now.Add(-25 * time.Hour))
			cl.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour))
		})), wantErr: ErrExpiredToken, want: new(with(func(cl *Claims) {
			cl.IssuedAt = jwt.NewNumericDate(now.Add(-25 * time.Hour))
			cl.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour))
		}))},
		{name: "forged: the officer secret itself as key", token: sign(t, hs, testSecret, goodClaims(now)), wantErr: ErrInvalidToken},
		{name: "forged: another key", token: sign(t, hs, []byte(strings.Repeat("x", 40)), goodClaims(now)), wantErr: ErrInvalidToken},
		{name: "forged and expired: not offered a resend", token: sign(t, hs, []byte(strings.Repeat("x", 40)), with(func(cl *Claims) {
			cl.IssuedAt = jwt.NewNumericDate(now.Add(-25 * time.Hour))
			cl.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour))
		})), wantErr: ErrInvalidToken},
		{name: "officer token", token: officer, wantErr: ErrInvalidToken},
		{name: "wrong audience", token: sign(t, hs, signingKey, with(func(cl *Claims) { cl.Audience = jwt.ClaimStrings{"kyc-upload"} })), wantErr: ErrInvalidToken},
		{name: "no audience", token: sign(t, hs, signingKey, with(func(cl *Claims) { cl.Audience = nil })), wantErr: ErrInvalidToken},
		{name: "two audiences", token: sign(t, hs, signingKey, with(func(cl *Claims) { cl.Audience = jwt.ClaimStrings{Audience, "console"} })), wantErr: ErrInvalidToken},
		{name: "wrong audience and expired: invalid, not expired", token: sign(t, hs, signingKey, with(func(cl *Claims) {
			cl.Audience = jwt.ClaimStrings{"kyc-upload"}
			cl.IssuedAt = jwt.NewNumericDate(now.Add(-25 * time.Hour))
			cl.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour))
		})), wantErr: ErrInvalidToken},
		{name: "wrong issuer", token: sign(t, hs, signingKey, with(func(cl *Claims) { cl.Issuer = "someone" })), wantErr: ErrInvalidToken},
		{name: "no exp", token: sign(t, hs, signingKey, with(func(cl *Claims) { cl.ExpiresAt = nil })), wantErr: ErrInvalidToken},
		{name: "no iat", token: sign(t, hs, signingKey, with(func(cl *Claims) { cl.IssuedAt = nil })), wantErr: ErrInvalidToken},
		{name: "iat in the future", token: sign(t, hs, signingKey, with(func(cl *Claims) { cl.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) })), wantErr: ErrInvalidToken},
		{name: "lifetime over token_ttl", token: sign(t, hs, signingKey, with(func(cl *Claims) { cl.ExpiresAt = jwt.NewNumericDate(now.Add(365 * 24 * time.Hour)) })), wantErr: ErrInvalidToken},
		{name: "no email", token: sign(t, hs, signingKey, with(func(cl *Claims) { cl.Email = "" })), wantErr: ErrInvalidToken},
		{name: "no owner", token: sign(t, hs, signingKey, with(func(cl *Claims) { cl.Owner = "" })), wantErr: ErrInvalidToken},
		// An order without an account id: the address stands for the
		// account (orders' emailRef).
		{name: "no sub: an order without an account id", token: sign(t, hs, signingKey, with(func(cl *Claims) { cl.Subject = "" })),
			want: new(with(func(cl *Claims) { cl.Subject = "" }))},
		{name: "no jti", token: sign(t, hs, signingKey, with(func(cl *Claims) { cl.ID = "" })), wantErr: ErrInvalidToken},
		{name: "HS384 with the right key", token: sign(t, jwt.SigningMethodHS384, signingKey, goodClaims(now)), wantErr: ErrInvalidToken},
		{name: "RS256", token: sign(t, jwt.SigningMethodRS256, rsaKey, goodClaims(now)), wantErr: ErrInvalidToken},
		{name: "alg none", token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, goodClaims(now)), wantErr: ErrInvalidToken},
		{name: "signature stripped", token: valid[:strings.LastIndex(valid, ".")+1], wantErr: ErrInvalidToken},
		{name: "empty", token: "", wantErr: ErrInvalidToken},
		{name: "garbage", token: "not.a.token", wantErr: ErrInvalidToken},
		{name: "too long", token: valid + strings.Repeat("A", linktoken.MaxLen), wantErr: ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tk.Parse(tt.token)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Parse() error = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse() claims (-want +got):\n%s", diff)
			}
		})
	}
}

// TestVerificationTokenIsNoOfficerToken checks the other direction: a
// verification link is not a credential for the admin API.
func TestVerificationTokenIsNoOfficerToken(t *testing.T) {
	c := newClock()
	tk := newTestTokens(t, c)
	tok, err := tk.Mint("key:shop", "42", "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{JWTSecret: string(testSecret), TokenTTL: time.Hour, TokenMaxTTL: 24 * time.Hour}, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := a.VerifyToken(tok); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("VerifyToken(verification token) = %v, %v; want ErrUnauthenticated", p, err)
	}
}

func TestMintParseRoundTrip(t *testing.T) {
	c := newClock()
	tk := newTestTokens(t, c)
	tok, err := tk.Mint("key:shop", "42", "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tk.Parse(tok)
	if err != nil {
		t.Fatalf("Parse(Mint()) error = %v", err)
	}
	if got.Owner != "key:shop" || got.Account() != "42" || got.Email != "ann@example.com" || got.ID == "" {
		t.Errorf("Parse(Mint()) = %+v", got)
	}
	c.Advance(24*time.Hour + time.Minute)
	if _, err := tk.Parse(tok); !errors.Is(err, ErrExpiredToken) {
		t.Errorf("Parse() a day later: error = %v, want ErrExpiredToken", err)
	}
}

// FuzzParse: whatever the input, Parse does not panic, and accepts (as
// good or expired) nothing but the claims of a token signed with the
// derived key: a fuzzer cannot forge HMAC, so any accepted input must
// carry exactly the claims of one of the seeds it started from.
func FuzzParse(f *testing.F) {
	c := newClock()
	tk := newTestTokens(f, c)
	now := c.Now()
	expired := goodClaims(now)
	expired.IssuedAt = jwt.NewNumericDate(now.Add(-30 * time.Hour))
	expired.ExpiresAt = jwt.NewNumericDate(now.Add(-6 * time.Hour))
	expired.ID = "jti-2"
	signed := map[string]Claims{}
	for _, cl := range []Claims{goodClaims(now), expired} {
		signed[cl.ID] = cl
		f.Add(sign(f, jwt.SigningMethodHS256, signingKey, cl))
	}
	f.Add(sign(f, jwt.SigningMethodHS256, testSecret, goodClaims(now)))
	f.Add(sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, goodClaims(now)))
	f.Add("")
	f.Add("...")
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.")
	f.Add("\x00\xff.\x00.\x00")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := tk.Parse(s)
		if errors.Is(err, ErrInvalidToken) {
			if got != nil {
				t.Fatalf("Parse(%q) returned claims with ErrInvalidToken", s)
			}
			return
		}
		if err != nil && !errors.Is(err, ErrExpiredToken) {
			t.Fatalf("Parse(%q) error = %v, want nil, ErrExpiredToken or ErrInvalidToken", s, err)
		}
		want, ok := signed[got.ID]
		if !ok {
			t.Fatalf("Parse(%q) accepted claims no seed was signed with: %+v", s, got)
		}
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Fatalf("Parse(%q) accepted altered claims (-signed +got):\n%s", s, diff)
		}
		if (err == nil) != (got.ID == "jti-1") {
			t.Fatalf("Parse(%q) = %v for claims %s", s, err, got.ID)
		}
	})
}
