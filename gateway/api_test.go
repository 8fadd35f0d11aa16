package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/screening"
	"github.com/vpsgate/gateway/screening/blocklist"
)

// fakeOrders is a hand-written stand-in for screening's *Orders: the API's
// job is decoding, authorisation and error presentation, tested here; the
// service itself is tested against real Redis in screening and cmd/gateway.
type fakeOrders struct {
	submitted []screening.Order
	owners    []orders.Owner
	access    []orders.Access // of every call addressing a stored order
	err       error
	result    orders.Result
	pages     [][2]int // offset and limit of every timeline read
}

// Submit answers with a made-up screening id that names the owner, so
// tests see which namespace the order went to.
func (f *fakeOrders) Submit(ctx context.Context, owner orders.Owner, o screening.Order) (orders.Result, error) {
	f.submitted = append(f.submitted, o)
	f.owners = append(f.owners, owner)
	if f.err != nil {
		return orders.Result{}, f.err
	}
	r := f.result
	r.OrderID, r.Owner, r.ScreeningID = o.OrderID, owner, "sid("+string(owner)+"/"+o.OrderID+")"
	return r, nil
}

// SubmitJSON is Submit with no encoding: the API encodes the answer.
func (f *fakeOrders) SubmitJSON(ctx context.Context, owner orders.Owner, o screening.Order) (orders.Result, []byte, error) {
	r, err := f.Submit(ctx, owner, o)
	return r, nil, err
}

func (f *fakeOrders) Get(ctx context.Context, a orders.Access, id string) (orders.Result, error) {
	f.access = append(f.access, a)
	if id != "INV-1" {
		return orders.Result{}, fmt.Errorf("order %s: %w", id, screening.ErrNotFound)
	}
	return orders.Result{OrderID: id, Status: orders.StatusHeld}, nil
}

func (f *fakeOrders) Timeline(ctx context.Context, a orders.Access, id string, offset, limit int) (orders.Result, []orders.TimelineEntry, int, error) {
	f.access = append(f.access, a)
	f.pages = append(f.pages, [2]int{offset, limit})
	return orders.Result{OrderID: id}, []orders.TimelineEntry{{Type: "screened"}}, offset + limit, nil
}

func (f *fakeOrders) RecordEvent(ctx context.Context, a orders.Access, id string, e orders.Event) (orders.Result, error) {
	f.access = append(f.access, a)
	return orders.Result{OrderID: id}, nil
}

func (f *fakeOrders) Review(ctx context.Context, a orders.Access, id string, rv orders.ManualReview, officer string) (orders.Result, error) {
	f.access = append(f.access, a)
	if f.err != nil {
		return orders.Result{}, f.err
	}
	return orders.Result{OrderID: id, Status: orders.StatusHeld, Decision: rv.Decision,
		Reasons: []screening.Reason{{Code: "manual_review_accepted", Detail: "Reviewed by " + officer + ": " + rv.Reason}}}, nil
}

type fakeBlocklist struct{ added []blocklist.Entry }

func (f *fakeBlocklist) Add(ctx context.Context, e blocklist.Entry) (blocklist.Entry, error) {
	f.added = append(f.added, e)
	return e, nil
}

func (f *fakeBlocklist) Remove(ctx context.Context, kind blocklist.Kind, value string) error {
	return fmt.Errorf("%w: %s %s", blocklist.ErrNotFound, kind, value)
}

func (f *fakeBlocklist) List(ctx context.Context, kind blocklist.Kind, limit int) ([]blocklist.Entry, error) {
	return nil, nil
}

const validOrder = `{"order_id":"INV-1001","account":{"id":"42","email":"ann@example.com"},"ip":"198.51.100.7",
 "billing":{"country":"US"},"amount":"12.00","currency":"USD"}`

func newTestAPI(t *testing.T, orders *fakeOrders, bl *fakeBlocklist) (http.Handler, map[string]string) {
	t.Helper()
	return newAuditedTestAPI(t, orders, bl, &fakeAudit{})
}

func newAuditedTestAPI(t *testing.T, orders *fakeOrders, bl blocklistService, al auditLog) (http.Handler, map[string]string) {
	t.Helper()
	return newTestAPIWith(t, func(d *APIDeps) { d.Orders, d.Blocklist, d.Audit = orders, bl, al })
}

// newTestAPIWith builds the API with test credentials and a fixed clock;
// edit sets the services.
func newTestAPIWith(t *testing.T, edit func(*APIDeps)) (http.Handler, map[string]string) {
	t.Helper()
	a, creds := newTestAuth(t)
	d := APIDeps{Auth: a, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC) }}
	edit(&d)
	return NewAPI(d), creds
}

// newTestAuth is the authenticator of the API tests and its credentials by
// name: "shop" (API key), "officer" and "admin" (tokens).
func newTestAuth(t *testing.T) (*auth.Authenticator, map[string]string) {
	t.Helper()
	secret := strings.Repeat("s", 32)
	cfg := auth.Config{APIKeys: []auth.APIKey{{Name: "shop", KeyHash: auth.HashKey("shop-key-0123456789abcdef")}}, JWTSecret: secret}
	cfg.SetDefaults()
	a, err := auth.New(cfg, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	officer, _ := a.Mint("olga", auth.RoleOfficer, time.Hour)
	admin, _ := a.Mint("adam", auth.RoleAdmin, time.Hour)
	return a, map[string]string{"shop": "shop-key-0123456789abcdef", "officer": officer, "admin": admin}
}

func TestAPI(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path       string
		as         string // credential name, "" for none
		ctype      string
		body       string
		ordersErr  error
		wantStatus int
		wantBody   string
		wantHeader [2]string
	}{
		{name: "submit", method: "POST", path: "/api/v1/orders", as: "shop", ctype: "application/json", body: validOrder, wantStatus: 200, wantBody: `"order_id":"INV-1001"`},
		{name: "submit charset", method: "POST", path: "/api/v1/orders", as: "shop", ctype: "application/json; charset=utf-8", body: validOrder, wantStatus: 200},
		{name: "no key", method: "POST", path: "/api/v1/orders", ctype: "application/json", body: validOrder, wantStatus: 401, wantHeader: [2]string{"WWW-Authenticate", `Bearer realm="gateway"`}},
		{name: "wrong key", method: "POST", path: "/api/v1/orders", as: "bogus", ctype: "application/json", body: validOrder, wantStatus: 401},
		{name: "officer cannot submit", method: "POST", path: "/api/v1/orders", as: "officer", ctype: "application/json", body: validOrder, wantStatus: 403},
		{name: "wrong media type", method: "POST", path: "/api/v1/orders", as: "shop", ctype: "text/plain", body: validOrder, wantStatus: 415},
		{name: "unknown field", method: "POST", path: "/api/v1/orders", as: "shop", ctype: "application/json", body: `{"order_id":"x","coupon":"FREE"}`, wantStatus: 400, wantBody: `coupon`},
		{name: "bad country", method: "POST", path: "/api/v1/orders", as: "shop", ctype: "application/json", body: strings.Replace(validOrder, `"US"`, `"XX"`, 1), wantStatus: 400, wantBody: `"field":"billing.country"`},
		{name: "too large", method: "POST", path: "/api/v1/orders", as: "shop", ctype: "application/json", body: `{"order_id":"` + strings.Repeat("a", 70<<10) + `"}`, wantStatus: 413},
		{name: "redis down", method: "POST", path: "/api/v1/orders", as: "shop", ctype: "application/json", body: validOrder, ordersErr: fmt.Errorf("screening: %w", screening.ErrUnavailable), wantStatus: 503, wantHeader: [2]string{"Retry-After", "5"}},
		{name: "conflict", method: "POST", path: "/api/v1/orders", as: "shop", ctype: "application/json", body: validOrder, ordersErr: fmt.Errorf("order INV-1001: %w", screening.ErrConflict), wantStatus: 409},
		{name: "get", method: "GET", path: "/api/v1/orders/INV-1", as: "officer", wantStatus: 200, wantBody: `"status":"held"`},
		{name: "get missing", method: "GET", path: "/api/v1/orders/NOPE", as: "shop", wantStatus: 404},
		{name: "event", method: "POST", path: "/api/v1/orders/INV-1/events", as: "shop", ctype: "application/json", body: `{"type":"chargeback"}`, wantStatus: 200},
		{name: "event bad type", method: "POST", path: "/api/v1/orders/INV-1/events", as: "shop", ctype: "application/json", body: `{"type":"stolen"}`, wantStatus: 400},
		{name: "review", method: "POST", path: "/api/v1/orders/INV-1/review", as: "officer", ctype: "application/json", body: `{"decision":"accept","reason":"ID checked"}`, wantStatus: 200, wantBody: `Reviewed by olga: ID checked`},
		{name: "review by admin", method: "POST", path: "/api/v1/orders/INV-1/review", as: "admin", ctype: "application/json", body: `{"decision":"reject","reason":"stolen card"}`, wantStatus: 200, wantBody: `"decision":"reject"`},
		{name: "review by shop", method: "POST", path: "/api/v1/orders/INV-1/review", as: "shop", ctype: "application/json", body: `{"decision":"accept","reason":"x"}`, wantStatus: 403},
		{name: "review bad decision", method: "POST", path: "/api/v1/orders/INV-1/review", as: "officer", ctype: "application/json", body: `{"decision":"maybe","reason":"x"}`, wantStatus: 400, wantBody: `"field":"decision"`},
		{name: "review no reason", method: "POST", path: "/api/v1/orders/INV-1/review", as: "officer", ctype: "application/json", body: `{"decision":"accept"}`, wantStatus: 400, wantBody: `"field":"reason"`},
		{name: "review conflict", method: "POST", path: "/api/v1/orders/INV-1/review", as: "officer", ctype: "application/json", body: `{"decision":"accept","reason":"x"}`, ordersErr: fmt.Errorf("order INV-1 is rejected: %w", screening.ErrConflict), wantStatus: 409, wantBody: `is rejected`},
		{name: "blocklist add", method: "POST", path: "/api/v1/blocklist", as: "officer", ctype: "application/json", body: `{"kind":"ip","value":"198.51.100.7","reason":"fraud"}`, wantStatus: 201, wantBody: `"kind":"ip"`},
		{name: "blocklist add by shop", method: "POST", path: "/api/v1/blocklist", as: "shop", ctype: "application/json", body: `{"kind":"ip","value":"198.51.100.7","reason":"x"}`, wantStatus: 403},
		{name: "blocklist unknown field", method: "POST", path: "/api/v1/blocklist", as: "officer", ctype: "application/json", body: `{"kind":"ip","value":"1.2.3.4","why":"x"}`, wantStatus: 400},
		{name: "blocklist remove needs admin", method: "DELETE", path: "/api/v1/blocklist?kind=ip&value=1.2.3.4", as: "officer", wantStatus: 403},
		{name: "blocklist remove missing", method: "DELETE", path: "/api/v1/blocklist?kind=ip&value=1.2.3.4", as: "admin", wantStatus: 404},
		{name: "blocklist bad limit", method: "GET", path: "/api/v1/blocklist?limit=0", as: "officer", wantStatus: 400, wantBody: `"field":"limit"`},
		{name: "unknown route", method: "GET", path: "/api/v1/nothing", as: "admin", wantStatus: 404, wantBody: `"code":"not_found"`},
		{name: "wrong method", method: "PUT", path: "/api/v1/orders", as: "shop", wantStatus: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orders := &fakeOrders{err: tt.ordersErr, result: orders.Result{Status: orders.StatusHeld, Decision: screening.Accept}}
			h, creds := newTestAPI(t, orders, &fakeBlocklist{})
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			if tt.as != "" {
				cred, ok := creds[tt.as]
				if !ok {
					cred = "not-a-key-at-all-0123456789"
				}
				req.Header.Set("Authorization", "Bearer "+cred)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tt.wantStatus {
				t.Fatalf("%s %s = %d, want %d; body %s", tt.method, tt.path, rec.Code, tt.wantStatus, body)
			}
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("body = %s, want it to contain %s", body, tt.wantBody)
			}
			if k := tt.wantHeader[0]; k != "" && rec.Header().Get(k) != tt.wantHeader[1] {
				t.Errorf("header %s = %q, want %q", k, rec.Header().Get(k), tt.wantHeader[1])
			}
			if rec.Code >= 400 {
				var e map[string]apiError
				if err := json.Unmarshal(body, &e); err != nil || e["error"].Code == "" {
					t.Errorf("error body %s is not {\"error\":{\"code\":...}}", body)
				}
			}
		})
	}
}

// TestAPIOrderNamespaces: the API puts a storefront's orders in its own
// key's namespace and reads only that namespace for it; an officer reads
// any, naming the owner of a bare order_id with ?owner=.
func TestAPIOrderNamespaces(t *testing.T) {
	shop := orders.Access{Owner: orders.APIKeyOwner("shop")}
	tests := []struct {
		name       string
		method     string
		path       string
		as         string
		body       string
		wantStatus int
		wantAccess []orders.Access
		wantOwners []orders.Owner
	}{
		{name: "submit in the key's namespace", method: "POST", path: "/api/v1/orders", as: "shop", body: validOrder, wantStatus: 200,
			wantOwners: []orders.Owner{orders.APIKeyOwner("shop")}},
		{name: "shop reads its namespace", method: "GET", path: "/api/v1/orders/INV-1", as: "shop", wantStatus: 200, wantAccess: []orders.Access{shop}},
		{name: "shop events in its namespace", method: "POST", path: "/api/v1/orders/INV-1/events", as: "shop", body: `{"type":"refund"}`, wantStatus: 200, wantAccess: []orders.Access{shop}},
		{name: "shop cannot name another owner", method: "GET", path: "/api/v1/orders/INV-1?owner=checkout", as: "shop", wantStatus: 400},
		{name: "shop cannot name another key", method: "POST", path: "/api/v1/orders/INV-1/events?owner=key:other", as: "shop", body: `{"type":"chargeback"}`, wantStatus: 400},
		{name: "officer without owner", method: "GET", path: "/api/v1/orders/INV-1", as: "officer", wantStatus: 200, wantAccess: []orders.Access{{Officer: true}}},
		{name: "officer names checkout", method: "GET", path: "/api/v1/orders/INV-1/timeline?owner=checkout", as: "officer", wantStatus: 200,
			wantAccess: []orders.Access{{Officer: true, Owner: orders.CheckoutOwner}}},
		{name: "officer names a key", method: "POST", path: "/api/v1/orders/INV-1/review?owner=key:shop", as: "officer", body: `{"decision":"accept","reason":"ok"}`, wantStatus: 200,
			wantAccess: []orders.Access{{Officer: true, Owner: orders.APIKeyOwner("shop")}}},
		{name: "officer bad owner", method: "GET", path: "/api/v1/orders/INV-1?owner=shop", as: "officer", wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orders := &fakeOrders{}
			h, creds := newTestAPI(t, orders, &fakeBlocklist{})
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+creds[tt.as])
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("%s %s = %d, want %d; body %s", tt.method, tt.path, rec.Code, tt.wantStatus, rec.Body)
			}
			if diff := cmp.Diff(tt.wantAccess, orders.access); diff != "" {
				t.Errorf("access (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantOwners, orders.owners); diff != "" {
				t.Errorf("owners (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAPITimelinePages: ?offset= and ?limit= reach the service, bounded;
// the answer names the next page.
func TestAPITimelinePages(t *testing.T) {
	tests := []struct {
		query      string
		wantStatus int
		wantPage   [][2]int
	}{
		{"", 200, [][2]int{{0, 100}}},
		{"&offset=200&limit=50", 200, [][2]int{{200, 50}}},
		{"&limit=1000", 200, [][2]int{{0, 1000}}},
		{"&limit=1001", 400, nil},
		{"&limit=0", 400, nil},
		{"&offset=-1", 400, nil},
		{"&offset=x", 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			svc := &fakeOrders{}
			h, creds := newTestAPI(t, svc, &fakeBlocklist{})
			req := httptest.NewRequest("GET", "/api/v1/orders/INV-1/timeline?owner=checkout"+tt.query, nil)
			req.Header.Set("Authorization", "Bearer "+creds["officer"])
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("= %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if diff := cmp.Diff(tt.wantPage, svc.pages); diff != "" {
				t.Errorf("pages (-want +got):\n%s", diff)
			}
			if rec.Code == 200 && !strings.Contains(rec.Body.String(), `"next_offset":`) {
				t.Errorf("no next_offset in %s", rec.Body)
			}
		})
	}
}
