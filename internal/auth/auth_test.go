package auth

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testSecret = "0123456789abcdef0123456789abcdef"

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func newAuth(t testing.TB, now *time.Time) *Authenticator {
	t.Helper()
	cfg := Config{
		APIKeys:   []APIKey{{Name: "shop", KeyHash: HashKey("sk_live_abc")}, {Name: "other", KeyHash: HashKey("sk_live_xyz")}},
		JWTSecret: testSecret,
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, func() time.Time { return *now })
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func sign(t *testing.T, method jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyToken(t *testing.T) {
	now := t0
	a := newAuth(t, &now)
	good, err := a.Mint("alice", RoleOfficer, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	valid := claims{Role: RoleAdmin, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: issuer, Subject: "bob", IssuedAt: jwt.NewNumericDate(t0), ExpiresAt: jwt.NewNumericDate(t0.Add(time.Hour)),
	}}
	noRole := valid
	noRole.Role = "root"
	noExp := valid
	noExp.ExpiresAt = nil
	otherIssuer := valid
	otherIssuer.Issuer = "someone-else"

	tests := []struct {
		name    string
		token   string
		advance time.Duration
		want    Principal
		wantErr string
	}{
		{name: "minted officer", token: good, want: Principal{Name: "alice", Role: RoleOfficer}},
		{name: "admin", token: sign(t, jwt.SigningMethodHS256, []byte(testSecret), valid), want: Principal{Name: "bob", Role: RoleAdmin}},
		{name: "expired", token: good, advance: 2 * time.Hour, wantErr: "token expired"},
		{name: "wrong secret", token: sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), valid), wantErr: "invalid token"},
		{name: "other HMAC algorithm", token: sign(t, jwt.SigningMethodHS512, []byte(testSecret), valid), wantErr: "invalid token"},
		{name: "alg none", token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid), wantErr: "invalid token"},
		{name: "unknown role", token: sign(t, jwt.SigningMethodHS256, []byte(testSecret), noRole), wantErr: "no valid role"},
		{name: "no expiry", token: sign(t, jwt.SigningMethodHS256, []byte(testSecret), noExp), wantErr: "invalid token"},
		{name: "other issuer", token: sign(t, jwt.SigningMethodHS256, []byte(testSecret), otherIssuer), wantErr: "invalid token"},
		{name: "tampered", token: good[:len(good)-2] + "xx", wantErr: "invalid token"},
		{name: "garbage", token: "a.b.c", wantErr: "invalid token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = t0.Add(tt.advance)
			got, err := a.VerifyToken(tt.token)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("VerifyToken() = %v, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("VerifyToken() = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	now := t0
	a := newAuth(t, &now)
	tok, _ := a.Mint("alice", RoleAdmin, 0)
	tests := []struct {
		header string
		want   Principal
		ok     bool
	}{
		{"Bearer sk_live_abc", Principal{Name: "shop", Role: RoleStorefront}, true},
		{"bearer  sk_live_xyz ", Principal{Name: "other", Role: RoleStorefront}, true},
		{"Bearer " + tok, Principal{Name: "alice", Role: RoleAdmin}, true},
		{"Bearer sk_live_nope", Principal{}, false},
		{"Basic c2s6", Principal{}, false},
		{"", Principal{}, false},
		{"Bearer ", Principal{}, false},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest("GET", "/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		got, err := a.Authenticate(r)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Authenticate(%q) = %v, %v; want %v ok=%v", tt.header, got, err, tt.want, tt.ok)
		}
	}
}

func TestCan(t *testing.T) {
	tests := []struct {
		p    Role
		need Role
		want bool
	}{
		{RoleStorefront, RoleStorefront, true},
		{RoleStorefront, RoleOfficer, false},
		{RoleOfficer, RoleOfficer, true},
		{RoleOfficer, RoleAdmin, false},
		{RoleAdmin, RoleOfficer, true},
		{RoleAdmin, RoleAdmin, true},
		{RoleOfficer, RoleStorefront, false},
	}
	for _, tt := range tests {
		if got := (Principal{Role: tt.p}).Can(tt.need); got != tt.want {
			t.Errorf("%s.Can(%s) = %v, want %v", tt.p, tt.need, got, tt.want)
		}
	}
}

func TestMintErrors(t *testing.T) {
	now := t0
	a := newAuth(t, &now)
	if _, err := a.Mint("", RoleOfficer, 0); err == nil {
		t.Error("Mint with empty subject succeeded")
	}
	if _, err := a.Mint("x", RoleStorefront, 0); err == nil {
		t.Error("Mint with storefront role succeeded")
	}
	noSecret, _ := New(Config{}, time.Now)
	if _, err := noSecret.Mint("x", RoleOfficer, time.Hour); err == nil || !strings.Contains(err.Error(), "jwt_secret") {
		t.Errorf("Mint without secret = %v, want an error naming auth.jwt_secret", err)
	}
}

func TestConfigValidate(t *testing.T) {
	hash, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPassword(hash, "correct horse battery") || CheckPassword(hash, "wrong password!!") {
		t.Fatal("CheckPassword does not match HashPassword")
	}
	cfg := Config{
		APIKeys: []APIKey{{Name: "a", KeyHash: "md5:abc"}, {Name: "a", KeyHash: HashKey("k")}, {KeyHash: HashKey("j")},
			{Name: "a/b", KeyHash: HashKey("1")}, {Name: "shop one", KeyHash: HashKey("2")}, {Name: "key:x", KeyHash: HashKey("3")},
			{Name: strings.Repeat("n", 65), KeyHash: HashKey("4")}, {Name: "Shop_1.eu-" + strings.Repeat("n", 54), KeyHash: HashKey("5")}},
		Users: []User{
			{Email: "ann@example.com", PasswordHash: hash, Role: "officer"},
			{Email: "ANN@example.com", PasswordHash: "plain", Role: "root"},
		},
		JWTSecret: "short",
		TokenTTL:  -time.Second,
	}
	err = cfg.Validate()
	for _, want := range []string{
		`api_keys[0].key_hash: "md5:abc": must be sha256:`,
		`api_keys[1].name: "a": is used by another key`,
		`api_keys[2].name: is required`,
		`api_keys[3].name: "a/b": must be 1 to 64 letters, digits, '.', '_' or '-' (no '/'`,
		`api_keys[4].name: "shop one": must be`,
		`api_keys[5].name: "key:x": must be`,
		`api_keys[6].name: "` + strings.Repeat("n", 65) + `": must be`,
		`users[1].email: "ANN@example.com": is used by another user`,
		`users[1].password_hash: must be a bcrypt hash`,
		`users[1].role: "root": must be officer or admin`,
		`jwt_secret: must be at least 32 characters`,
		`token_ttl`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "api_keys[7]") {
		t.Errorf("a plain 64-character name was refused:\n%v", err)
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("HashPassword accepted a short password")
	}
}

func FuzzAuthenticate(f *testing.F) {
	now := t0
	a := newAuth(f, &now)
	tok, _ := a.Mint("alice", RoleOfficer, 0)
	for _, s := range []string{"Bearer " + tok, "Bearer sk_live_abc", "Bearer a.b.c", "Bearer eyJhbGciOiJub25lIn0.e30.", "", "Bearer \x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{header}
		p, err := a.Authenticate(r)
		if err == nil && p.Role == "" {
			t.Fatalf("Authenticate(%q) accepted with empty role", header)
		}
		if err == nil && p.Role == RoleStorefront && p.Name != "shop" && p.Name != "other" {
			t.Fatalf("Authenticate(%q) accepted an unknown key as %v", header, p)
		}
	})
}

func TestMintTTLBound(t *testing.T) {
	now := t0
	a := newAuth(t, &now)
	if _, err := a.Mint("x", RoleOfficer, 24*time.Hour+time.Second); err == nil || !strings.Contains(err.Error(), "token_max_ttl") {
		t.Errorf("Mint with a ttl past the default token_max_ttl = %v, want refused", err)
	}
	if _, err := a.Mint("x", RoleOfficer, 24*time.Hour); err != nil {
		t.Errorf("Mint with a 24h ttl = %v, want allowed", err)
	}
}
