package gateway

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/emailverify"
	"github.com/vpsgate/gateway/internal/testenv"
)

// nopVerifier stands in for the order lifecycle: this test only resends.
type nopVerifier struct{}

func (nopVerifier) EmailVerified(ctx context.Context, owner, accountID, email, actor string) error {
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

func TestAPIResendVerification(t *testing.T) {
	outbox := &keptOutbox{}
	cfg := emailverify.Config{ResendPerAccount: 1}
	cfg.SetDefaults()
	svc, err := emailverify.New(cfg, emailverify.Deps{
		Redis: testenv.RedisClient(t), Prefix: testenv.KeyPrefix(t), Secret: []byte(strings.Repeat("s", 32)),
		PublicURL: "https://shop.example", Verifier: nopVerifier{}, Outbox: outbox, Templates: linkTemplates{},
		Logger: slog.New(slog.DiscardHandler), Now: time.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
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
