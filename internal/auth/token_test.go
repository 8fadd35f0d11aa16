package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestVerifyTokenClaims signs tokens with the right secret but claims a
// gateway never mints: the signature is not enough, the issue time and the
// lifetime must be believable too.
func TestVerifyTokenClaims(t *testing.T) {
	now := t0
	a := newAuth(t, &now)
	at := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(t0.Add(d)) }
	tok := func(iat, exp *jwt.NumericDate) string {
		return sign(t, jwt.SigningMethodHS256, []byte(testSecret), claims{Role: RoleOfficer, RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Subject: "eve", IssuedAt: iat, ExpiresAt: exp,
		}})
	}
	tests := []struct {
		name    string
		token   string
		wantErr string // "" accepted
	}{
		{name: "fresh, one hour", token: tok(at(0), at(time.Hour))},
		{name: "old iat, still within max", token: tok(at(-23*time.Hour), at(time.Hour))},
		{name: "exactly the maximum", token: tok(at(0), at(24*time.Hour))},
		{name: "iat within clock-skew leeway", token: tok(at(29*time.Second), at(time.Hour))},
		{name: "no iat", token: tok(nil, at(time.Hour)), wantErr: "no iat"},
		{name: "iat in the future", token: tok(at(time.Minute), at(time.Hour)), wantErr: "issued in the future"},
		{name: "iat far in the future", token: tok(at(365*24*time.Hour), at(366*24*time.Hour)), wantErr: "issued in the future"},
		{name: "exp a year away", token: tok(at(0), at(365*24*time.Hour)), wantErr: "exceeds auth.token_max_ttl"},
		{name: "one second past the maximum", token: tok(at(0), at(24*time.Hour+time.Second)), wantErr: "exceeds auth.token_max_ttl"},
		{name: "old iat stretches lifetime", token: tok(at(-48*time.Hour), at(time.Hour)), wantErr: "exceeds auth.token_max_ttl"},
		{name: "iat zero (1970)", token: tok(jwt.NewNumericDate(time.Unix(0, 0)), at(time.Hour)), wantErr: "exceeds auth.token_max_ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.VerifyToken(tt.token)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("VerifyToken() = %v, want accepted", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("VerifyToken() = %v, %v; want error containing %q", got, err, tt.wantErr)
			}
		})
	}
}

// TestTokenMaxTTLConfig: the ceiling is configurable, token_ttl may not
// exceed it, and minting and checking both follow it.
func TestTokenMaxTTLConfig(t *testing.T) {
	cfg := Config{JWTSecret: testSecret, TokenMaxTTL: 2 * time.Hour, TokenTTL: 3 * time.Hour}
	cfg.SetDefaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "token_ttl") {
		t.Errorf("Validate(token_ttl > token_max_ttl) = %v, want an error naming token_ttl", err)
	}
	for _, max := range []time.Duration{-time.Hour, 721 * time.Hour} {
		c := Config{TokenMaxTTL: max}
		c.SetDefaults()
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "token_max_ttl") {
			t.Errorf("Validate(token_max_ttl %s) = %v, want an error naming token_max_ttl", max, err)
		}
	}
	cfg.TokenTTL = time.Hour
	a, err := New(cfg, func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Mint("x", RoleOfficer, 3*time.Hour); err == nil {
		t.Error("Mint(3h) with token_max_ttl 2h succeeded")
	}
	long := sign(t, jwt.SigningMethodHS256, []byte(testSecret), claims{Role: RoleOfficer, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: issuer, Subject: "x", IssuedAt: jwt.NewNumericDate(t0), ExpiresAt: jwt.NewNumericDate(t0.Add(3 * time.Hour)),
	}})
	if _, err := a.VerifyToken(long); err == nil {
		t.Error("VerifyToken(3h token) with token_max_ttl 2h succeeded")
	}
}
