package gateway

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/vpsgate/gateway/audit"
	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/internal/mail"
	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/kyc"
	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/refunds"
	"github.com/vpsgate/gateway/screening"
	"github.com/vpsgate/gateway/screening/blocklist"
	"github.com/vpsgate/gateway/webhooks"
)

const (
	consoleSecret   = "console-secret-0123456789abcdefghijkl"
	officerEmail    = "olga@example.com"
	officerPassword = "correct horse battery staple"
	adminEmail      = "adam@example.com"
	adminPassword   = "admin password for the tests"
)

// consoleAuthConfig is the auth section of the console tests: one officer
// and one admin.
func consoleAuthConfig(t testing.TB) auth.Config {
	t.Helper()
	// bcrypt's lowest cost: the production cost (12) takes seconds per
	// login under the race detector.
	oh, err := bcrypt.GenerateFromPassword([]byte(officerPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	ah, err := bcrypt.GenerateFromPassword([]byte(adminPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := auth.Config{JWTSecret: consoleSecret, Users: []auth.User{
		{Email: officerEmail, PasswordHash: string(oh), Role: "officer"},
		{Email: adminEmail, PasswordHash: string(ah), Role: "admin"},
	}}
	cfg.SetDefaults()
	return cfg
}

// consoleClient drives the console handler directly, one cookie jar, from
// a given client address.
type consoleClient struct {
	t      *testing.T
	h      http.Handler
	cookie string
	addr   string
}

func (cc *consoleClient) do(method, path string, form url.Values, hdr map[string]string) *httptest.ResponseRecorder {
	cc.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(method, "http://admin.test"+path, body)
	r.RemoteAddr = cc.addr
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cc.cookie != "" {
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: cc.cookie})
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	cc.h.ServeHTTP(rec, r)
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			cc.cookie = c.Value
		}
	}
	return rec
}

func (cc *consoleClient) login(email, password string) *httptest.ResponseRecorder {
	cc.t.Helper()
	return cc.do("POST", "/console/login", url.Values{"email": {email}, "password": {password}}, nil)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]{32})"`)

func (cc *consoleClient) csrf(path string) string {
	cc.t.Helper()
	rec := cc.do("GET", path, nil, nil)
	m := csrfField.FindStringSubmatch(rec.Body.String())
	if rec.Code != 200 || m == nil {
		cc.t.Fatalf("GET %s: %d, no csrf token:\n%.800s", path, rec.Code, rec.Body)
	}
	return m[1]
}

// newTestConsole is the admin engine with the console on: real KYC
// (Redis, MinIO) and the real login limiter on Redis.
func newTestConsole(t *testing.T, now func() time.Time) (http.Handler, *kyc.Service, *fakeAudit) {
	t.Helper()
	cfg := consoleAuthConfig(t)
	svc := newTestKYC(t)
	al := &fakeAudit{}
	h, _ := newTestAPIWith(t, func(d *APIDeps) {
		d.KYC, d.Audit, d.Orders, d.Blocklist = svc, al, &fakeOrders{}, &removingBlocklist{}
		d.Console = &ConsoleDeps{Sessions: auth.NewSessions(cfg, now),
			Limiter: auth.NewLoginLimiter(cfg, testenv.RedisClient(t), testenv.KeyPrefix(t)+"login:")}
	})
	return h, svc, al
}

// uploadCase makes a pending case whose customer wrote legalName.
func uploadCase(t *testing.T, svc *kyc.Service, account, legalName string) {
	t.Helper()
	link, err := svc.KYCLink("key:shop", account, "Ann Lee", "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	uploadTo(t, svc, link, legalName)
}

// uploadTo uploads a passport through link.
func uploadTo(t *testing.T, svc *kyc.Service, link, legalName string) {
	t.Helper()
	var img bytes.Buffer
	if err := jpeg.Encode(&img, image.NewGray(image.Rect(0, 0, 40, 30)), nil); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.WriteField("legal_name", legalName)
	w.WriteField("document_type", "passport")
	fw, _ := w.CreateFormFile("front", "passport.jpg")
	fw.Write(img.Bytes())
	w.Close()
	_, err := svc.Submit(context.Background(), kyc.Upload{Token: strings.SplitN(link, "token=", 2)[1], ContentType: w.FormDataContentType(),
		ContentLength: int64(b.Len()), Body: &b, Addr: "192.0.2.x", Owner: "key:shop"})
	if err != nil {
		t.Fatal(err)
	}
}

// TestConsoleSecurity: wrong password, lock-out per account and per
// address (the right password is then not even checked), forged and
// expired session cookies, cross-site POSTs and POSTs without the
// session's CSRF token, customer text with markup and a bidi override
// shown harmless, an officer trying an admin action, the headers.
func TestConsoleSecurity(t *testing.T) {
	h, svc, al := newTestConsole(t, time.Now)
	officer := &consoleClient{t: t, h: h, addr: "198.51.100.1:4000"}

	t.Run("no session", func(t *testing.T) {
		rec := (&consoleClient{t: t, h: h, addr: "198.51.100.9:1"}).do("GET", "/console/kyc", nil, nil)
		if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/console/login?next=") {
			t.Errorf("GET /console/kyc without a session: %d %v", rec.Code, rec.Header())
		}
	})

	t.Run("login page headers", func(t *testing.T) {
		rec := officer.do("GET", "/console/login", nil, nil)
		csp := rec.Header().Get("Content-Security-Policy")
		if rec.Code != 200 || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") ||
			rec.Header().Get("X-Frame-Options") != "DENY" || strings.Contains(rec.Body.String(), "<script>") {
			t.Errorf("login page: %d %v", rec.Code, rec.Header())
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		rec := officer.login(officerEmail, "wrong")
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "Wrong email or password") || officer.cookie != "" {
			t.Errorf("wrong password: %d cookie %q", rec.Code, officer.cookie)
		}
		if got := al.appended[len(al.appended)-1]; got.Action != "console.login_failed" {
			t.Errorf("audit: %+v", got)
		}
	})

	t.Run("login", func(t *testing.T) {
		rec := officer.login(officerEmail, officerPassword)
		if rec.Code != http.StatusSeeOther || officer.cookie == "" {
			t.Fatalf("login: %d %s", rec.Code, rec.Body)
		}
		var sc *http.Cookie
		for _, c := range rec.Result().Cookies() {
			sc = c
		}
		if !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/console/" {
			t.Errorf("cookie: %+v", sc)
		}
		if rec := officer.do("GET", "/console/kyc", nil, nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "KYC queue") {
			t.Errorf("queue after login: %d", rec.Code)
		}
	})

	t.Run("lock-out per account", func(t *testing.T) {
		// Five failures from five addresses lock the account: the sixth
		// try, with the right password, is refused unchecked.
		for i := range 5 {
			c := &consoleClient{t: t, h: h, addr: "203.0.113." + string(rune('1'+i)) + ":1"}
			if rec := c.login(adminEmail, "guess"); rec.Code != http.StatusUnauthorized {
				t.Fatalf("guess %d: %d", i, rec.Code)
			}
		}
		c := &consoleClient{t: t, h: h, addr: "203.0.113.200:1"}
		rec := c.login(adminEmail, adminPassword)
		if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || c.cookie != "" {
			t.Errorf("right password on a locked account: %d %v", rec.Code, rec.Header())
		}
	})

	t.Run("lock-out per address", func(t *testing.T) {
		c := &consoleClient{t: t, h: h, addr: "192.0.2.50:1"}
		for i := range 5 {
			c.login("nobody"+string(rune('a'+i))+"@example.com", "guess")
		}
		if rec := c.login(officerEmail, officerPassword); rec.Code != http.StatusTooManyRequests {
			t.Errorf("right password from a locked address: %d", rec.Code)
		}
	})

	t.Run("forged and expired sessions", func(t *testing.T) {
		other := consoleAuthConfig(t)
		other.JWTSecret = strings.Repeat("x", 40)
		forged, _, _ := auth.NewSessions(other, time.Now).Mint(auth.Principal{Name: adminEmail, Role: auth.RoleAdmin}, "")
		expired, _, _ := auth.NewSessions(consoleAuthConfig(t), func() time.Time { return time.Now().Add(-time.Hour) }).
			Mint(auth.Principal{Name: officerEmail, Role: auth.RoleOfficer}, "")
		// An officer API token is not a session.
		apiTok, _ := newTestAuthToken(t)
		for name, tok := range map[string]string{"forged": forged, "expired": expired, "api token": apiTok, "garbage": "a.b.c"} {
			c := &consoleClient{t: t, h: h, addr: "198.51.100.2:1", cookie: tok}
			if rec := c.do("GET", "/console/kyc", nil, nil); rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/console/login") {
				t.Errorf("%s session: %d", name, rec.Code)
			}
		}
	})

	t.Run("csrf", func(t *testing.T) {
		token := officer.csrf("/console/blocklist")
		form := url.Values{"csrf": {token}, "kind": {"email"}, "value": {"x@example.com"}, "reason": {"fraud"}}
		if rec := officer.do("POST", "/console/blocklist", form, map[string]string{"Sec-Fetch-Site": "cross-site"}); rec.Code != http.StatusForbidden {
			t.Errorf("cross-site POST: %d", rec.Code)
		}
		if rec := officer.do("POST", "/console/blocklist", form, map[string]string{"Origin": "https://evil.example"}); rec.Code != http.StatusForbidden {
			t.Errorf("POST from another origin: %d", rec.Code)
		}
		for _, bad := range []string{"", strings.Repeat("0", 32)} {
			f := url.Values{"csrf": {bad}, "kind": {"email"}, "value": {"x@example.com"}, "reason": {"fraud"}}
			if rec := officer.do("POST", "/console/blocklist", f, nil); rec.Code != http.StatusForbidden {
				t.Errorf("POST with csrf %q: %d", bad, rec.Code)
			}
		}
		if rec := officer.do("POST", "/console/blocklist", form, map[string]string{"Sec-Fetch-Site": "same-origin"}); rec.Code != http.StatusSeeOther {
			t.Errorf("same-origin POST with the token: %d %s", rec.Code, rec.Body)
		}
		if got := al.appended[len(al.appended)-1]; got.Action != "blocklist.added" || got.Actor != "officer:"+officerEmail {
			t.Errorf("audit: %+v", got)
		}
	})

	t.Run("officer may not do admin actions", func(t *testing.T) {
		token := officer.csrf("/console/blocklist")
		if rec := officer.do("POST", "/console/blocklist/remove", url.Values{"csrf": {token}, "kind": {"email"}, "value": {"x@example.com"}}, nil); rec.Code != http.StatusForbidden {
			t.Errorf("officer removing: %d", rec.Code)
		}
		if rec := officer.do("GET", "/console/users", nil, nil); rec.Code != http.StatusForbidden {
			t.Errorf("officer on users: %d", rec.Code)
		}
	})

	t.Run("customer text shown harmless", func(t *testing.T) {
		uploadCase(t, svc, "77", "<script>alert(1)</script>Ann \u202Egnp.exe")
		rec := officer.do("GET", "/console/kyc", nil, nil)
		body := rec.Body.String()
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "\u202E") ||
			!strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;Ann ⟦U&#43;202E⟧gnp.exe") {
			t.Errorf("queue shows the name as:\n%s", body)
		}
	})
}

func TestVisible(t *testing.T) {
	for in, want := range map[string]string{
		"Ann Lee":           "Ann Lee",
		"a\u202Eb":          "a⟦U+202E⟧b",
		"x\u200By\u2066z":   "x⟦U+200B⟧y⟦U+2066⟧z",
		"tab\there\x00":     "tab⟦U+0009⟧here⟦U+0000⟧",
		"Zoë Ñúñez 李":       "Zoë Ñúñez 李",
		"\uFEFFbom\u061Cal": "⟦U+FEFF⟧bom⟦U+061C⟧al",
	} {
		if got := visible(in); got != want {
			t.Errorf("visible(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzVisible(f *testing.F) {
	f.Add("a\u202Eb")
	f.Add("<script>")
	f.Fuzz(func(t *testing.T, s string) {
		for _, r := range visible(s) {
			if r == '\u202E' || r == '\u200B' || r < 0x20 {
				t.Fatalf("visible(%q) kept %U", s, r)
			}
		}
	})
}

// newTestAuthToken is an officer API token of the console's secret.
func newTestAuthToken(t *testing.T) (string, error) {
	a, err := auth.New(consoleAuthConfig(t), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return a.Mint(officerEmail, auth.RoleOfficer, time.Hour)
}

// TestConsoleTemplates renders every page with empty and with full data:
// a template that cannot execute fails here, not in front of an officer.
func TestConsoleTemplates(t *testing.T) {
	pages := consolePages()
	score := 42
	full := map[string]any{
		"Me": auth.Principal{Name: "o@example.com", Role: auth.RoleOfficer}, "CSRF": strings.Repeat("a", 32), "Admin": true,
		"Cases": []kyc.View{{Case: kyc.Case{ID: "C1", Status: kyc.StatusPending, LegalName: "Ann", Reasons: []kyc.Reason{{Code: "name_mismatch", Detail: "x"}},
			BillingScore: &score, Documents: []kyc.Document{{ID: "d1", Side: "front"}}}, AgeSeconds: 4000}},
		"Case": kyc.View{Case: kyc.Case{ID: "C1", Status: kyc.StatusPending, BillingScore: &score, EmailScore: &score,
			Documents: []kyc.Document{{ID: "d1", Side: "front"}}}},
		"Statuses": []kyc.Status{kyc.StatusPending}, "Status": kyc.StatusPending,
		"Order":    orders.Result{ScreeningID: "s1", Reasons: []screening.Reason{{Code: "c", Detail: "d"}}},
		"Timeline": []orders.TimelineEntry{{Type: "screened"}}, "Orders": []string{"s1"},
		"Entries": []audit.Entry{{Seq: 1, Before: []byte(`{"a":1}`)}}, "Q": url.Values{}, "Users": []auth.User{{Email: "a@b", Role: "admin"}},
		"Error": apiError{Message: "m", Field: "f"}, "Webhooks": true, "DevMail": true, "Reviews": true, "Ages": []int64{60},
		"Page_":     webhooks.Page{Deliveries: []webhooks.Delivery{{ID: "d1", Order: "s1", State: "dead", LastStatus: 500}}, Next: "x"},
		"Endpoints": []webhooks.EndpointState{{Name: "prov", Disabled: true}},
		"D":         webhooks.Delivery{ID: "d1", History: []webhooks.Attempt{{Status: 200}, {Status: 500, Error: "e"}}, Body: []byte(`{}`)},
		"Mail":      []mail.DevMail{{To: "a@b", Text: "line\nline"}},
		"Accounts":  true, "Account": "42", "FlagKinds": refunds.FlagKinds, "Flash": "flag added",
		"Standing": &orders.Standing{Owner: "key:shop", Account: "42", Identity: "verified", EmailVerified: true,
			Restriction: &orders.Restriction{Reason: "chargeback", Order: "s1"}, Flags: []orders.Flag{{Kind: refunds.FlagBans, Reason: "r"}},
			Orders:  []orders.Result{{ScreeningID: "s1", Status: orders.StatusHeld, Termination: &orders.Termination{Reason: "cb"}}},
			Refunds: []orders.Money{{ScreeningID: "s1", Amount: "1.00"}}, Chargebacks: []orders.Money{{ScreeningID: "s1", Amount: "2.00"}}},
	}
	for name, tpl := range pages {
		for i, data := range []map[string]any{{"Error": apiError{}}, full} {
			data = maps.Clone(data)
			data["Page"] = name
			if name == "reviews" && i == 1 {
				data["Orders"] = []orders.Result{{ScreeningID: "s1", Reasons: []screening.Reason{{Code: "c", Detail: "d"}}}}
			}
			if name == "blocklist" && i == 1 {
				data["Entries"] = []blocklist.Entry{{Kind: "email", Value: "a***@b"}}
			}
			var b bytes.Buffer
			if err := tpl.ExecuteTemplate(&b, "layout", data); err != nil {
				t.Errorf("page %s: %v", name, err)
			}
		}
	}
}

// TestConsoleAdminAndRenewal: an admin removes a blocklist entry, claims
// a case and erases its account's documents (through the API's service calls, audited);
// a session past half its life is renewed by the next request, and one
// past its life sends the browser to sign in again.
func TestConsoleAdminAndRenewal(t *testing.T) {
	var offset time.Duration
	h, svc, al := newTestConsole(t, func() time.Time { return time.Now().Add(offset) })
	admin := &consoleClient{t: t, h: h, addr: "198.51.100.4:1"}
	if rec := admin.login(adminEmail, adminPassword); rec.Code != http.StatusSeeOther {
		t.Fatalf("admin login: %d", rec.Code)
	}
	token := admin.csrf("/console/users")
	if rec := admin.do("POST", "/console/blocklist/remove", url.Values{"csrf": {token}, "kind": {"email"}, "value": {"x@example.com"}}, nil); rec.Code != http.StatusSeeOther {
		t.Errorf("admin removing: %d %s", rec.Code, rec.Body)
	}
	if got := al.appended[len(al.appended)-1]; got.Action != "blocklist.removed" || got.Actor != "admin:"+adminEmail {
		t.Errorf("audit: %+v", got)
	}
	uploadCase(t, svc, "88", "Erin Case")
	cases, _, _, err := svc.Cases(context.Background(), kyc.StatusPending, 0, 10)
	if err != nil || len(cases) != 1 {
		t.Fatalf("cases: %v %d", err, len(cases))
	}
	if rec := admin.do("POST", "/console/kyc/"+cases[0].ID+"/claim", url.Values{"csrf": {token}}, nil); rec.Code != http.StatusSeeOther {
		t.Errorf("claim: %d %s", rec.Code, rec.Body)
	}
	if v, err := svc.Get(context.Background(), cases[0].ID); err != nil || v.ClaimedBy != "admin:"+adminEmail {
		t.Errorf("case after claim: %q %v", v.ClaimedBy, err)
	}
	rec := admin.do("POST", "/console/kyc-erase", url.Values{"csrf": {token}, "case": {cases[0].ID}}, nil)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("erase: %d %s", rec.Code, rec.Body)
	}
	if v, err := svc.Get(context.Background(), cases[0].ID); err != nil || !v.Redacted {
		t.Errorf("case after erasure: %+v %v", v, err)
	}

	// A case of orders without an account id (a guest checkout): the
	// queue and the case name its email reference and masked address, no
	// account page; erasure reaches it by the case.
	guest, err := svc.KYCEmailLink("key:shop", "GUESTHASH", "Ann Lee", "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	uploadTo(t, svc, guest, "Ann Lee")
	cases, _, _, err = svc.Cases(context.Background(), kyc.StatusPending, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(cases, func(v kyc.View) bool { return v.Reference == "email:key:shop/GUESTHASH" })
	if i < 0 {
		t.Fatalf("no guest case among %+v", cases)
	}
	gc := cases[i]
	if rec := admin.do("GET", "/console/kyc", nil, nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "no account id: a***@example.com") {
		t.Errorf("queue with a guest case: %d %s", rec.Code, rec.Body)
	}
	rec = admin.do("GET", "/console/kyc/"+gc.ID, nil, nil)
	if page := rec.Body.String(); rec.Code != 200 || !strings.Contains(page, "email reference <code>email:key:shop/GUESTHASH</code>") ||
		!strings.Contains(page, "a***@example.com") || strings.Contains(page, `href="/console/accounts`) {
		t.Errorf("guest case page: %d %s", rec.Code, page)
	}
	if rec := admin.do("POST", "/console/kyc-erase", url.Values{"csrf": {token}, "case": {gc.ID}}, nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("erasing the guest case: %d %s", rec.Code, rec.Body)
	}
	if v, err := svc.Get(context.Background(), gc.ID); err != nil || !v.Redacted {
		t.Errorf("guest case after erasure: %+v %v", v, err)
	}

	first := admin.cookie
	offset = auth.SessionTTL/2 + time.Minute
	if rec := admin.do("GET", "/console/users", nil, nil); rec.Code != 200 || admin.cookie == first {
		t.Errorf("past half its life: %d, cookie renewed %v", rec.Code, admin.cookie != first)
	}
	// The renewed session keeps its CSRF token: the open forms still work.
	if got := admin.csrf("/console/users"); got != token {
		t.Errorf("csrf token changed on renewal")
	}
	offset += auth.SessionTTL + time.Minute
	if rec := admin.do("GET", "/console/users", nil, nil); rec.Code != http.StatusSeeOther {
		t.Errorf("expired session: %d", rec.Code)
	}
}
