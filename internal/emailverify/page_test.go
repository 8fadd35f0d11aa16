package emailverify

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/internal/clientip"
)

func (f *fixture) handler(t *testing.T) http.Handler {
	t.Helper()
	h, err := f.svc.Handler()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(h http.Handler, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", PagePath+"?token="+url.QueryEscape(token), nil)
	r = r.WithContext(clientip.NewContext(r.Context(), netip.MustParseAddr("192.0.2.7")))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func post(h http.Handler, form url.Values) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", PagePath, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r = r.WithContext(clientip.NewContext(r.Context(), netip.MustParseAddr("192.0.2.7")))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestPage(t *testing.T) {
	f := newFixture(t, Config{})
	h := f.handler(t)
	// The account id has a character base64url lacks, so that finding it
	// on the page means the page shows it, not that the token (which the
	// page carries) happens to contain it.
	tok := f.link(t, "key:shop", "acct~42", "ann@example.com")
	a, err := auth.New(auth.Config{JWTSecret: string(testSecret), TokenTTL: time.Hour, TokenMaxTTL: 24 * time.Hour}, f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	officer, err := a.Mint("olga", auth.RoleAdmin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wrongAud := goodClaims(f.clock.Now())
	wrongAud.Audience = jwt.ClaimStrings{"kyc-upload"}

	confirm := url.Values{"token": {tok}, "action": {"confirm"}}
	steps := []struct {
		name       string
		do         func() *httptest.ResponseRecorder
		wantStatus int
		want       []string
		notWant    []string
		wantCalls  int
	}{
		{name: "GET shows a confirm button and consumes nothing", do: func() *httptest.ResponseRecorder { return get(h, tok) },
			wantStatus: 200, want: []string{"Confirm your email address", `name="token" value="` + tok + `"`, `value="confirm"`, "a***@example.com"},
			notWant: []string{"ann@example.com", "acct~42", "key:shop"}},
		{name: "GET again (a mail scanner, then the customer)", do: func() *httptest.ResponseRecorder { return get(h, tok) }, wantStatus: 200, want: []string{"Confirm your email address"}},
		{name: "POST confirm verifies", do: func() *httptest.ResponseRecorder { return post(h, confirm) }, wantStatus: 200,
			want: []string{"Email address verified"}, notWant: []string{tok, "<form"}, wantCalls: 1},
		{name: "second click", do: func() *httptest.ResponseRecorder { return post(h, confirm) }, wantStatus: 200,
			want: []string{"Already verified", "already been used"}, notWant: []string{"<form"}, wantCalls: 1},
		{name: "GET after use", do: func() *httptest.ResponseRecorder { return get(h, tok) }, wantStatus: 200, want: []string{"Already verified"}, wantCalls: 1},
		{name: "forged", do: func() *httptest.ResponseRecorder {
			return post(h, url.Values{"token": {sign(t, jwt.SigningMethodHS256, testSecret, goodClaims(f.clock.Now()))}, "action": {"confirm"}})
		}, wantStatus: 400, want: []string{"This link is not valid"}, notWant: []string{"ann", "example.com", "<form"}, wantCalls: 1},
		{name: "officer token", do: func() *httptest.ResponseRecorder {
			return post(h, url.Values{"token": {officer}, "action": {"confirm"}})
		},
			wantStatus: 400, want: []string{"This link is not valid"}, notWant: []string{"olga", "<form"}, wantCalls: 1},
		{name: "wrong audience", do: func() *httptest.ResponseRecorder {
			return get(h, sign(t, jwt.SigningMethodHS256, signingKey, wrongAud))
		},
			wantStatus: 400, want: []string{"This link is not valid"}, notWant: []string{"example.com"}, wantCalls: 1},
		{name: "no token", do: func() *httptest.ResponseRecorder { return get(h, "") }, wantStatus: 400, want: []string{"This link is not valid"}, wantCalls: 1},
		{name: "unknown action", do: func() *httptest.ResponseRecorder { return post(h, url.Values{"token": {tok}, "action": {"delete"}}) }, wantStatus: 400, wantCalls: 1},
	}
	for _, s := range steps {
		w := s.do()
		body := w.Body.String()
		if w.Code != s.wantStatus {
			t.Fatalf("%s: status = %d, want %d\n%s", s.name, w.Code, s.wantStatus, body)
		}
		for _, want := range s.want {
			if !strings.Contains(body, want) {
				t.Errorf("%s: body lacks %q:\n%s", s.name, want, body)
			}
		}
		for _, nw := range s.notWant {
			if strings.Contains(body, nw) {
				t.Errorf("%s: body shows %q:\n%s", s.name, nw, body)
			}
		}
		for k, v := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "Content-Type": "text/html; charset=utf-8"} {
			if got := w.Header().Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", s.name, k, got, v)
			}
		}
		if got := len(f.ver.Calls()); got != s.wantCalls {
			t.Fatalf("%s: EmailVerified calls = %d, want %d", s.name, got, s.wantCalls)
		}
	}
}

// TestPageExpiredResend: an expired link offers a new one, which goes to
// the token's own email whatever the form says.
func TestPageExpiredResend(t *testing.T) {
	f := newFixture(t, Config{ResendPerAddress: 2})
	h := f.handler(t)
	tok := f.link(t, "key:shop", "42", "ann@example.com")
	f.clock.Advance(48 * time.Hour)
	w := get(h, tok)
	if w.Code != http.StatusGone || !strings.Contains(w.Body.String(), "This link has expired") || !strings.Contains(w.Body.String(), `value="resend"`) {
		t.Fatalf("GET expired = %d:\n%s", w.Code, w.Body)
	}
	w = post(h, url.Values{"token": {tok}, "action": {"confirm"}})
	if w.Code != http.StatusGone || len(f.ver.Calls()) != 0 {
		t.Fatalf("POST confirm expired = %d, calls %v", w.Code, f.ver.Calls())
	}
	// A visitor adding an address of their own is not heard.
	w = post(h, url.Values{"token": {tok}, "action": {"resend"}, "email": {"mallory@evil.example"}})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "New link sent") {
		t.Fatalf("POST resend = %d:\n%s", w.Code, w.Body)
	}
	msgs := f.outbox.Messages()
	if len(msgs) != 1 || msgs[0].To != "ann@example.com" {
		t.Fatalf("messages = %+v, want one to ann@example.com", msgs)
	}
	// Past the address limit: 429 with Retry-After, no mail.
	other := f.link(t, "key:shop", "43", "bo@example.com")
	post(h, url.Values{"token": {other}, "action": {"resend"}})
	w = post(h, url.Values{"token": {other}, "action": {"resend"}})
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("POST resend over the limit = %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if got := len(f.outbox.Messages()); got != 2 {
		t.Errorf("messages = %d, want 2", got)
	}
}

// TestPageEscapes: the token's email is the only account data on the page;
// it is masked and escaped.
func TestPageEscapes(t *testing.T) {
	f := newFixture(t, Config{})
	h := f.handler(t)
	// Characters an address may lawfully hold in its domain (RFC 5322
	// atext) that mean something in HTML.
	email := `ann@x&y'{z}.example`
	tok := f.link(t, "key:shop", `<script>alert(1)</script>`, email)
	body := get(h, tok).Body.String()
	for _, bad := range []string{`x&y'`, "<script>", "alert(1)"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains unescaped %q:\n%s", bad, body)
		}
	}
	if !strings.Contains(body, "a***@x&amp;y&#39;{z}.example") {
		t.Errorf("page lacks the escaped masked email:\n%s", body)
	}
	// A multi-byte first letter is kept whole (no half a UTF-8 sequence).
	body = get(h, f.link(t, "key:shop", "44", "élan@example.com")).Body.String()
	if !strings.Contains(body, "é***@example.com") || !utf8.ValidString(body) {
		t.Errorf("page masks élan@example.com wrongly:\n%s", body)
	}
}

func TestPageRefusals(t *testing.T) {
	f := newFixture(t, Config{})
	h := f.handler(t)
	tok := f.link(t, "key:shop", "42", "ann@example.com")
	tests := []struct {
		name       string
		req        func() *http.Request
		wantStatus int
	}{
		{"other path", func() *http.Request { return httptest.NewRequest("GET", "/_gateway/elsewhere", nil) }, 404},
		// No redirect to a cleaned path: every other spelling is 404.
		{"double slash", func() *http.Request { return httptest.NewRequest("GET", "/"+PagePath+"?token="+tok, nil) }, 404},
		{"trailing slash", func() *http.Request { return httptest.NewRequest("GET", PagePath+"/?token="+tok, nil) }, 404},
		{"dot segment", func() *http.Request {
			return httptest.NewRequest("GET", "/_gateway/x/.."+PagePath[len("/_gateway"):]+"?token="+tok, nil)
		}, 404},
		{"upper case", func() *http.Request { return httptest.NewRequest("GET", "/_GATEWAY/verify-email?token="+tok, nil) }, 404},
		{"PUT", func() *http.Request { return httptest.NewRequest("PUT", PagePath, nil) }, 405},
		{"POST JSON", func() *http.Request {
			r := httptest.NewRequest("POST", PagePath, strings.NewReader(`{"token":"`+tok+`","action":"confirm"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, 415},
		{"POST too large", func() *http.Request {
			r := httptest.NewRequest("POST", PagePath, strings.NewReader("action=confirm&token="+tok+"&pad="+strings.Repeat("a", maxFormBytes)))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, 400},
		{"POST from another site", func() *http.Request {
			r := httptest.NewRequest("POST", PagePath, strings.NewReader("action=confirm&token="+tok))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			return r
		}, 403},
		{"token in the query of a POST is not read", func() *http.Request {
			r := httptest.NewRequest("POST", PagePath+"?token="+tok, strings.NewReader("action=confirm"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tt.req())
			if w.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d\n%s", w.Code, tt.wantStatus, w.Body)
			}
		})
	}
	if calls := f.ver.Calls(); len(calls) != 0 {
		t.Errorf("EmailVerified called: %v", calls)
	}
}

// TestPageUnavailable: the lifecycle down is a page that says "try again",
// and the link still works.
func TestPageUnavailable(t *testing.T) {
	f := newFixture(t, Config{})
	h := f.handler(t)
	tok := f.link(t, "key:shop", "42", "ann@example.com")
	f.ver.SetFail(errors.New("down"))
	w := post(h, url.Values{"token": {tok}, "action": {"confirm"}})
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "your link still works") {
		t.Fatalf("POST with the lifecycle down = %d:\n%s", w.Code, w.Body)
	}
	f.ver.SetFail(nil)
	if w := post(h, url.Values{"token": {tok}, "action": {"confirm"}}); w.Code != 200 || len(f.ver.Calls()) != 1 {
		t.Fatalf("POST again = %d, calls %v", w.Code, f.ver.Calls())
	}
}
