package linktoken

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testLabel    = "linktoken test key v1"
	testAudience = "test-link"
)

var testSecret = []byte(strings.Repeat("s", 40))

type testClaims struct {
	Email string `json:"email"`
	jwt.RegisteredClaims
}

func TestCodec(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	c, err := New(testSecret, testLabel, testAudience, time.Hour, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	good, err := c.Sign(testClaims{Email: "ann@example.com", RegisteredClaims: c.Registered("42")})
	if err != nil {
		t.Fatal(err)
	}
	var got testClaims
	if err := c.Parse(good, &got, &got.RegisteredClaims); err != nil || got.Email != "ann@example.com" || got.Subject != "42" || got.ID == "" {
		t.Fatalf("Parse(minted) = %+v, %v", got, err)
	}

	key := DeriveKey(testSecret, testLabel)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(m jwt.SigningMethod, k any, mod func(*testClaims)) string {
		cl := testClaims{Email: "ann@example.com", RegisteredClaims: jwt.RegisteredClaims{
			Issuer: Issuer, Subject: "42", Audience: jwt.ClaimStrings{testAudience}, ID: "j",
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		}}
		if mod != nil {
			mod(&cl)
		}
		s, err := jwt.NewWithClaims(m, cl).SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hs := jwt.SigningMethodHS256
	expired := func(cl *testClaims) {
		cl.IssuedAt = jwt.NewNumericDate(now.Add(-2 * time.Hour))
		cl.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour))
	}
	tests := []struct {
		name  string
		token string
		want  error // nil, ErrExpired or ErrInvalid
	}{
		{"signed here", sign(hs, key, nil), nil},
		{"expired, good otherwise", sign(hs, key, expired), ErrExpired},
		{"expired and another audience: invalid", sign(hs, key, func(cl *testClaims) { expired(cl); cl.Audience = jwt.ClaimStrings{"kyc"} }), ErrInvalid},
		{"expired and no jti: invalid", sign(hs, key, func(cl *testClaims) { expired(cl); cl.ID = "" }), ErrInvalid},
		{"the secret itself as key", sign(hs, testSecret, nil), ErrInvalid},
		{"another label's key", sign(hs, DeriveKey(testSecret, "other v1"), nil), ErrInvalid},
		{"HS384 with the right key", sign(jwt.SigningMethodHS384, key, nil), ErrInvalid},
		{"RS256", sign(jwt.SigningMethodRS256, rsaKey, nil), ErrInvalid},
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil), ErrInvalid},
		{"another audience", sign(hs, key, func(cl *testClaims) { cl.Audience = jwt.ClaimStrings{"console"} }), ErrInvalid},
		{"two audiences", sign(hs, key, func(cl *testClaims) { cl.Audience = jwt.ClaimStrings{testAudience, "console"} }), ErrInvalid},
		{"another issuer", sign(hs, key, func(cl *testClaims) { cl.Issuer = "someone" }), ErrInvalid},
		{"no exp", sign(hs, key, func(cl *testClaims) { cl.ExpiresAt = nil }), ErrInvalid},
		{"no iat", sign(hs, key, func(cl *testClaims) { cl.IssuedAt = nil }), ErrInvalid},
		{"iat in the future", sign(hs, key, func(cl *testClaims) { cl.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) }), ErrInvalid},
		{"no jti", sign(hs, key, func(cl *testClaims) { cl.ID = "" }), ErrInvalid},
		{"lifetime longer than minted", sign(hs, key, func(cl *testClaims) { cl.ExpiresAt = jwt.NewNumericDate(now.Add(365 * 24 * time.Hour)) }), ErrInvalid},
		{"empty", "", ErrInvalid},
		{"too long", good + strings.Repeat("A", MaxLen), ErrInvalid},
		{"garbage", "a.b.c", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cl testClaims
			err := c.Parse(tt.token, &cl, &cl.RegisteredClaims)
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("Parse = %v, want %v", err, tt.want)
			}
			if errors.Is(err, ErrExpired) && cl.Email != "ann@example.com" {
				t.Errorf("an expired token's claims are not filled: %+v", cl)
			}
		})
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	now := time.Now
	for name, f := range map[string]func() (*Codec, error){
		"no secret":   func() (*Codec, error) { return New(nil, testLabel, testAudience, time.Hour, now) },
		"no lifetime": func() (*Codec, error) { return New(testSecret, testLabel, testAudience, 0, now) },
		"no clock":    func() (*Codec, error) { return New(testSecret, testLabel, testAudience, time.Hour, nil) },
		"no audience": func() (*Codec, error) { return New(testSecret, testLabel, "", time.Hour, now) },
	} {
		if _, err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParse(f *testing.F) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	c, err := New(testSecret, testLabel, testAudience, time.Hour, func() time.Time { return now })
	if err != nil {
		f.Fatal(err)
	}
	good, _ := c.Sign(testClaims{Email: "a@b", RegisteredClaims: c.Registered("1")})
	f.Add(good)
	f.Add("e30.e30.")
	f.Fuzz(func(t *testing.T, s string) {
		var cl testClaims
		err := c.Parse(s, &cl, &cl.RegisteredClaims)
		// Only a token this codec signed passes, so what passes says
		// what good says.
		if err == nil && (cl.Email != "a@b" || cl.Subject != "1") {
			t.Fatalf("accepted %q: %+v", s, cl)
		}
	})
}
