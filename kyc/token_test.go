package kyc

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vpsgate/gateway/internal/linktoken"
)

func testTokens(t testing.TB, now *time.Time) *Tokens {
	t.Helper()
	tk, err := NewTokens([]byte(testSecret), time.Hour, func() time.Time { return *now })
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestTokens(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	tk := testTokens(t, &now)
	caseID := newID()
	good, err := tk.Mint("key:shop", "42", "", caseID, "Ann Lee", "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	c, err := tk.Parse(good)
	if err != nil || c.Owner != "key:shop" || c.Account() != "42" || c.Case != caseID || c.Name != "Ann Lee" {
		t.Fatalf("Parse(good) = %+v, %v", c, err)
	}
	byEmail, err := tk.Mint("key:shop", "", "H4SH", caseID, "Ann Lee", "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := tk.Parse(byEmail); err != nil || c.Account() != "" || c.EmailHash != "H4SH" || c.Ref() != "email:key:shop/H4SH" {
		t.Fatalf("Parse(email reference) = %+v, %v", c, err)
	}
	if c.Ref() != "key:shop/42" {
		t.Errorf("Ref() = %q", c.Ref())
	}
	sign := func(key any, m jwt.SigningMethod, claims jwt.Claims) string {
		s, err := jwt.NewWithClaims(m, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	claims := func(mod func(*Claims)) *Claims {
		c := &Claims{Owner: "key:shop", Case: caseID, RegisteredClaims: jwt.RegisteredClaims{
			Issuer: linktoken.Issuer, Subject: "42", Audience: jwt.ClaimStrings{Audience}, ID: "j",
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		}}
		if mod != nil {
			mod(c)
		}
		return c
	}
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"other key (officer secret)", sign([]byte(testSecret), jwt.SigningMethodHS256, claims(nil)), ErrInvalidToken},
		{"email verification audience", sign(signingKey, jwt.SigningMethodHS256, claims(func(c *Claims) { c.Audience = jwt.ClaimStrings{"verify-email"} })), ErrInvalidToken},
		{"two audiences", sign(signingKey, jwt.SigningMethodHS256, claims(func(c *Claims) { c.Audience = jwt.ClaimStrings{Audience, "x"} })), ErrInvalidToken},
		{"HS512", sign(signingKey, jwt.SigningMethodHS512, claims(nil)), ErrInvalidToken},
		{"alg none", sign(jwt.UnsafeAllowNoneSignatureType, jwt.SigningMethodNone, claims(nil)), ErrInvalidToken},
		{"no case", sign(signingKey, jwt.SigningMethodHS256, claims(func(c *Claims) { c.Case = "" })), ErrInvalidToken},
		{"case not an id", sign(signingKey, jwt.SigningMethodHS256, claims(func(c *Claims) { c.Case = "../../x" })), ErrInvalidToken},
		{"no jti", sign(signingKey, jwt.SigningMethodHS256, claims(func(c *Claims) { c.ID = "" })), ErrInvalidToken},
		{"lifetime too long", sign(signingKey, jwt.SigningMethodHS256, claims(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(48 * time.Hour)) })), ErrInvalidToken},
		{"expired and wrong audience", sign(signingKey, jwt.SigningMethodHS256, claims(func(c *Claims) {
			c.Audience = jwt.ClaimStrings{"x"}
			c.IssuedAt = jwt.NewNumericDate(now.Add(-2 * time.Hour))
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour))
		})), ErrInvalidToken},
		{"expired", sign(signingKey, jwt.SigningMethodHS256, claims(func(c *Claims) {
			c.IssuedAt = jwt.NewNumericDate(now.Add(-2 * time.Hour))
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour))
		})), ErrExpiredToken},
		{"no subject and no email reference", sign(signingKey, jwt.SigningMethodHS256, claims(func(c *Claims) { c.Subject = "" })), ErrInvalidToken},
		{"subject and email reference", sign(signingKey, jwt.SigningMethodHS256, claims(func(c *Claims) { c.EmailHash = "H" })), ErrInvalidToken},
		{"email reference with a slash", sign(signingKey, jwt.SigningMethodHS256, claims(func(c *Claims) { c.Subject, c.EmailHash = "", "a/b" })), ErrInvalidToken},
		{"owner spelled like an email reference", sign(signingKey, jwt.SigningMethodHS256, claims(func(c *Claims) { c.Owner = "email:key:shop" })), ErrInvalidToken},
		{"no owner", sign(signingKey, jwt.SigningMethodHS256, claims(func(c *Claims) { c.Owner = "" })), ErrInvalidToken},
		{"tampered", good[:len(good)-2] + "xx", ErrInvalidToken},
		{"garbage", "not.a.token", ErrInvalidToken},
		{"too long", strings.Repeat("a", 5000), ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tk.Parse(tt.token)
			if !errors.Is(err, tt.want) {
				t.Errorf("Parse = %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzTokenParse(f *testing.F) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	tk := testTokens(f, &now)
	good, _ := tk.Mint("key:shop", "42", "", newID(), "Ann", "a@example.com")
	for _, s := range []string{good, "", "a.b.c", good + "=", strings.ToUpper(good), "eyJhbGciOiJub25lIn0.e30."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := tk.Parse(s)
		if err == nil && s != good {
			t.Fatalf("Parse accepted a token this test did not mint: %q -> %+v", s, c)
		}
		if err != nil && !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrExpiredToken) {
			t.Fatalf("Parse(%q) = %v: not a token error", s, err)
		}
	})
}
