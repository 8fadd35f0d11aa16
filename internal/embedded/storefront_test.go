package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var fixedNow = time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)

// newTestShop serves the storefront with a fixed clock and sequential ids.
func newTestShop(t *testing.T) *httptest.Server {
	t.Helper()
	var n atomic.Int64
	h := newStorefront(discardLogger(), func() time.Time { return fixedNow },
		func() string { return fmt.Sprintf("DEMO-TEST%d", n.Add(1)) })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", u, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func post(t *testing.T, u, contentType string, body io.Reader, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, body)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", u, err)
	}
	return resp.StatusCode, string(b)
}

var screeningHeaders = http.Header{
	HeaderScreeningID:       {"scr_01HZX"},
	HeaderScreeningDecision: {"review"},
	HeaderScreeningScore:    {"42"},
}

func TestStorefrontProducts(t *testing.T) {
	t.Parallel()
	srv := newTestShop(t)
	code, hdr, body := get(t, srv.URL+"/")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", code)
	}
	for _, p := range DemoPlans() {
		for _, want := range []string{p.Name, p.Price + " USD", `href="/checkout?plan=` + p.SKU + `"`} {
			if !strings.Contains(body, want) {
				t.Errorf("GET / does not contain %q", want)
			}
		}
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q, want default-src 'none'", csp)
	}
	if got := hdr.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
	}
	if code, _, body := get(t, srv.URL+"/static/shop.css"); code != http.StatusOK || !strings.Contains(body, ".screening") {
		t.Errorf("GET /static/shop.css = %d, want 200 with the stylesheet", code)
	}
	if code, _, body := get(t, srv.URL+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("GET /healthz = %d %q, want 200 ok", code, body)
	}
	if code, _, _ := get(t, srv.URL+"/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", code)
	}
}

// formFields extracts the name/value pairs of a page's input fields and
// selected options, as a browser would submit them.
func formFields(t *testing.T, page string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="[a-z]+" name="([a-z_0-9]+)" value="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		v.Set(m[1], htmlUnescape(m[2]))
	}
	if m := regexp.MustCompile(`<option value="([A-Z]{2})" selected>`).FindStringSubmatch(page); m != nil {
		v.Set("country", m[1])
	}
	return v
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&#43;", "+", "&amp;", "&", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

func TestStorefrontCheckoutForm(t *testing.T) {
	t.Parallel()
	srv := newTestShop(t)
	code, _, page := get(t, srv.URL+"/checkout?plan=vps-m2")
	if code != http.StatusOK {
		t.Fatalf("GET /checkout?plan=vps-m2 = %d, want 200", code)
	}
	got := formFields(t, page)
	want := url.Values{
		"order_id": {"DEMO-TEST1"}, "plan": {"vps-m2"}, "amount": {"12.00"}, "currency": {"USD"},
		"email": {"ann@example.com"}, "name": {"Ann Lee"}, "phone": {"+1 415 555 0100"},
		"country": {"US"}, "region": {"CA"}, "city": {"San Francisco"}, "postal": {"94107"},
		"address": {"1 Main St"}, "card_bin": {"411111"}, "card_last4": {"1111"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("checkout form fields mismatch (-want +got):\n%s", diff)
	}
	for _, c := range []string{"DE", "FR", "US", "GB", "CA", "JP"} {
		if !strings.Contains(page, `<option value="`+c+`"`) {
			t.Errorf("country select lacks %s", c)
		}
	}
	if strings.Contains(page, "card_number") || strings.Contains(page, "cvc") {
		t.Error("checkout form collects a card number or CVC")
	}

	for _, u := range []string{"/checkout?plan=vps-xxl", "/checkout", "/checkout?plan=%3Cscript%3E"} {
		code, _, body := get(t, srv.URL+u)
		if code != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 400", u, code)
		}
		if strings.Contains(body, "<script>") {
			t.Errorf("GET %s echoes unescaped input", u)
		}
	}
}

func TestStorefrontFormRoundTrip(t *testing.T) {
	t.Parallel()
	srv := newTestShop(t)
	_, _, page := get(t, srv.URL+"/checkout?plan=vps-s1")
	form := formFields(t, page)
	form.Set("name", `Ann <script>alert(1)</script> Lee`)
	form.Set("country", "de") // normalised to DE

	code, body := post(t, srv.URL+"/checkout", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), screeningHeaders)
	if code != http.StatusOK {
		t.Fatalf("POST /checkout = %d, want 200; body:\n%s", code, body)
	}
	for _, want := range []string{
		`<dd id="screening-id">scr_01HZX</dd>`,
		`<dd id="screening-decision">review</dd>`,
		`<dd id="screening-score">42</dd>`,
		"DEMO-TEST1", "<td>DE</td>", "<td>5.00</td>",
		"Ann &lt;script&gt;alert(1)&lt;/script&gt; Lee",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("confirmation page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Error("confirmation page contains an unescaped <script>")
	}

	// The same order again is refused: the id is the idempotency key.
	if code, _ := post(t, srv.URL+"/checkout", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), nil); code != http.StatusConflict {
		t.Errorf("second POST of the same order = %d, want 409", code)
	}

	code, _, list := get(t, srv.URL+"/orders")
	if code != http.StatusOK {
		t.Fatalf("GET /orders = %d, want 200", code)
	}
	for _, want := range []string{"DEMO-TEST1", "a***@example.com", "review", "scr_01HZX"} {
		if !strings.Contains(list, want) {
			t.Errorf("/orders lacks %q", want)
		}
	}
	if strings.Contains(list, "ann@example.com") || strings.Contains(list, "Main St") {
		t.Error("/orders shows a full email or address")
	}
}

func TestStorefrontFormWithoutScreening(t *testing.T) {
	t.Parallel()
	srv := newTestShop(t)
	_, _, page := get(t, srv.URL+"/checkout?plan=vps-l4")
	code, body := post(t, srv.URL+"/checkout", "application/x-www-form-urlencoded", strings.NewReader(formFields(t, page).Encode()), nil)
	if code != http.StatusOK || !strings.Contains(body, `id="screening-none"`) {
		t.Fatalf("POST /checkout without screening headers = %d, want 200 saying none came; body:\n%s", code, body)
	}
}

func TestStorefrontFormInvalid(t *testing.T) {
	t.Parallel()
	srv := newTestShop(t)
	_, _, page := get(t, srv.URL+"/checkout?plan=vps-s1")
	base := formFields(t, page)
	tests := []struct {
		field, value, wantText string
		wantStatus             int
	}{
		{"plan", "vps-xxl", "is not one of the shop", http.StatusBadRequest},
		{"email", "not-an-email", "Please check <strong>email</strong>", http.StatusBadRequest},
		{"email", "Ann <ann@example.com>", "Please check <strong>email</strong>", http.StatusBadRequest},
		{"amount", "0.01", "Please check <strong>amount</strong>", http.StatusBadRequest},
		{"currency", "EUR", "Please check <strong>currency</strong>", http.StatusBadRequest},
		{"card_bin", "4111", "Please check <strong>card_bin</strong>", http.StatusBadRequest},
		{"card_last4", "11a1", "Please check <strong>card_last4</strong>", http.StatusBadRequest},
		{"name", "Ann\x00Lee", "Please check <strong>name</strong>", http.StatusBadRequest},
		{"name", "", "Please check <strong>name</strong>", http.StatusBadRequest},
		{"name", strings.Repeat("n", 201), "Please check <strong>name</strong>", http.StatusBadRequest},
		{"country", "Germany", "Please check <strong>country</strong>", http.StatusBadRequest},
		{"order_id", "DEMO 1", "Please check <strong>order_id</strong>", http.StatusBadRequest},
		{"phone", "call me", "Please check <strong>phone</strong>", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.field+"="+tt.value, func(t *testing.T) {
			f := url.Values{}
			for k, v := range base {
				f[k] = v
			}
			f.Set(tt.field, tt.value)
			code, body := post(t, srv.URL+"/checkout", "application/x-www-form-urlencoded", strings.NewReader(f.Encode()), nil)
			if code != tt.wantStatus || !strings.Contains(body, tt.wantText) {
				t.Errorf("POST with %s=%q = %d, want %d mentioning %q", tt.field, tt.value, code, tt.wantStatus, tt.wantText)
			}
		})
	}
	if code, _ := post(t, srv.URL+"/checkout", "text/plain", strings.NewReader(base.Encode()), nil); code != http.StatusUnsupportedMediaType {
		t.Errorf("POST /checkout as text/plain = %d, want 415", code)
	}
	// Query parameters do not stand in for form fields.
	f := url.Values{}
	for k, v := range base {
		f[k] = v
	}
	f.Del("email")
	if code, _ := post(t, srv.URL+"/checkout?email=ann%40example.com", "application/x-www-form-urlencoded", strings.NewReader(f.Encode()), nil); code != http.StatusBadRequest {
		t.Errorf("POST with email only in the query = %d, want 400", code)
	}
}

func TestStorefrontJSONRoundTrip(t *testing.T) {
	t.Parallel()
	srv := newTestShop(t)
	order := map[string]string{
		"order_id": "INV-1001", "email": "ann@example.com", "name": "Ann Lee", "phone": "+1 415 555 0100",
		"country": "US", "region": "CA", "city": "San Francisco", "postal": "94107", "address": "1 Main St",
		"plan": "vps-m2", "amount": "12", "currency": "usd", "card_bin": "411111", "card_last4": "1111",
	}
	b, _ := json.Marshal(order)
	code, body := post(t, srv.URL+"/api/checkout", "application/json; charset=utf-8", bytes.NewReader(b), screeningHeaders)
	if code != http.StatusCreated {
		t.Fatalf("POST /api/checkout = %d, want 201; body: %s", code, body)
	}
	var got receivedOrder
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("decoding answer: %v\n%s", err, body)
	}
	want := receivedOrder{
		Order: Order{
			OrderID: "INV-1001", Email: "ann@example.com", Name: "Ann Lee", Phone: "+1 415 555 0100",
			Country: "US", Region: "CA", City: "San Francisco", Postal: "94107", Address: "1 Main St",
			Plan: "vps-m2", Amount: "12.00", Currency: "USD", CardBIN: "411111", CardLast4: "1111",
		},
		ReceivedAt: fixedNow,
		Screening:  Screening{ID: "scr_01HZX", Decision: "review", Score: "42"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answer mismatch (-want +got):\n%s", diff)
	}

	code, _, list := get(t, srv.URL+"/api/orders")
	if code != http.StatusOK {
		t.Fatalf("GET /api/orders = %d", code)
	}
	var orders ordersJSON
	if err := json.Unmarshal([]byte(list), &orders); err != nil {
		t.Fatalf("decoding /api/orders: %v", err)
	}
	wantList := ordersJSON{Orders: []orderSummary{{
		OrderID: "INV-1001", ReceivedAt: fixedNow, Plan: "vps-m2", Amount: "12.00", Currency: "USD",
		Country: "US", Email: "a***@example.com", Screening: want.Screening,
	}}}
	if diff := cmp.Diff(wantList, orders); diff != "" {
		t.Errorf("/api/orders mismatch (-want +got):\n%s", diff)
	}
}

func TestStorefrontJSONErrors(t *testing.T) {
	t.Parallel()
	srv := newTestShop(t)
	valid := `{"order_id":"A1","email":"a@example.com","name":"A","country":"US","plan":"vps-s1","card_bin":"411111","card_last4":"1111"}`
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantCode    string
		wantField   string
	}{
		{"bad plan", "application/json", strings.Replace(valid, "vps-s1", "vps-xxl", 1), 400, "invalid_field", "plan"},
		{"unknown key", "application/json", strings.Replace(valid, `"name"`, `"nom":"x","name"`, 1), 400, "invalid_json", ""},
		{"number amount", "application/json", strings.Replace(valid, `"name"`, `"amount":5,"name"`, 1), 400, "invalid_json", ""},
		{"two objects", "application/json", valid + valid, 400, "invalid_json", ""},
		{"not json", "application/json", "order_id=A1", 400, "invalid_json", ""},
		{"form media type", "application/x-www-form-urlencoded", valid, 415, "unsupported_media_type", ""},
		{"too large", "application/json", `{"name":"` + strings.Repeat("x", maxCheckoutBody) + `"}`, 413, "too_large", ""},
		{"too large after the object", "application/json", valid + strings.Repeat(" ", maxCheckoutBody), 413, "too_large", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, body := post(t, srv.URL+"/api/checkout", tt.contentType, strings.NewReader(tt.body), nil)
			var got struct {
				Error struct{ Code, Message, Field string }
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("decoding error answer %q: %v", body, err)
			}
			if code != tt.wantStatus || got.Error.Code != tt.wantCode || got.Error.Field != tt.wantField {
				t.Errorf("POST %s = %d %s/%s, want %d %s/%s (%s)", tt.name, code, got.Error.Code, got.Error.Field,
					tt.wantStatus, tt.wantCode, tt.wantField, got.Error.Message)
			}
		})
	}
	if code, _ := post(t, srv.URL+"/api/checkout", "application/json", strings.NewReader(valid), nil); code != http.StatusCreated {
		t.Fatalf("first valid POST = %d, want 201", code)
	}
	if code, body := post(t, srv.URL+"/api/checkout", "application/json", strings.NewReader(valid), nil); code != http.StatusConflict || !strings.Contains(body, "duplicate_order") {
		t.Errorf("repeated order_id = %d %s, want 409 duplicate_order", code, body)
	}
}

func TestStorefrontFormTooLarge(t *testing.T) {
	t.Parallel()
	srv := newTestShop(t)
	body := "order_id=A1&name=" + strings.Repeat("x", maxCheckoutBody)
	if code, _ := post(t, srv.URL+"/checkout", "application/x-www-form-urlencoded", strings.NewReader(body), nil); code != http.StatusRequestEntityTooLarge {
		t.Errorf("POST /checkout with %d bytes = %d, want 413", len(body), code)
	}
}

func TestStorefrontCrossOrigin(t *testing.T) {
	t.Parallel()
	srv := newTestShop(t)
	_, _, page := get(t, srv.URL+"/checkout?plan=vps-s1")
	form := formFields(t, page).Encode()
	h := http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}
	if code, _ := post(t, srv.URL+"/checkout", "application/x-www-form-urlencoded", strings.NewReader(form), h); code != http.StatusForbidden {
		t.Errorf("cross-site form POST = %d, want 403", code)
	}
	h = http.Header{"Sec-Fetch-Site": {"same-origin"}}
	if code, _ := post(t, srv.URL+"/checkout", "application/x-www-form-urlencoded", strings.NewReader(form), h); code != http.StatusOK {
		t.Errorf("same-origin form POST = %d, want 200", code)
	}
}

func TestStorefrontKeepsBoundedOrders(t *testing.T) {
	t.Parallel()
	s := newStorefront(discardLogger(), func() time.Time { return fixedNow }, func() string { return "X" }).(http.Handler)
	for i := range maxStoredOrders + 5 {
		b := fmt.Sprintf(`{"order_id":"O%d","email":"a@example.com","name":"A","country":"US","plan":"vps-s1","card_bin":"411111","card_last4":"1111"}`, i)
		req := httptest.NewRequest(http.MethodPost, "/api/checkout", strings.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			t.Fatalf("order %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/orders", nil))
	var orders ordersJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &orders); err != nil {
		t.Fatalf("decoding /api/orders: %v", err)
	}
	if len(orders.Orders) != maxStoredOrders {
		t.Fatalf("kept %d orders, want %d", len(orders.Orders), maxStoredOrders)
	}
	first, last := orders.Orders[0].OrderID, orders.Orders[len(orders.Orders)-1].OrderID
	if first != fmt.Sprintf("O%d", maxStoredOrders+4) || last != "O5" {
		t.Errorf("kept orders %s..%s, want newest O%d first and oldest O5 last", first, last, maxStoredOrders+4)
	}
}

func TestListenStorefront(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	srv, ln, err := ListenStorefront(ctx, "127.0.0.1:0", discardLogger())
	if err != nil {
		t.Fatalf("ListenStorefront: %v", err)
	}
	u := "http://" + ln.Addr().String()
	if code, _, body := get(t, u+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("GET /healthz = %d %q, want 200 ok", code, body)
	}
	if srv.ReadHeaderTimeout == 0 {
		t.Error("server has no ReadHeaderTimeout")
	}
	cancel()
	// Shutdown closes the listener: dialing must fail once it has run.
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := http.Get(u + "/healthz")
		if err != nil {
			return
		}
		resp.Body.Close()
		select {
		case <-deadline.C:
			t.Fatal("storefront still serving 5s after its context ended")
		case <-tick.C:
		}
	}
}

func TestListenStorefrontBadAddr(t *testing.T) {
	t.Parallel()
	if _, _, err := ListenStorefront(t.Context(), "127.0.0.1:notaport", discardLogger()); err == nil {
		t.Fatal("ListenStorefront(bad addr) succeeded, want an error")
	}
}

func TestMaskEmail(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ann@example.com": "a***@example.com",
		"é@example.com":   "é***@example.com",
		"noat":            "***",
		"@example.com":    "***",
	} {
		if got := maskEmail(in); got != want {
			t.Errorf("maskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}
