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
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vpsgate/gateway/audit"
	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/screening/blocklist"
)

// fakeAudit records what the API appends and asks; it is the API's view
// of the log, not a Redis stand-in (audit's own tests use real servers).
type fakeAudit struct {
	appended []audit.Entry
	queries  []audit.Query
	err      error
}

func (f *fakeAudit) Append(ctx context.Context, e audit.Entry) (audit.Entry, error) {
	if f.err != nil {
		return audit.Entry{}, f.err
	}
	f.appended = append(f.appended, e)
	e.Seq = int64(len(f.appended))
	return e, nil
}

func (f *fakeAudit) Query(ctx context.Context, q audit.Query) (audit.Page, error) {
	f.queries = append(f.queries, q)
	return audit.Page{}, f.err
}

// removingBlocklist is a blocklist where every removal finds its entry.
type removingBlocklist struct{ fakeBlocklist }

func (removingBlocklist) Remove(ctx context.Context, kind blocklist.Kind, value string) error {
	return nil
}

func serveAPI(t *testing.T, h http.Handler, cred, method, path, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "203.0.113.77:50123"
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+cred)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

// Blocklist actions are recorded: who, what, when, from where (masked),
// before and after, with the identifier masked as the blocklist shows it.
func TestAPIAuditsBlocklistActions(t *testing.T) {
	at := time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		as     string
		method string
		path   string
		body   string
		status int
		want   audit.Entry
	}{
		{
			name: "add by officer", as: "officer", method: "POST", path: "/api/v1/blocklist",
			body:   `{"kind":"email","value":"mallory@example.com","reason":"chargebacks"}`,
			status: 201,
			want: audit.Entry{Time: at, Actor: "officer:olga", Action: "blocklist.added", Addr: "203.0.113.0/24",
				After: json.RawMessage(`{"kind":"email","value":"mallory@example.com","reason":"chargebacks","added_by":"olga","added_at":"0001-01-01T00:00:00Z","id":""}`)},
		},
		{
			name: "remove by admin", as: "admin", method: "DELETE", path: "/api/v1/blocklist?kind=email&value=Mallory@Example.com",
			status: 204,
			want: audit.Entry{Time: at, Actor: "admin:adam", Action: "blocklist.removed", Addr: "203.0.113.0/24",
				Before: json.RawMessage(`{"kind":"email","value":"m***@example.com","reason":""}`)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			al := &fakeAudit{}
			h, creds := newAuditedTestAPI(t, &fakeOrders{}, &removingBlocklist{}, al)
			if code, body := serveAPI(t, h, creds[tt.as], tt.method, tt.path, tt.body); code != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, code, body, tt.status)
			}
			if len(al.appended) != 1 {
				t.Fatalf("appended %d audit entries, want 1", len(al.appended))
			}
			got := al.appended[0]
			if !strings.HasPrefix(got.ID, "api:") || len(got.ID) < 20 {
				t.Errorf("ID = %q, want a random api: id", got.ID)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(audit.Entry{}, "ID")); diff != "" {
				t.Errorf("audit entry (-want +got):\n%s", diff)
			}
		})
	}
}

// The fake blocklist returns the entry as given; the real one masks it
// (blocklist.Add), which the real-server test below checks end to end.

func TestAPIAuditFailureIsNotSilent(t *testing.T) {
	al := &fakeAudit{err: fmt.Errorf("appending: %w", audit.ErrUnavailable)}
	h, creds := newAuditedTestAPI(t, &fakeOrders{}, &removingBlocklist{}, al)
	code, body := serveAPI(t, h, creds["officer"], "POST", "/api/v1/blocklist", `{"kind":"ip","value":"198.51.100.7","reason":"x"}`)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"not_audited"`) {
		t.Errorf("add with the audit log down = %d %s, want 503 not_audited", code, body)
	}
}

func TestAPIAuditQuery(t *testing.T) {
	tests := []struct {
		name   string
		as     string
		query  string
		status int
		want   audit.Query
	}{
		{name: "defaults", as: "officer", query: "", status: 200, want: audit.Query{}},
		{name: "every filter", as: "officer", status: 200,
			query: "?order=o-1&account=key:shop/42&actor=officer:olga&type=order.reviewed&since=2026-11-01T00:00:00Z&until=2026-11-02T00:00:00%2B01:00&after=17&limit=5&sort=oldest",
			want: audit.Query{Order: "o-1", Account: "key:shop/42", Actor: "officer:olga", Action: "order.reviewed",
				Since: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 11, 1, 23, 0, 0, 0, time.UTC),
				After: 17, Limit: 5, Oldest: true}},
		{name: "storefront refused", as: "shop", status: 403},
		{name: "unknown filter", as: "officer", query: "?owner=x", status: 400},
		{name: "repeated filter", as: "officer", query: "?actor=a&actor=b", status: 400},
		{name: "bad since", as: "officer", query: "?since=yesterday", status: 400},
		{name: "bad after", as: "officer", query: "?after=-1", status: 400},
		{name: "bad limit", as: "officer", query: "?limit=1001", status: 400},
		{name: "bad sort", as: "officer", query: "?sort=random", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			al := &fakeAudit{}
			h, creds := newAuditedTestAPI(t, &fakeOrders{}, &fakeBlocklist{}, al)
			code, body := serveAPI(t, h, creds[tt.as], "GET", "/api/v1/audit"+tt.query, "")
			if code != tt.status {
				t.Fatalf("GET /api/v1/audit%s = %d %s, want %d", tt.query, code, body, tt.status)
			}
			if code != 200 {
				if len(al.queries) != 0 {
					t.Errorf("a refused request reached the log: %+v", al.queries)
				}
				return
			}
			if body != `{"entries":[]}` {
				t.Errorf("empty page = %s", body)
			}
			if diff := cmp.Diff([]audit.Query{tt.want}, al.queries, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
		})
	}
}

// End to end on real Redis and MinIO: a blocklist addition through the
// API is in GET /api/v1/audit and the chain verifies.
func TestAPIAuditRealLog(t *testing.T) {
	rdb := testenv.RedisClient(t)
	s3, bucket := testenv.Bucket(t)
	logger := slog.New(slog.DiscardHandler)
	l, err := audit.New(rdb, testenv.KeyPrefix(t), logger)
	if err != nil {
		t.Fatal(err)
	}
	cfg := audit.Config{Bucket: bucket}
	cfg.SetDefaults()
	arch := audit.NewArchiver(l, s3, cfg, time.Now, logger)
	if err := arch.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	h, creds := newAuditedTestAPI(t, &fakeOrders{}, &removingBlocklist{}, l)
	if code, body := serveAPI(t, h, creds["officer"], "POST", "/api/v1/blocklist", `{"kind":"ip","value":"198.51.100.7","reason":"fraud"}`); code != 201 {
		t.Fatalf("add = %d %s", code, body)
	}
	if code, body := serveAPI(t, h, creds["admin"], "DELETE", "/api/v1/blocklist?kind=ip&value=198.51.100.7", ""); code != 204 {
		t.Fatalf("remove = %d %s", code, body)
	}
	code, body := serveAPI(t, h, creds["officer"], "GET", "/api/v1/audit?actor=admin:adam", "")
	if code != 200 {
		t.Fatalf("GET /api/v1/audit = %d %s", code, body)
	}
	var page audit.Page
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 || page.Entries[0].Action != "blocklist.removed" || page.Entries[0].Seq != 2 ||
		string(page.Entries[0].Before) != `{"kind":"ip","value":"198.51.100.x","reason":""}` {
		t.Errorf("GET /api/v1/audit?actor=admin:adam = %s", body)
	}
	if err := arch.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Verify(t.Context(), l, s3, cfg); err != nil {
		t.Errorf("Verify: %v", err)
	}
}
