package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/testenv"
)

// TestServeEmailVerificationClears is issue 8's acceptance flow through the
// whole product on real servers (Redis standalone and the three-node
// Cluster, MinIO, mailpit): with holds.kyc_when never, an order placed
// through the API with an unverified email is held; the verification mail
// arrives in mailpit; following its link (the page, then its Confirm
// button) clears the order; the timeline and GET /api/v1/audit show each
// step; `gateway audit verify` passes on the same Redis and bucket.
func TestServeEmailVerificationClears(t *testing.T) {
	onRedisBackends(t, holdFlow)
}

// onRedisBackends runs flow on a standalone Redis of its own and on the
// three-node Cluster, each given as the gateway's redis.url.
func onRedisBackends(t *testing.T, flow func(t *testing.T, redisURL string)) {
	t.Run("standalone", func(t *testing.T) { flow(t, testenv.StartRedis(t).URL()) })
	t.Run("cluster", func(t *testing.T) {
		addrs := testenv.RedisClusterAddrs(t)
		u := "redis://" + addrs[0] + "?"
		for _, a := range addrs[1:] {
			u += "addr=" + a + "&"
		}
		flow(t, strings.TrimSuffix(u, "&"))
	})
}

func holdFlow(t *testing.T, redisURL string) {
	const (
		shopKey = "shop-key-0123456789abcdefghij"
		secret  = "jwt-secret-0123456789abcdefghijklmnop"
	)
	s3env := testenv.S3(t)
	_, bucket := testenv.Bucket(t)
	_, auditBucket := testenv.Bucket(t)
	prefix := testenv.KeyPrefix(t)
	mailpit := testenv.StartMailpit(t)
	pubAddr := testenv.FreeAddr(t)
	// Unique per run, so that mailpit and the order store hold only this
	// test's customer.
	email := fmt.Sprintf("ann-%d@example.com", time.Now().UnixNano())
	env := map[string]string{
		"GATEWAY_REDIS_URL":                  redisURL,
		"GATEWAY_S3_ENDPOINT":                s3env.Endpoint,
		"GATEWAY_S3_ACCESS_KEY":              s3env.AccessKey,
		"GATEWAY_S3_SECRET_KEY":              s3env.SecretKey,
		"GATEWAY_S3_BUCKET":                  bucket,
		"GATEWAY_AUDIT_BUCKET":               auditBucket,
		"GATEWAY_AUDIT_ARCHIVE_INTERVAL":     "1s",
		"GATEWAY_SCREENING_HASH_KEY":         "0123456789abcdef0123456789abcdef",
		"GATEWAY_SCREENING_KEY_PREFIX":       prefix,
		"GATEWAY_SCREENING_VELOCITY_TIMEOUT": "2s",
		"GATEWAY_AUTH_API_KEYS":              `[{"name": "shop", "key_hash": "` + authHash(shopKey) + `"}]`,
		"GATEWAY_AUTH_JWT_SECRET":            secret,
		"GATEWAY_PUBLIC_URL":                 "http://" + pubAddr,
		"GATEWAY_HOLDS_KYC_WHEN":             "never",
		"GATEWAY_SMTP_URL":                   mailpit.SMTPURL(),
		"GATEWAY_MAIL_FROM":                  "shop@example.com",
		"GATEWAY_LISTEN":                     pubAddr,
	}
	prov := startProvisioning(t, env) // issue 9: signed webhooks
	public, admin, logs := serveInProcess(t, env)
	waitFor(t, admin+"/readyz", 200, nil, logs)
	officer := mintOfficer(t, secret)

	// 1. The order is held, waiting on the email only.
	code, _, body := post(t, admin+"/api/v1/orders", shopKey, "application/json",
		`{"order_id":"INV-8001","account":{"id":"acct-1","email":"`+email+`"},"ip":"192.0.2.7",
		  "billing":{"country":"US"},"amount":"12.00","currency":"USD"}`)
	if code != 200 {
		t.Fatalf("POST /api/v1/orders = %d: %s\n%s", code, body, logs.String())
	}
	var held struct {
		ScreeningID  string            `json:"screening_id"`
		Status       string            `json:"status"`
		Requirements map[string]string `json:"requirements"`
		Links        map[string]string `json:"links"`
	}
	if err := json.Unmarshal([]byte(body), &held); err != nil {
		t.Fatal(err)
	}
	if held.Status != "held" || held.Requirements["email_verification"] != "pending" ||
		held.Requirements["kyc"] != "not_required" || held.Links["verify_email"] == "" {
		t.Fatalf("new order = %s, want held on email verification only, with a verify_email link", body)
	}

	// 2. The mail arrives in mailpit, with the link.
	var link string
	deadline := time.Now().Add(20 * time.Second)
	for link == "" {
		for _, m := range testenv.MailpitMessages(t, mailpit.API(), email) {
			link = regexp.MustCompile(`http://\S+/_gateway/verify-email\?token=[A-Za-z0-9._-]+`).FindString(m.Text)
		}
		if link == "" {
			if time.Now().After(deadline) {
				t.Fatalf("no verification mail for %s in mailpit after 20s\n%s", email, logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !strings.HasPrefix(link, public+"/_gateway/verify-email?token=") {
		t.Fatalf("mail link %q does not point at the public side %s", link, public)
	}

	// 3. Following it: the page asks for a confirmation (GET changes
	// nothing), the button's POST verifies.
	if code, page := get(t, link); code != 200 || !strings.Contains(page, `name="action" value="confirm"`) {
		t.Fatalf("GET %s = %d:\n%.600s", link, code, page)
	}
	if code, ans := getWith(t, admin+"/api/v1/orders/INV-8001", shopKey); code != 200 || !strings.Contains(ans, `"status":"held"`) {
		t.Fatalf("after only opening the link: %d %s, want still held", code, ans)
	}
	token, _ := url.ParseQuery(strings.SplitN(link, "?", 2)[1])
	resp, err := http.PostForm(public+"/_gateway/verify-email", url.Values{"token": {token.Get("token")}, "action": {"confirm"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(page, []byte("verified")) {
		t.Fatalf("confirming = %d:\n%.600s", resp.StatusCode, page)
	}

	// 4. The order has cleared, and its timeline says how.
	if code, ans := getWith(t, admin+"/api/v1/orders/INV-8001", shopKey); code != 200 ||
		!strings.Contains(ans, `"status":"cleared"`) || !strings.Contains(ans, `"email_verification":"done"`) {
		t.Fatalf("after confirming: %d %s, want cleared", code, ans)
	}
	code, tl := getWith(t, admin+"/api/v1/orders/"+held.ScreeningID+"/timeline", officer)
	if code != 200 || !strings.Contains(tl, `"screened"`) || !strings.Contains(tl, "email_verification done, cleared") {
		t.Fatalf("timeline = %d %s", code, tl)
	}

	// 4b. Provisioning learns it from a signed order.cleared webhook,
	// retried with the same webhook-id after a 500.
	prov.checkCleared(t, held.ScreeningID)

	// 5. The audit log has each step (the relay delivers at least once,
	// shortly after the commit).
	want := []string{"order.created", "order.requirement_done", "email.verified"}
	deadline = time.Now().Add(20 * time.Second)
	for {
		code, al := getWith(t, admin+"/api/v1/audit?sort=oldest", officer)
		missing := ""
		for _, w := range want {
			if !strings.Contains(al, `"action":"`+w+`"`) {
				missing = w
				break
			}
		}
		if code == 200 && missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit log lacks %q after 20s: %d %s", missing, code, al)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// 6. The chain verifies, in Redis and in the archive.
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	yaml := fmt.Sprintf("redis:\n  url: %q\ns3:\n  endpoint: %s\n  access_key: %s\n  secret_key: %s\n  bucket: %s\n"+
		"screening:\n  hash_key: %s\n  key_prefix: %q\naudit:\n  bucket: %s\n",
		redisURL, s3env.Endpoint, s3env.AccessKey, s3env.SecretKey, bucket, "0123456789abcdef0123456789abcdef", prefix, auditBucket)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"audit", "verify", "-config", file}, strings.NewReader(""), &out, &errb, nil); code != 0 {
		t.Fatalf("gateway audit verify = %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
}
