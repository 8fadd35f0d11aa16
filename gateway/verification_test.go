package gateway

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/emailverify"
	"github.com/vpsgate/gateway/internal/testenv"
)

// countingVerifier stands in for the order lifecycle: it counts calls.
type countingVerifier struct{ n atomic.Int64 }

func (v *countingVerifier) EmailVerified(ctx context.Context, owner, accountID, email, actor string) error {
	v.n.Add(1)
	return nil
}

// keptOutbox stands in for the mail package's Outbox: it keeps messages.
type keptOutbox struct {
	mu   sync.Mutex
	msgs []emailverify.Message
}

func (o *keptOutbox) Enqueue(ctx context.Context, m emailverify.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs = append(o.msgs, m)
	return nil
}

// linkTemplates renders the link alone, as the body of the mail.
type linkTemplates struct{}

func (linkTemplates) Render(name string, data any) (string, string, string, error) {
	d := data.(emailverify.MailData)
	return "Confirm", d.Link, d.Link, nil
}

func newTestVerification(t *testing.T, cfg emailverify.Config) (*emailverify.Service, *countingVerifier, *keptOutbox) {
	t.Helper()
	outbox, ver := &keptOutbox{}, &countingVerifier{}
	cfg.SetDefaults()
	svc, err := emailverify.New(cfg, emailverify.Deps{
		Redis: testenv.RedisClient(t), Prefix: testenv.KeyPrefix(t), Secret: []byte(strings.Repeat("s", 32)),
		PublicURL: "https://shop.example", Verifier: ver, Outbox: outbox, Templates: linkTemplates{},
		Logger: slog.New(slog.DiscardHandler), Now: time.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc, ver, outbox
}

func TestAPIResendVerification(t *testing.T) {
	svc, _, outbox := newTestVerification(t, emailverify.Config{ResendPerAccount: 1})
	a, creds := newTestAuth(t)
	h := NewAPI(APIDeps{Auth: a, Logger: slog.New(slog.DiscardHandler), Verification: svc})
	off := NewAPI(APIDeps{Auth: a, Logger: slog.New(slog.DiscardHandler)})
	const path = "/api/v1/accounts/42/verification-email"
	tests := []struct {
		name       string
		h          http.Handler
		as, ctype  string
		path, body string
		wantStatus int
		wantBody   string
		wantHeader string // a header that must be set
	}{
		{name: "queued", h: h, as: "shop", body: `{"email":"ann@example.com"}`, wantStatus: 202, wantBody: `"status":"queued"`},
		{name: "account limit", h: h, as: "shop", body: `{"email":"ann@example.com"}`, wantStatus: 429, wantBody: `"code":"rate_limited"`, wantHeader: "Retry-After"},
		{name: "another account", h: h, as: "shop", path: "/api/v1/accounts/43/verification-email", body: `{"email":"bo@example.com"}`, wantStatus: 202},
		{name: "bad email", h: h, as: "shop", path: "/api/v1/accounts/44/verification-email", body: `{"email":"Bo <bo@example.com>"}`, wantStatus: 400, wantBody: `"code":"invalid_input"`},
		{name: "unknown field", h: h, as: "shop", path: "/api/v1/accounts/45/verification-email", body: `{"email":"bo@example.com","to":"x@evil.example"}`, wantStatus: 400},
		{name: "not JSON", h: h, as: "shop", ctype: "text/plain", body: `{"email":"bo@example.com"}`, wantStatus: 415},
		{name: "no key", h: h, body: `{"email":"bo@example.com"}`, wantStatus: 401},
		{name: "officer", h: h, as: "officer", body: `{"email":"bo@example.com"}`, wantStatus: 403},
		{name: "verification off", h: off, as: "shop", body: `{"email":"bo@example.com"}`, wantStatus: 503, wantBody: "not configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := cmp.Or(tt.path, path)
			r := httptest.NewRequest("POST", p, strings.NewReader(tt.body))
			r.Header.Set("Content-Type", cmp.Or(tt.ctype, "application/json"))
			if tt.as != "" {
				r.Header.Set("Authorization", "Bearer "+creds[tt.as])
			}
			w := httptest.NewRecorder()
			tt.h.ServeHTTP(w, r)
			if w.Code != tt.wantStatus || !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("POST %s = %d %s, want %d with %q", p, w.Code, w.Body, tt.wantStatus, tt.wantBody)
			}
			if tt.wantHeader != "" && w.Header().Get(tt.wantHeader) == "" {
				t.Errorf("POST %s: no %s header", p, tt.wantHeader)
			}
		})
	}
	// Two mails, each to the address given, each link for the API key's
	// own namespace.
	if len(outbox.msgs) != 2 || outbox.msgs[0].To != "ann@example.com" || outbox.msgs[1].To != "bo@example.com" {
		t.Fatalf("messages = %+v", outbox.msgs)
	}
	_, tok, _ := strings.Cut(outbox.msgs[0].Text, "?token=")
	st, c, err := svc.Status(context.Background(), tok)
	if err != nil || st != emailverify.StateConfirm || c.Owner != "key:shop" || c.Account() != "42" || c.Email != "ann@example.com" {
		t.Errorf("mailed token: %v %+v %v", st, c, err)
	}
}

// TestVerificationPageThroughGateway: the page is served by the public
// chain (after client IP and geo-block), never by the storefront, and the
// page's resend limit counts the visitor's address as the chain resolved it.
func TestVerificationPageThroughGateway(t *testing.T) {
	svc, ver, outbox := newTestVerification(t, emailverify.Config{ResendPerAddress: 1})
	page, err := svc.Handler()
	if err != nil {
		t.Fatal(err)
	}
	up := newRecordingUpstream(t)
	pub, _ := startGateway(t, Config{TrustedProxies: []string{"127.0.0.1", "::1"}}, Deps{Upstream: mustURL(t, up.URL), Customer: page})
	link, err := svc.VerifyEmailLink("key:shop", "42", "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimPrefix(link, "https://shop.example"+emailverify.PagePath+"?token=")
	do := func(method, path, body, xff string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, pub+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	steps := []struct {
		method, path, body, xff string
		wantStatus              int
		want                    string
	}{
		{"GET", emailverify.PagePath + "?token=" + tok, "", "192.0.2.7", 200, "Confirm your email address"},
		{"POST", emailverify.PagePath, "action=confirm&token=" + tok, "192.0.2.7", 200, "Email address verified"},
		{"POST", emailverify.PagePath, "action=confirm&token=" + tok, "192.0.2.7", 200, "Already verified"},
		{"GET", "/_gateway/verify-email-x", "", "192.0.2.7", 404, ""},
	}
	for _, s := range steps {
		if code, body := do(s.method, s.path, s.body, s.xff); code != s.wantStatus || !strings.Contains(body, s.want) {
			t.Errorf("%s %s = %d, want %d with %q:\n%s", s.method, s.path, code, s.wantStatus, s.want, body)
		}
	}
	// Resends: one per visitor address; another address gets its own.
	for i, s := range []struct {
		xff        string
		wantStatus int
	}{{"192.0.2.7", 200}, {"192.0.2.7", 429}, {"192.0.2.8", 200}} {
		other, err := svc.VerifyEmailLink("key:shop", fmt.Sprint(50+i), "bo@example.com")
		if err != nil {
			t.Fatal(err)
		}
		tok := strings.TrimPrefix(other, "https://shop.example"+emailverify.PagePath+"?token=")
		if code, body := do("POST", emailverify.PagePath, "action=resend&token="+tok, s.xff); code != s.wantStatus {
			t.Errorf("resend from %s = %d, want %d:\n%s", s.xff, code, s.wantStatus, body)
		}
	}
	if n := ver.n.Load(); n != 1 {
		t.Errorf("EmailVerified calls = %d, want 1", n)
	}
	if len(outbox.msgs) != 2 {
		t.Errorf("messages = %d, want 2", len(outbox.msgs))
	}
	if up.hits() != 0 {
		t.Errorf("the storefront saw %d requests, want none", up.hits())
	}
}
