package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/testenv"
)

// storefrontRequest is one request a storefront's page sends.
type storefrontRequest struct {
	name, target, ctype, body string
}

// profileCase is a storefront profile with its checkout as the storefront
// sends it (bodies built from the source each profile cites), the same
// checkout from an EU billing country, and other POSTs of the shop.
type profileCase struct {
	profile  string
	checkout storefrontRequest
	eu       storefrontRequest
	refused  []storefrontRequest // never reach the storefront (400)
	// deferred reach the storefront unscreened, marked deferred
	// (missing_details: defer), even when the client sends screening
	// headers of its own.
	deferred []storefrontRequest
	others   []storefrontRequest
	// want are strings the minFraud request of the checkout must carry.
	want []string
}

const testCard = "4111111111111111"

func profileCases() []profileCase {
	const form = "application/x-www-form-urlencoded"
	wooBody := func(country string) string {
		return "billing_first_name=Ann&billing_last_name=Lee&billing_company=&billing_country=" + country +
			"&billing_address_1=1+Main+St&billing_address_2=&billing_city=San+Francisco&billing_state=CA&billing_postcode=94107" +
			"&billing_phone=4155550100&billing_email=ann%40example.com&order_comments=&shipping_method%5B0%5D=flat_rate%3A1" +
			"&payment_method=ppcp-gateway&terms=on&terms-field=1&woocommerce-process-checkout-nonce=0123456789" +
			"&_wp_http_referer=%2F%3Fwc-ajax%3Dupdate_order_review"
	}
	blocksBody := func(country string) string {
		return `{"billing_address":{"first_name":"Renée","last_name":"Dupont","company":"","address_1":"1 rue X","address_2":"",` +
			`"city":"Montréal","state":"QC","postcode":"H2X 1Y4","country":"` + country + `","email":"Renée.Dupont@example.ca","phone":"+15145550100"},` +
			`"shipping_address":{"first_name":"Renée","last_name":"Dupont","address_1":"1 rue X","city":"Montréal","state":"QC","postcode":"H2X 1Y4","country":"` + country + `"},` +
			`"customer_note":"","create_account":false,"payment_method":"stripe","payment_data":[{"key":"wc-stripe-payment-method","value":"pm_123"}],"extensions":{}}`
	}
	whmcsBody := func(country string) string {
		return "submit=true&custtype=new&firstname=Ann&lastname=Lee&email=ann%40example.com&phonenumber=4155550100" +
			"&companyname=&address1=1+Main+St&address2=&city=San+Francisco&state=CA&postcode=94107&country=" + country +
			"&password=Secret123%21&password2=Secret123%21&paymentmethod=stripe&ccinfo=new&cctype=Visa&ccnumber=4111+1111+1111+1111" +
			"&ccexpirydate=12+%2F+30&cccvv=123&accepttos=on"
	}
	// A client who is logged in, as WHMCS 7.10's standard_cart posts it
	// (WHMCS/orderforms-standard_cart at 5341edff, "Version
	// 7.10.0-release.1", checkout.tpl lines 61-701): the details readonly
	// (posted with the stored values), the country select
	// disabled="disabled" (not posted), no password fields.
	whmcsLoggedIn := "submit=true&custtype=existing&loginemail=&loginpassword=&firstname=Ann&lastname=Lee" +
		"&email=ann%40example.com&phonenumber=4155550100&companyname=&address1=1+Main+St&address2=&city=San+Francisco" +
		"&state=CA&postcode=94107&applycredit=0&paymentmethod=stripe&ccinfo=new&ccnumber=4111+1111+1111+1111" +
		"&ccexpirydate=12+%2F+30&cccvv=123&notes=&accepttos=on"
	// A client who is logged in and picked an account, as WHMCS 9's
	// standard_cart posts it (the same repository at 65d1085, "Version
	// v9.0.6-release.1", checkout.tpl lines 53-295, js/base.js): account_id,
	// and the new-client fields hidden with CSS only, country included.
	whmcsAccount := "checkout=true&custtype=account&account_id=5&firstname=Ann&lastname=Lee&email=" +
		"&phonenumber=4155550100&companyname=&address1=1+Main+St&address2=&city=San+Francisco&state=CA&postcode=94107" +
		"&country=US&applycredit=0&paymentmethod=stripe&notes=&accepttos=on"
	blestaBody := func(country string) string {
		return "first_name=Ann&last_name=Lee&company=&email=ann%40example.com&address1=1+Main+St&address2=&city=San+Francisco" +
			"&state=CA&zip=94107&country=" + country + "&numbers%5B0%5D%5Btype%5D=phone&numbers%5B0%5D%5Blocation%5D=home" +
			"&numbers%5B0%5D%5Bnumber%5D=4155550100&username_type=email&new_password=Secret123%21&confirm_password=Secret123%21"
	}
	return []profileCase{
		{
			profile:  "woocommerce-classic",
			checkout: storefrontRequest{"checkout", "/?wc-ajax=checkout", form, wooBody("US")},
			eu:       storefrontRequest{"EU checkout", "/checkout/?wc-ajax=checkout", form, wooBody("DE")},
			refused: []storefrontRequest{
				{"wc-ajax twice", "/?wc-ajax=checkout&wc-ajax=update_order_review", form, wooBody("US")},
				{"no-JS place order", "/checkout/", form, wooBody("DE") + "&woocommerce_checkout_place_order=Place+order"},
				{"admin-ajax checkout", "/wp-admin/admin-ajax.php", form, "action=woocommerce_checkout&" + wooBody("FR")},
			},
			others: []storefrontRequest{
				{"add to cart", "/?wc-ajax=add_to_cart", form, "product_sku=&product_id=12&quantity=1"},
				{"update order review", "/?wc-ajax=update_order_review", form, "security=abc&payment_method=bacs&country=DE&state=&postcode=&city=&address=&has_full_address=false"},
				{"apply coupon", "/?wc-ajax=apply_coupon", form, "security=abc&coupon_code=SPRING"},
				{"login", "/my-account/", form, "username=ann&password=x&woocommerce-login-nonce=abc&login=Log+in"},
				{"comment", "/wp-comments-post.php", form, "comment=Nice&author=Ann&email=ann%40example.com&comment_post_ID=1"},
			},
			want: []string{`"first_name":"Ann"`, `"last_name":"Lee"`, `"processor":"paypal"`, `"country":"US"`},
		},
		{
			profile:  "woocommerce-blocks",
			checkout: storefrontRequest{"checkout", "/wp-json/wc/store/v1/checkout", "application/json", blocksBody("CA")},
			eu:       storefrontRequest{"EU checkout", "/?rest_route=/wc/store/v1/checkout", "application/json", blocksBody("FR")},
			refused: []storefrontRequest{
				{"checkout in a batch", "/wp-json/wc/store/v1/batch", "application/json", `{"requests":[{"method":"POST","path":"/wc/store/v1/checkout","body":` + blocksBody("DE") + `}]}`},
				{"country in the query of a JSON checkout", "/wp-json/wc/store/checkout?billing_address%5Bcountry%5D=DE", "application/json", blocksBody("CA")},
				{"rest_route in a form body", "/", form, "rest_route=%2Fwc%2Fstore%2Fv1%2Fcheckout&billing_address%5Bcountry%5D=DE"},
			},
			others: []storefrontRequest{
				{"add item", "/wp-json/wc/store/v1/cart/add-item", "application/json", `{"id":12,"quantity":1}`},
				{"cart batch", "/wp-json/wc/store/v1/batch", "application/json", `{"requests":[{"method":"POST","path":"/wc/store/v1/cart/update-item","body":{"key":"abc","quantity":2}}]}`},
				{"update customer", "/?rest_route=/wc/store/v1/cart/update-customer", "application/json", `{"billing_address":{"country":"DE"}}`},
			},
			want: []string{`"first_name":"Renée"`, `"last_name":"Dupont"`, `"processor":"stripe"`, `"domain":"example.ca"`},
		},
		{
			profile:  "whmcs",
			checkout: storefrontRequest{"checkout", "/cart.php?a=checkout", form, whmcsBody("US")},
			eu:       storefrontRequest{"EU checkout", "/cart.php?a=checkout", form, whmcsBody("IE")},
			refused: []storefrontRequest{
				{"a in the body wins over the query", "/cart.php?a=view", form, "a=checkout&" + whmcsBody("IE")},
				{"logged in, country in the query", "/cart.php?a=checkout&country=US", form, whmcsLoggedIn},
				{"logged in, empty country", "/cart.php?a=checkout", form, whmcsLoggedIn + "&country="},
				{"account_id with two values", "/cart.php?a=checkout&account_id=6", form, whmcsAccount},
			},
			deferred: []storefrontRequest{
				{"logged in (WHMCS 7)", "/cart.php?a=checkout", form, whmcsLoggedIn},
				{"logged in, an account picked (WHMCS 9)", "/cart.php?a=checkout", form, whmcsAccount},
			},
			others: []storefrontRequest{
				{"add product", "/cart.php?a=add&pid=1", form, "billingcycle=monthly"},
				{"configure product", "/cart.php?a=confproduct&i=0", form, "configure=true&billingcycle=monthly&hostname=vps1"},
				{"login", "/dologin.php", form, "username=ann%40example.com&password=x"},
				{"view cart with a promo code", "/cart.php?a=view", form, "validatepromo=1&promocode=SPRING"},
			},
			want: []string{`"first_name":"Ann"`, `"issuer_id_number":"411111"`, `"last_digits":"1111"`, `"processor":"stripe"`},
		},
		{
			profile:  "blesta",
			checkout: storefrontRequest{"sign-up", "/order/signup/index/vps", form, blestaBody("US")},
			eu:       storefrontRequest{"EU sign-up", "/order/signup/index/vps", form, blestaBody("NL")},
			others: []storefrontRequest{
				{"add to cart", "/order/config/index/vps", form, "pricing_id=3&qty=1"},
				{"login", "/client/login/", form, "username=ann&password=x"},
			},
			want: []string{`"first_name":"Ann"`, `"phone_number":"4155550100"`},
		},
	}
}

// TestServeProfiles puts the gateway, configured with nothing but a
// profile line, in front of PHP's built-in server as each storefront, with
// a real Redis and a stand-in minFraud: each profile's checkout is
// screened with the right values and reaches the storefront with its
// X-Screening-Id (which the shop links to its own order id), an EU billing
// country is rejected before the storefront, ambiguous checkouts are
// refused, a logged-in WHMCS client's checkout (no country posted, or an
// account picked) reaches the storefront marked deferred and with no
// screening id, every other shop POST passes untouched, and the card number of
// a WHMCS checkout is in no Redis key or value, no log line and no
// minFraud request.
func TestServeProfiles(t *testing.T) {
	for _, pc := range profileCases() {
		t.Run(pc.profile, func(t *testing.T) { serveProfile(t, pc) })
	}
}

func serveProfile(t *testing.T, pc profileCase) {
	const shopKey = "shop-key-0123456789abcdefghij"
	php := testenv.StartPHPServer(t, "../../gateway/testdata/php/router.php", map[string]string{"variables_order": "GPCS", "request_order": "GP"})
	var mu sync.Mutex
	var minfraud []string
	mf := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		minfraud = append(minfraud, string(b))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/vnd.maxmind.com-minfraud-score+json; charset=UTF-8; version=2.0")
		fmt.Fprint(w, `{"id":"5bc5d6c2-b2c8-40af-87f4-6d61af86b6ae","risk_score":0.5,"funds_remaining":10.00,"queries_remaining":1000}`)
	}))
	t.Cleanup(mf.Close)
	rp := testenv.StartRedis(t)
	s3env := testenv.S3(t)
	_, bucket := testenv.Bucket(t)
	prefix := testenv.KeyPrefix(t)
	env := map[string]string{
		"GATEWAY_UPSTREAM":             php.URL,
		"GATEWAY_INTERCEPT":            `[{"profile": "` + pc.profile + `"}]`,
		"GATEWAY_REDIS_URL":            rp.URL(),
		"GATEWAY_S3_ENDPOINT":          s3env.Endpoint,
		"GATEWAY_S3_ACCESS_KEY":        s3env.AccessKey,
		"GATEWAY_S3_SECRET_KEY":        s3env.SecretKey,
		"GATEWAY_S3_BUCKET":            bucket,
		"GATEWAY_AUDIT_BUCKET":         bucket,
		"GATEWAY_SCREENING_HASH_KEY":   "0123456789abcdef0123456789abcdef",
		"GATEWAY_SCREENING_KEY_PREFIX": prefix,
		"GATEWAY_AUTH_API_KEYS":        `[{"name": "shop", "key_hash": "` + authHash(shopKey) + `"}]`,
		"GATEWAY_MINFRAUD_ACCOUNT_ID":  "123456",
		"GATEWAY_MINFRAUD_LICENSE_KEY": "license-key-0123456789",
		"GATEWAY_MINFRAUD_ENDPOINT":    mf.URL,
		"GATEWAY_HOLDS_KYC_WHEN":       "never",
		"GATEWAY_LOG_LEVEL":            "debug",
	}
	public, admin, logs := serveInProcess(t, env)
	waitFor(t, admin+"/readyz", 200, nil, logs)

	send := func(r storefrontRequest) (int, http.Header, phpAnswer, string) {
		t.Helper()
		code, h, body, err := postRead(t, public+r.target, r.ctype, r.body)
		if err != nil {
			// A cut answer was a proxy bug (gateway/proxy.go,
			// declaredLengthBody): never retried.
			t.Fatalf("%s: the answer arrived cut (%v): %q\n%s", r.name, err, body, logs.String())
		}
		var a phpAnswer
		_ = json.Unmarshal([]byte(body), &a)
		return code, h, a, body
	}

	// The checkout: screened, forwarded with the screening headers.
	code, _, seen, body := send(pc.checkout)
	if code != 200 || seen.Method != "POST" {
		t.Fatalf("%s: %d %s\n%s", pc.checkout.name, code, body, logs.String())
	}
	sid := seen.Screening["HTTP_X_SCREENING_ID"]
	if !strings.HasPrefix(sid, "scr_") || seen.Screening["HTTP_X_SCREENING_DECISION"] == "" {
		t.Fatalf("the storefront got screening headers %v", seen.Screening)
	}
	mu.Lock()
	got := strings.Join(minfraud, "\n")
	mu.Unlock()
	for _, w := range pc.want {
		if !strings.Contains(got, w) {
			t.Errorf("minFraud requests lack %s:\n%s", w, got)
		}
	}

	// The shop links the checkout to its own order and reads it by that id.
	if code, _, b := post(t, admin+"/api/v1/orders/"+sid+"/link", shopKey, "application/json", `{"order_id":"1001"}`); code != 200 {
		t.Fatalf("link = %d %s", code, b)
	}
	if code, b := getWith(t, admin+"/api/v1/orders/1001", shopKey); code != 200 || !strings.Contains(b, sid) || !strings.Contains(b, `"order_id":"1001"`) {
		t.Errorf("GET by the shop's id = %d %s", code, b)
	}
	if code, _, b := post(t, admin+"/api/v1/orders/"+sid+"/link", shopKey, "application/json", `{"order_id":"1002"}`); code != 409 {
		t.Errorf("linking to another id = %d %s, want 409", code, b)
	}

	// An EU billing country: rejected, the storefront never sees it.
	if code, _, seen, body := send(pc.eu); code != 403 || seen.Method != "" {
		t.Errorf("%s = %d %s, want 403 from the gateway", pc.eu.name, code, body)
	}
	for _, r := range pc.refused {
		if code, _, seen, body := send(r); code < 400 || code >= 500 || seen.Method != "" {
			t.Errorf("%s = %d %s, want a 4xx from the gateway", r.name, code, body)
		}
	}
	// A checkout deferred to the billing system's module: forwarded with
	// X-Screening-Decision: deferred and nothing else, whatever screening
	// headers the client sent (underscore spellings are dropped at the
	// edge, docs/SECURITY.md), counted and logged.
	for _, r := range pc.deferred {
		smuggled := http.Header{"X-Screening-Id": {"scr_AAAAAAAAAAAAAAAAAAAAAA"}, "X-Screening-Decision": {"accept"},
			"X-Screening-Score": {"1"}, "Connection": {"X-Screening-Decision"}}
		code, h, b := postHeaders(t, public+r.target, r.ctype, r.body, smuggled)
		var seen phpAnswer
		_ = json.Unmarshal([]byte(b), &seen)
		want := map[string]string{"HTTP_X_SCREENING_DECISION": "deferred"}
		if code != 200 || seen.Method != "POST" || !maps.Equal(seen.Screening, want) {
			t.Errorf("%s = %d, storefront saw screening headers %v, want %v", r.name, code, seen.Screening, want)
		}
		if id := h.Get("X-Request-Id"); id == "" || !strings.Contains(logs.String(), id) ||
			!strings.Contains(logs.String(), "checkout deferred to the billing system's module") {
			t.Errorf("%s: no log line with its request id %q:\n%s", r.name, id, logs.String())
		}
	}
	if len(pc.deferred) > 0 {
		metric := fmt.Sprintf(`gateway_checkouts_deferred_total{route=%q} %d`, pc.profile, len(pc.deferred))
		if _, b := getWith(t, admin+"/metrics", ""); !strings.Contains(b, metric) {
			t.Errorf("/metrics lacks %s", metric)
		}
	}

	// Every other POST of the shop: untouched, unscreened.
	for _, r := range pc.others {
		code, _, seen, body := send(r)
		if code != 200 || seen.Method != "POST" || len(seen.Screening) != 0 {
			t.Errorf("%s = %d %s, want forwarded untouched", r.name, code, body)
		}
	}

	// The card number is nowhere but in the storefront's request.
	for where, text := range map[string]string{"logs": logs.String(), "minFraud requests": got, "Redis": redisDump(t, rp.URL())} {
		if strings.Contains(text, testCard) || strings.Contains(text, "4111 1111 1111 1111") {
			t.Errorf("the card number is in the %s", where)
		}
	}
}

// phpAnswer is what gateway/testdata/php/router.php answers.
type phpAnswer struct {
	Method    string            `json:"method"`
	Screening map[string]string `json:"screening"`
}

// redisDump is every key and value of a Redis server, as text.
func redisDump(t *testing.T, u string) string {
	t.Helper()
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx := context.Background()
	var b strings.Builder
	iter := c.Scan(ctx, 0, "*", 100).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		b.WriteString(k + "\n")
		switch c.Type(ctx, k).Val() {
		case "string":
			b.WriteString(c.Get(ctx, k).Val())
		case "hash":
			fmt.Fprint(&b, c.HGetAll(ctx, k).Val())
		case "list":
			fmt.Fprint(&b, c.LRange(ctx, k, 0, -1).Val())
		case "set":
			fmt.Fprint(&b, c.SMembers(ctx, k).Val())
		case "zset":
			fmt.Fprint(&b, c.ZRangeWithScores(ctx, k, 0, -1).Val())
		case "stream":
			fmt.Fprint(&b, c.XRange(ctx, k, "-", "+").Val())
		}
		b.WriteString("\n")
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// postRead is post that also reports whether the answer's body arrived
// whole.
func postRead(t *testing.T, url, ctype, body string) (int, http.Header, string, error) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}
