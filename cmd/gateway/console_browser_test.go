package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/vpsgate/gateway/internal/testenv"
)

// TestConsoleInBrowser is issue 13's acceptance flow in real headless
// Chromium against the whole product on real servers (Redis, MinIO): an
// officer signs in, sees the pending cases, opens one, sees its document
// image rendered through the authenticated stream, approves it and sees the
// order clear; rejects a second case with a reason; asks for new documents
// on a third; replays a webhook delivery from its page; accepts an order
// held for manual review. Every page is saved
// as a screenshot (testenv.Artifacts).
func TestConsoleInBrowser(t *testing.T) {
	chromium := testenv.Chromium(t)
	const (
		shopKey  = "shop-key-0123456789abcdefghij"
		secret   = "jwt-secret-0123456789abcdefghijklmnop"
		email    = "olga@example.com"
		password = "officer password 0123"
	)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// One rule: orders from 192.0.2.99 need a manual review.
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte(`rules:
  - name: test_review
    reason: test_review
    detail: "Orders from the test review address are checked by a person."
    expr: 'ip == "192.0.2.99"'
    decision: review
`), 0o600); err != nil {
		t.Fatal(err)
	}
	redisURL := testenv.StartRedis(t).URL()
	s3env := testenv.S3(t)
	_, bucket := testenv.Bucket(t)
	_, auditBucket := testenv.Bucket(t)
	pubAddr := testenv.FreeAddr(t)
	env := map[string]string{
		"GATEWAY_REDIS_URL":                  redisURL,
		"GATEWAY_S3_ENDPOINT":                s3env.Endpoint,
		"GATEWAY_S3_ACCESS_KEY":              s3env.AccessKey,
		"GATEWAY_S3_SECRET_KEY":              s3env.SecretKey,
		"GATEWAY_S3_BUCKET":                  bucket,
		"GATEWAY_AUDIT_BUCKET":               auditBucket,
		"GATEWAY_SCREENING_HASH_KEY":         "0123456789abcdef0123456789abcdef",
		"GATEWAY_SCREENING_KEY_PREFIX":       testenv.KeyPrefix(t),
		"GATEWAY_SCREENING_VELOCITY_TIMEOUT": "2s",
		"GATEWAY_SCREENING_RULES_FILE":       rules,
		"GATEWAY_AUTH_API_KEYS":              `[{"name": "shop", "key_hash": "` + authHash(shopKey) + `"}]`,
		"GATEWAY_AUTH_USERS":                 `[{"email": "` + email + `", "password_hash": "` + string(hash) + `", "role": "officer"}]`,
		"GATEWAY_AUTH_JWT_SECRET":            secret,
		"GATEWAY_PUBLIC_URL":                 "http://" + pubAddr,
		"GATEWAY_HOLDS_KYC_WHEN":             "always",
		"GATEWAY_HOLDS_EMAIL_VERIFICATION":   "false",
		"GATEWAY_LISTEN":                     pubAddr,
	}
	prov := startProvisioning(t, env)
	_, admin, logs := serveInProcess(t, env)
	waitFor(t, admin+"/readyz", 200, nil, logs)

	// Four held orders; the first three customers upload documents.
	for i, name := range []string{"Ann Lee", "Bob Stone", "Cy Young"} {
		link := heldOrder(t, admin, shopKey, fmt.Sprintf("INV-%d", i+1), fmt.Sprintf("acct-%d", i+1), name, "192.0.2.7")
		uploadDocuments(t, link, name)
	}
	heldOrder(t, admin, shopKey, "INV-4", "acct-4", "Dee Fox", "192.0.2.99")

	art := testenv.Artifacts(t)
	ctx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1366, 900))
	defer cancel()
	ctx, cancel = chromedp.NewContext(ctx)
	defer cancel()
	// The first Run starts the browser; each step below is bounded.
	if err := chromedp.Do(ctx, chromedp.Navigate(admin+"/console/kyc")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		defer scancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML("main"))
			t.Fatalf("%s: %v\nat %s:\n%.2000s", name, err, loc, html)
		}
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("%s: screenshot: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(art, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}

	// Not signed in: the console sends the browser to the login page.
	step("01-login",
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
	)
	step("02-kyc-queue",
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.grid`)),
	)
	if q := text("main"); !strings.Contains(q, "3 case(s) pending") || !strings.Contains(q, "Ann Lee") {
		t.Fatalf("queue:\n%s", q)
	}

	// Open Ann Lee's case, see the document, approve.
	caseID := caseOf(t, ctx, "Ann Lee")
	step("03-case",
		chromedp.Click(chromedp.CSS(`a[href="/console/kyc/`+caseID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.docs img`)),
	)
	imageRendered(t, ctx)
	step("04-approved",
		chromedp.SendKeys(chromedp.CSS(`textarea[name=note]`), "passport matches the billing name"),
		chromedp.Click(chromedp.CSS(`button[value=approve]`)),
		chromedp.WaitVisible(chromedp.CSS(`.alert.good`)),
	)
	if s := text("h1"); !strings.Contains(s, "approved") {
		t.Errorf("after approve the case says %q", s)
	}
	// The order cleared: the order page shows it (from the case page's
	// list of the account's orders).
	step("05-order-cleared",
		chromedp.Navigate(admin+"/console/orders?id=INV-1&owner=key:shop"),
		chromedp.WaitVisible(chromedp.CSS(`.badge.st-cleared`)),
	)

	// The order page links its account (once the relay recorded the
	// order's audit entry and indexed it under the account); the account
	// page lists the order with its state and the identity verified; the
	// officer flags the account, through the API's service call (markup
	// in the reason shows as text; bidi overrides, which SendKeys cannot
	// type, are TestConsoleAccount's).
	eventually(t, 20*time.Second, "the order page links its account, which lists the order", func() bool {
		_ = chromedp.Do(ctx, chromedp.Navigate(admin+"/console/orders?id=INV-1&owner=key:shop"))
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("dd a[href^='/console/accounts/acct-1?']").length`))
		if err != nil || n == 0 {
			return false
		}
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		_ = chromedp.Do(cctx, chromedp.Click(chromedp.CSS(`dd a[href^='/console/accounts/acct-1?']`)), chromedp.WaitVisible(chromedp.CSS(`#flag-add`)))
		s, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		return strings.Contains(s, "INV-1")
	})
	step("05b-account", chromedp.WaitVisible(chromedp.CSS(`table.grid .badge.st-cleared`)))
	if s := text("main"); !strings.Contains(s, "key:shop/acct-1") || !strings.Contains(s, "not restricted") || !strings.Contains(s, "No abuse flag") {
		t.Errorf("the account page:\n%s", s)
	}
	step("05c-account-flagged",
		chromedp.SetValue(chromedp.CSS(`#flag-add select[name=kind]`), "attacks"),
		chromedp.SendKeys(chromedp.CSS(`#flag-add input[name=reason]`), "DDoS from its VPS <b>evil"),
		chromedp.Click(chromedp.CSS(`#flag-add button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.alert.good`)),
	)
	if s := text("main"); !strings.Contains(s, "flag added") || !strings.Contains(s, "attacks") ||
		!strings.Contains(s, "DDoS from its VPS <b>evil") || !strings.Contains(s, "officer:"+email) {
		t.Errorf("after flagging, the account page:\n%s", s)
	}

	// The provisioning endpoint got order.cleared (after one 500 and a
	// retry); the officer replays it from the delivery's page.
	clearedCalls := func() int {
		prov.mu.Lock()
		defer prov.mu.Unlock()
		n := 0
		for _, g := range prov.got {
			if g.typ == "order.cleared" {
				n++
			}
		}
		return n
	}
	eventually(t, 30*time.Second, "order.cleared delivered", func() bool {
		_ = chromedp.Do(ctx, chromedp.Navigate(admin+"/console/webhooks?event=order.cleared&state=delivered"))
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("table.grid tbody a[href^='/console/webhooks/']").length`))
		return err == nil && n > 0
	})
	step("06-webhooks", chromedp.WaitVisible(chromedp.CSS(`.badge.st-delivered`)))
	step("07-webhook-delivery",
		chromedp.Click(chromedp.CSS(`table.grid tbody a[href^='/console/webhooks/']`)),
		chromedp.WaitVisible(chromedp.CSS(`button.primary`)),
	)
	if s := text("main"); !strings.Contains(s, "✗ 500") || !strings.Contains(s, "✓ 204") {
		t.Errorf("the delivery's attempts:\n%s", s)
	}
	before := clearedCalls()
	step("08-webhook-replayed",
		chromedp.Click(chromedp.CSS(`button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`.alert.good`)),
	)
	eventually(t, 30*time.Second, "the replay reaches the endpoint", func() bool { return clearedCalls() > before })

	// Reject Bob's case with a reason.
	step("09-reject",
		chromedp.Navigate(admin+"/console/kyc/"+caseOf(t, ctx, "Bob Stone")),
		chromedp.WaitVisible(chromedp.CSS(`#reason`)),
		chromedp.SendKeys(chromedp.CSS(`#reason`), "The document is expired."),
		chromedp.Click(chromedp.CSS(`button[value=reject]`)),
		chromedp.WaitVisible(chromedp.CSS(`.alert.good`)),
	)
	if s := text("main"); !strings.Contains(s, "rejected") || !strings.Contains(s, "The document is expired.") {
		t.Errorf("after reject:\n%s", s)
	}
	step("10-order-rejected",
		chromedp.Navigate(admin+"/console/orders?id=INV-2&owner=key:shop"),
		chromedp.WaitVisible(chromedp.CSS(`.badge.st-rejected`)),
	)

	// Ask Cy for new documents.
	step("11-resubmission",
		chromedp.Navigate(admin+"/console/kyc/"+caseOf(t, ctx, "Cy Young")),
		chromedp.WaitVisible(chromedp.CSS(`#reason`)),
		chromedp.SendKeys(chromedp.CSS(`#reason`), "The photo is blurred; please upload a sharper one."),
		chromedp.Click(chromedp.CSS(`button[value=request-resubmission]`)),
		chromedp.WaitVisible(chromedp.CSS(`.alert.good`)),
	)
	if s := text("h1"); !strings.Contains(s, "resubmission requested") {
		t.Errorf("after the resubmission request the case says %q", s)
	}

	// Review INV-4 (held for manual review): accept it.
	step("12-review-queue",
		chromedp.Navigate(admin+"/console/reviews"),
		chromedp.WaitVisible(chromedp.CSS(`table.grid`)),
	)
	if s := text("main"); !strings.Contains(s, "INV-4") || strings.Contains(s, "INV-1") ||
		!strings.Contains(s, "Orders from the test review address are checked by a person.") {
		t.Errorf("the manual-review queue:\n%s", s)
	}
	step("12-review",
		chromedp.Click(chromedp.CSS(`table.grid tbody a`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value=accept]`)),
	)
	if s := text("main"); !strings.Contains(s, "Orders from the test review address are checked by a person.") {
		t.Errorf("the order page does not say why:\n%s", s)
	}
	step("13-reviewed",
		chromedp.SendKeys(chromedp.CSS(`input[name=reason]`), "Known customer, called back."),
		chromedp.Click(chromedp.CSS(`button[value=accept]`)),
		chromedp.WaitVisible(chromedp.CSS(`.alert.good`)),
	)
	if s := text("main"); !strings.Contains(s, "manual review done") {
		t.Errorf("after the review:\n%s", s)
	}

	// Everything the officer did is in the audit log, by name.
	eventually(t, 20*time.Second, "the officer's actions in the audit log", func() bool {
		_ = chromedp.Do(ctx, chromedp.Navigate(admin+"/console/audit?actor=officer:"+email))
		s, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		return strings.Contains(s, "kyc.approved") && strings.Contains(s, "kyc.rejected") && strings.Contains(s, "order.reviewed") &&
			strings.Contains(s, "webhook.replayed") && strings.Contains(s, "account.flagged")
	})
	step("14-audit", chromedp.WaitVisible(chromedp.CSS(`.chain`)))
	if s := text(".chain"); !strings.Contains(s, "chain links consistent") {
		t.Errorf("audit chain: %s", s)
	}

	step("15-signed-out",
		chromedp.Click(chromedp.CSS(`form.me button`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=password]`)),
	)
	t.Logf("screenshots in %s", art)
}

// caseOf is the id of the pending case whose legal name is name, as the
// queue page links it.
func caseOf(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	find := chromedp.Evaluate[string](`(() => {
		for (const tr of document.querySelectorAll("table.grid tbody tr")) {
			if (tr.textContent.includes(` + jsString(name) + `)) return tr.querySelector("a").getAttribute("href").split("/").pop();
		}
		return "";
	})()`)
	for range 2 {
		if id, err := chromedp.Run(ctx, find); err == nil && id != "" {
			return id
		}
		// Not on the queue page: go there, once.
		if err := chromedp.Do(ctx, chromedp.Navigate(strings.Split(mustLocation(t, ctx), "/console/")[0]+"/console/kyc")); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("no pending case of %s in the queue", name)
	return ""
}

func mustLocation(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// imageRendered waits until every document image of the page has loaded
// and decoded (naturalWidth > 0): the stream was allowed by the CSP, typed
// as an image and served to the session.
func imageRendered(t *testing.T, ctx context.Context) {
	t.Helper()
	eventually(t, 20*time.Second, "document images rendered", func() bool {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
			`[...document.querySelectorAll(".docs img")].every(i => i.complete && i.naturalWidth > 0)`))
		return err == nil && ok
	})
}

// heldOrder submits an order held on KYC and returns its KYC link.
func heldOrder(t *testing.T, admin, shopKey, orderID, account, name, ip string) string {
	t.Helper()
	first, last, _ := strings.Cut(name, " ")
	code, _, body := post(t, admin+"/api/v1/orders", shopKey, "application/json",
		`{"order_id":"`+orderID+`","account":{"id":"`+account+`","email":"`+account+`@example.com"},"ip":"`+ip+`",
		  "billing":{"first_name":"`+first+`","last_name":"`+last+`","country":"US"},"amount":"12.00","currency":"USD"}`)
	var held struct {
		Status string            `json:"status"`
		Links  map[string]string `json:"links"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &held) != nil || held.Status != "held" || held.Links["kyc"] == "" {
		t.Fatalf("POST /api/v1/orders %s = %d %s", orderID, code, body)
	}
	return held.Links["kyc"]
}

// uploadDocuments is the customer's upload through the KYC page.
func uploadDocuments(t *testing.T, link, legalName string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.WriteField("legal_name", legalName)
	w.WriteField("document_type", "passport")
	fw, _ := w.CreateFormFile("front", "front.jpg")
	fw.Write(encodeJPEG(t))
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, link, &b)
	req.Header.Set("Content-Type", w.FormDataContentType())
	u := strings.SplitN(link, "/_gateway/", 2)[0]
	req.Header.Set("Origin", u)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("upload for %s = %d", legalName, resp.StatusCode)
	}
}
