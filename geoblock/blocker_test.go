package geoblock

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpsgate/gateway/internal/clientip"
)

func newBlocker(t testing.TB, cfg Config, db *DB, reg *prometheus.Registry, next http.Handler) *Blocker {
	t.Helper()
	cfg.SetDefaults()
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if next == nil {
		next = http.NotFoundHandler()
	}
	b, err := New(mustPolicy(t, cfg), db, nil, reg, next)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return b
}

func TestDecide(t *testing.T) {
	t.Parallel()
	db := openDB(t, GeoIPConfig{CountryDB: geoIP2Country})
	tests := []struct {
		name string
		cfg  Config
		ip   string
		path string
		want Decision
	}{
		{"EU country blocked", Config{}, "89.160.20.112", "/", Decision{Block: true, Reason: ReasonCountry, Country: "SE"}},
		{"mapped form blocked", Config{}, "::ffff:89.160.20.112", "/", Decision{Block: true, Reason: ReasonCountry, Country: "SE"}},
		{"IPv6 EU blocked", Config{}, "2a02:cfc0::1", "/shop", Decision{Block: true, Reason: ReasonCountry, Country: "FR"}},
		{"GB allowed under EEA", Config{}, "81.2.69.142", "/", Decision{Reason: ReasonCountry, Country: "GB"}},
		// Registered in FR, located in GB: the policy reads the country.
		{"registered country ignored", Config{}, "2.125.160.216", "/", Decision{Reason: ReasonCountry, Country: "GB"}},
		{"GB blocked under GDPR", Config{Countries: []string{"GDPR"}}, "2.125.160.216", "/", Decision{Block: true, Reason: ReasonCountry, Country: "GB"}},
		{"JP allowed", Config{}, "2001:218::1", "/", Decision{Reason: ReasonCountry, Country: "JP"}},
		{"no country, unknown allow", Config{}, "214.1.1.1", "/", Decision{Reason: ReasonUnknown}},
		{"no country, unknown block", Config{Unknown: "block"}, "214.1.1.1", "/", Decision{Block: true, Reason: ReasonUnknown}},
		{"continent only v6, unknown block", Config{Unknown: "block"}, "2a02:d500::1", "/", Decision{Block: true, Reason: ReasonUnknown}},
		{"not in db", Config{Unknown: "block"}, "10.0.0.1", "/", Decision{Block: true, Reason: ReasonUnknown}},
		{"invalid address", Config{Unknown: "block"}, "", "/", Decision{Block: true, Reason: ReasonUnknown}},
		{"allow_cidrs", Config{AllowCIDRs: []string{"89.160.20.0/24"}}, "89.160.20.112", "/", Decision{Reason: ReasonAllowCIDR}},
		{"allow_cidrs mapped", Config{AllowCIDRs: []string{"::ffff:89.160.20.0/120"}}, "89.160.20.112", "/", Decision{Reason: ReasonAllowCIDR}},
		{"allow_cidrs bare IP", Config{AllowCIDRs: []string{"2a02:cfc0::1"}}, "2a02:cfc0::1", "/", Decision{Reason: ReasonAllowCIDR}},
		{"exempt path", Config{ExemptPaths: []string{"/healthz"}}, "89.160.20.112", "/healthz", Decision{Reason: ReasonExemptPath}},
		{"exempt prefix", Config{ExemptPaths: []string{"/_gateway/"}}, "89.160.20.112", "/_gateway/status", Decision{Reason: ReasonExemptPath}},
		{"exempt escape attempt", Config{ExemptPaths: []string{"/_gateway/"}}, "89.160.20.112", "/_gateway/../cart", Decision{Block: true, Reason: ReasonCountry, Country: "SE"}},
		{"exempt before unknown block", Config{Unknown: "block", ExemptPaths: []string{"/healthz"}}, "10.0.0.1", "/healthz", Decision{Reason: ReasonExemptPath}},
		{"policy page exempt", Config{}, "89.160.20.112", "/_gateway/blocked", Decision{Reason: ReasonExemptPath}},
		{"report mode still decides block", Config{Mode: "report"}, "89.160.20.112", "/", Decision{Block: true, Reason: ReasonCountry, Country: "SE"}},
		{"explicit list", Config{Countries: []string{"JP"}}, "2001:218::1", "/", Decision{Block: true, Reason: ReasonCountry, Country: "JP"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBlocker(t, tt.cfg, db, nil, nil)
			var ip netip.Addr
			if tt.ip != "" {
				ip = netip.MustParseAddr(tt.ip)
			}
			got := b.Decide(ip, tt.path)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decide(%s, %q) (-want +got):\n%s", tt.ip, tt.path, diff)
			}
		})
	}
}

// TestDecideNonISOCode: a code outside ISO 3166-1 (the former Netherlands
// Antilles, AN, appears in geo-whois) follows geoblock.unknown.
func TestDecideNonISOCode(t *testing.T) {
	t.Parallel()
	raw := buildDB(t, 6, "x", map[string]mmdbtype.DataType{
		"1.0.0.0/24": mmdbtype.Map{"country_code": mmdbtype.String("AN")},
	})
	db := openDB(t, GeoIPConfig{CountryDB: writeTemp(t, raw)})
	b := newBlocker(t, Config{Unknown: "block"}, db, nil, nil)
	got := b.Decide(netip.MustParseAddr("1.0.0.1"), "/")
	if want := (Decision{Block: true, Reason: ReasonUnknown}); got != want {
		t.Errorf("Decide(AN) = %+v, want %+v", got, want)
	}
}

func TestDecideLookupError(t *testing.T) {
	t.Parallel()
	db, err := OpenDB(GeoIPConfig{CountryDB: geoIP2Country}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	var logs logBuffer
	cfg := Config{Unknown: "block"}
	cfg.SetDefaults()
	b, err := New(mustPolicy(t, cfg), db, newLogger(&logs), reg, http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	db.Close() // every lookup now fails
	d := b.Decide(netip.MustParseAddr("81.2.69.142"), "/")
	if !d.Block || d.Reason != ReasonLookupError || !errors.Is(d.Err, ErrUnavailable) {
		t.Errorf("Decide on a closed DB = %+v, want a blocking lookup_error", d)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "81.2.69.142:1234"
	b.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnavailableForLegalReasons {
		t.Errorf("status = %d, want 451 (unknown: block)", rec.Code)
	}
	if got := metricValue(t, reg, "gateway_geoblock_lookup_errors_total", map[string]string{}); got != 1 {
		t.Errorf("lookup errors = %v, want 1", got)
	}
	if !strings.Contains(logs.String(), "geoip lookup failed") {
		t.Errorf("no warning logged; logs:\n%s", logs.String())
	}
}

// recordingNext records what reaches the upstream.
type recordingNext struct {
	called  bool
	country []string
}

func (n *recordingNext) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.called = true
	n.country = r.Header.Values("X-Client-Country")
	w.WriteHeader(http.StatusTeapot)
}

func TestServeHTTP(t *testing.T) {
	t.Parallel()
	db := openDB(t, GeoIPConfig{CountryDB: geoIP2Country})
	type want struct {
		status      int
		nextCalled  bool
		country     []string // X-Client-Country seen by next
		contentType string
		link        string
		json        bool
	}
	blocked := want{status: 451, contentType: "text/html; charset=utf-8", link: `</_gateway/blocked>; rel="blocked-by"`}
	blockedJSON := blocked
	blockedJSON.contentType, blockedJSON.json = "application/json", true
	tests := []struct {
		name   string
		cfg    Config
		method string
		path   string
		remote string
		ctxIP  string // set by clientip when not empty
		hdr    map[string]string
		want   want
	}{
		{name: "browser from SE", remote: "89.160.20.112:1", hdr: map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}, want: blocked},
		{name: "API client from SE", remote: "89.160.20.112:1", hdr: map[string]string{"Accept": "application/json"}, want: blockedJSON},
		{name: "curl from SE gets HTML", remote: "89.160.20.112:1", hdr: map[string]string{"Accept": "*/*"}, want: blocked},
		{name: "custom policy url", cfg: Config{PolicyURL: "https://example.com/legal"}, remote: "[2a02:cfc0::1]:1", want: want{
			status: 451, contentType: "text/html; charset=utf-8", link: `<https://example.com/legal>; rel="blocked-by"`}},
		{name: "GB passes with country header, spoof removed", remote: "81.2.69.142:1",
			hdr: map[string]string{"X-Client-Country": "US"}, want: want{status: 418, nextCalled: true, country: []string{"GB"}}},
		{name: "unknown passes without country header", remote: "214.1.1.1:1",
			hdr: map[string]string{"X-Client-Country": "US"}, want: want{status: 418, nextCalled: true}},
		{name: "client IP from context wins over RemoteAddr", remote: "81.2.69.142:1", ctxIP: "89.160.20.112", want: blocked},
		{name: "context IP lets GB through", remote: "89.160.20.112:1", ctxIP: "81.2.69.142", want: want{status: 418, nextCalled: true, country: []string{"GB"}}},
		{name: "report mode passes", cfg: Config{Mode: "report"}, remote: "89.160.20.112:1", want: want{status: 418, nextCalled: true, country: []string{"SE"}}},
		{name: "exempt path passes", cfg: Config{ExemptPaths: []string{"/healthz"}}, path: "/healthz", remote: "89.160.20.112:1",
			hdr: map[string]string{"X-Client-Country": "US"}, want: want{status: 418, nextCalled: true}},
		{name: "allow_cidrs passes", cfg: Config{AllowCIDRs: []string{"89.160.20.112"}}, remote: "89.160.20.112:1", want: want{status: 418, nextCalled: true}},
		{name: "policy page readable when blocked", path: "/_gateway/blocked", remote: "89.160.20.112:1", want: want{status: 200, contentType: "text/html; charset=utf-8"}},
		{name: "policy page POST goes on", method: http.MethodPost, path: "/_gateway/blocked", remote: "89.160.20.112:1", want: want{status: 418, nextCalled: true}},
		{name: "HEAD blocked has no body", method: http.MethodHead, remote: "89.160.20.112:1", want: blocked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			next := &recordingNext{}
			b := newBlocker(t, tt.cfg, db, nil, next)
			method, path := tt.method, tt.path
			if method == "" {
				method = http.MethodGet
			}
			if path == "" {
				path = "/cart"
			}
			req := httptest.NewRequest(method, path, nil)
			req.RemoteAddr = tt.remote
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			if tt.ctxIP != "" {
				req = req.WithContext(clientip.NewContext(req.Context(), netip.MustParseAddr(tt.ctxIP)))
			}
			rec := httptest.NewRecorder()
			b.ServeHTTP(rec, req)
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)

			got := want{status: res.StatusCode, nextCalled: next.called, country: next.country,
				contentType: res.Header.Get("Content-Type"), link: res.Header.Get("Link")}
			w := tt.want
			if w.status == 451 {
				got.json = strings.HasPrefix(got.contentType, "application/json")
			}
			if diff := cmp.Diff(w, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Fatalf("response (-want +got):\n%s\nbody: %s", diff, body)
			}
			if w.status == 451 || w.status == 200 {
				if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", cc)
				}
				if v := res.Header.Get("Vary"); v != "Accept" {
					t.Errorf("Vary = %q, want Accept", v)
				}
			}
			switch {
			case method == http.MethodHead:
				if len(body) != 0 {
					t.Errorf("HEAD body = %q, want empty", body)
				}
			case w.json:
				var got map[string]map[string]string
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatalf("JSON body %q: %v", body, err)
				}
				want := map[string]map[string]string{"error": {"code": "unavailable_in_region", "message": "This service is not available in your region."}}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("JSON body (-want +got):\n%s", diff)
				}
			case w.status == 451:
				if !strings.Contains(string(body), "<title>Not available in your region</title>") || !strings.Contains(string(body), "451") {
					t.Errorf("HTML body lacks the title or status: %s", body)
				}
			}
		})
	}
}

func TestServeHTTPCustomTemplate(t *testing.T) {
	t.Parallel()
	db := openDB(t, GeoIPConfig{CountryDB: geoIP2Country})
	tmpl := writeTemp(t, []byte(`<h1>Blocked {{.Country}}</h1><a href="{{.PolicyURL}}">why</a>`))
	b := newBlocker(t, Config{PageTemplate: tmpl, PolicyURL: "https://example.com/legal?a=1&b=2"}, db, nil, nil)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "89.160.20.112:1"
	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, req)
	if got, want := rec.Body.String(), `<h1>Blocked SE</h1><a href="https://example.com/legal?a=1&amp;b=2">why</a>`; got != want {
		t.Errorf("custom page = %q, want %q", got, want)
	}
}

func TestBlockerMetrics(t *testing.T) {
	t.Parallel()
	db := openDB(t, GeoIPConfig{CountryDB: geoIP2Country})
	reg := prometheus.NewRegistry()
	b := newBlocker(t, Config{Mode: "report", ExemptPaths: []string{"/healthz"}}, db, reg, http.NotFoundHandler())
	for _, r := range []struct{ ip, path string }{
		{"89.160.20.112", "/"}, {"89.160.20.112", "/x"}, {"81.2.69.142", "/"}, {"214.1.1.1", "/"}, {"89.160.20.112", "/healthz"},
	} {
		req := httptest.NewRequest(http.MethodGet, r.path, nil)
		req.RemoteAddr = netip.AddrPortFrom(netip.MustParseAddr(r.ip), 1).String()
		b.ServeHTTP(httptest.NewRecorder(), req)
	}
	for _, c := range []struct {
		outcome, country string
		want             float64
	}{
		{"would_block", "SE", 2}, {"allowed", "GB", 1}, {"allowed", "unknown", 1}, {"exempt", "unknown", 1},
	} {
		got := metricValue(t, reg, "gateway_geoblock_decisions_total", map[string]string{"outcome": c.outcome, "country": c.country})
		if got != c.want {
			t.Errorf("decisions{outcome=%s,country=%s} = %v, want %v", c.outcome, c.country, got, c.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	db := openDB(t, GeoIPConfig{CountryDB: geoIP2Country})
	cfg := Config{Mode: "nope"}
	cfg.SetDefaults()
	if _, err := NewPolicy(cfg); err == nil {
		t.Error("NewPolicy with a bad mode = nil error")
	}
	cfg.Mode = "enforce"
	p := mustPolicy(t, cfg)
	if _, err := New(nil, db, nil, nil, http.NotFoundHandler()); err == nil {
		t.Error("New with a nil policy = nil error")
	}
	if _, err := New(p, nil, nil, nil, http.NotFoundHandler()); err == nil {
		t.Error("New with a nil DB = nil error")
	}
	if _, err := New(p, db, nil, nil, nil); err == nil {
		t.Error("New with a nil next = nil error")
	}
}

// TestBlockedPageCachePerCountry checks that the cached 451 page is kept
// per country: a visitor from FR must not be told they are in SE.
func TestBlockedPageCachePerCountry(t *testing.T) {
	db := openDB(t, GeoIPConfig{CountryDB: geoIP2Country})
	b := newBlocker(t, Config{}, db, nil, &recordingNext{})
	for range 2 { // the second round is served from the cache
		for _, c := range []struct{ remote, country string }{{"89.160.20.112:1", "SE"}, {"[2a02:cfc0::1]:1", "FR"}} {
			req := httptest.NewRequest(http.MethodGet, "/cart", nil)
			req.RemoteAddr = c.remote
			rec := httptest.NewRecorder()
			b.ServeHTTP(rec, req)
			if rec.Code != 451 || !strings.Contains(rec.Body.String(), "("+c.country+")") {
				t.Errorf("451 page for %s = %d, want it to name %s:\n%.300s", c.remote, rec.Code, c.country, rec.Body.String())
			}
			if got := rec.Header().Get("Content-Length"); got != strconv.Itoa(rec.Body.Len()) {
				t.Errorf("Content-Length = %s, body is %d bytes", got, rec.Body.Len())
			}
		}
	}
}

func mustPolicy(t testing.TB, cfg Config) *Policy {
	t.Helper()
	p, err := NewPolicy(cfg)
	if err != nil {
		t.Fatalf("NewPolicy(%+v): %v", cfg, err)
	}
	return p
}
