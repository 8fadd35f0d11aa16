package auth

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestSessions: a session verifies with its own key and audience only,
// renews past half its life keeping its CSRF token, expires, and dies
// with its user's configuration.
func TestSessions(t *testing.T) {
	h, _ := bcrypt.GenerateFromPassword([]byte("a password of twelve"), bcrypt.MinCost)
	cfg := Config{JWTSecret: strings.Repeat("s", 32), Users: []User{{Email: "Olga@example.com", PasswordHash: string(h), Role: "officer"}}}
	cfg.SetDefaults()
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	s := NewSessions(cfg, func() time.Time { return now })

	if _, err := s.CheckLogin("olga@example.com", "wrong password"); err == nil {
		t.Error("wrong password accepted")
	}
	if _, err := s.CheckLogin("nobody@example.com", "a password of twelve"); err == nil {
		t.Error("unknown user accepted")
	}
	p, err := s.CheckLogin(" OLGA@example.com ", "a password of twelve")
	if err != nil || p.Name != "Olga@example.com" || p.Role != RoleOfficer {
		t.Fatalf("login: %+v %v", p, err)
	}
	tok, ss, err := s.Mint(p, "")
	if err != nil || len(ss.CSRF) != 32 {
		t.Fatalf("mint: %v %+v", err, ss)
	}
	got, err := s.Verify(tok)
	if err != nil || got.Name != p.Name || got.CSRF != ss.CSRF || !got.CheckCSRF(ss.CSRF) || got.CheckCSRF(strings.Repeat("0", 32)) {
		t.Fatalf("verify: %+v %v", got, err)
	}
	if s.NeedsRenewal(got) {
		t.Error("a fresh session needs renewal")
	}
	// An API token of the same secret is not a session.
	a, _ := New(cfg, func() time.Time { return now })
	apiTok, _ := a.Mint(p.Name, RoleOfficer, time.Hour)
	if _, err := s.Verify(apiTok); err == nil {
		t.Error("an officer API token verified as a session")
	}
	if _, err := a.VerifyToken(tok); err == nil {
		t.Error("a session verified as an API token")
	}

	now = now.Add(SessionTTL/2 + time.Minute)
	got, err = s.Verify(tok)
	if err != nil || !s.NeedsRenewal(got) {
		t.Fatalf("past half its life: %v, renewal %v", err, s.NeedsRenewal(got))
	}
	renewed, rs, err := s.Mint(got.Principal, got.CSRF)
	if err != nil || rs.CSRF != ss.CSRF || !rs.Expires.After(ss.Expires) {
		t.Fatalf("renewal: %+v %v", rs, err)
	}
	now = now.Add(SessionTTL / 2)
	if _, err := s.Verify(tok); err == nil {
		t.Error("the old session did not expire")
	}
	if _, err := s.Verify(renewed); err != nil {
		t.Errorf("the renewed session: %v", err)
	}
	// The user's role changed in the configuration: the session is void.
	cfg.Users[0].Role = "admin"
	if _, err := NewSessions(cfg, func() time.Time { return now }).Verify(renewed); err == nil {
		t.Error("a session outlived its user's role")
	}
	if NewSessions(Config{JWTSecret: cfg.JWTSecret}, time.Now) != nil {
		t.Error("sessions without users")
	}
}
