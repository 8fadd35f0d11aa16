package gateway

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/internal/mail"
	"github.com/vpsgate/gateway/internal/testenv"
)

// TestDevMailAPI: GET /api/v1/dev/mail lists the development outbox (real
// Redis) to officers, and exists only in embedded mode.
func TestDevMailAPI(t *testing.T) {
	rdb := testenv.RedisClient(t)
	dev := mail.NewDevOutbox(rdb, testenv.KeyPrefix(t), mail.Config{From: "no-reply@gateway.test"}, slog.New(slog.DiscardHandler))
	for _, id := range []string{"m1", "m2"} {
		m := mail.Message{ID: id, To: "ann@customer.test", Subject: "Confirm " + id, Text: "link " + id}
		if err := dev.Send(t.Context(), m, func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	withDev, creds := newTestAPIWith(t, func(d *APIDeps) { d.DevMail = dev })
	without, _ := newTestAPIWith(t, func(*APIDeps) {})

	tests := []struct {
		name    string
		without bool // the API of a gateway with smtp.url
		path    string
		as      string
		status  int
		ids     []string
	}{
		{name: "officer", path: "/api/v1/dev/mail", as: "officer", status: 200, ids: []string{"m2", "m1"}},
		{name: "admin, limit", path: "/api/v1/dev/mail?limit=1", as: "admin", status: 200, ids: []string{"m2"}},
		{name: "storefront", path: "/api/v1/dev/mail", as: "shop", status: 403},
		{name: "anonymous", path: "/api/v1/dev/mail", status: 401},
		{name: "limit 0", path: "/api/v1/dev/mail?limit=0", as: "officer", status: 400},
		{name: "limit too large", path: "/api/v1/dev/mail?limit=101", as: "officer", status: 400},
		{name: "with smtp.url", without: true, path: "/api/v1/dev/mail", as: "admin", status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := withDev
			if tt.without {
				h = without
			}
			req := httptest.NewRequest("GET", tt.path, nil)
			if tt.as != "" {
				req.Header.Set("Authorization", "Bearer "+creds[tt.as])
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tt.status {
				t.Fatalf("GET %s = %d, want %d; body %s", tt.path, rec.Code, tt.status, body)
			}
			if tt.status != 200 {
				return
			}
			var got struct{ Messages []mail.DevMail }
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, m := range got.Messages {
				ids = append(ids, m.ID)
			}
			if diff := cmp.Diff(tt.ids, ids); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
}
