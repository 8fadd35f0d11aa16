package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/internal/testenv"
)

// TestServeKYCGuestCheckout is issue 12's KYC for checkouts without an
// account id, through the whole product on real servers (Redis
// standalone and the three-node Cluster, MinIO): a WooCommerce guest
// checkout (the woocommerce-classic profile: no account id, only the
// billing email) is intercepted on the public side and held on KYC under
// the default kyc_when first_order, with a kyc link bound to the
// checkout's email reference; the customer uploads through
// /_gateway/kyc; the officer finds the case by that reference (no account
// id) and approves it through the API; the order clears, order.cleared
// reaches the provisioning webhook (signed, retried after a 500) and
// kyc.approved is in the outbox; the same address's next checkout skips
// KYC.
func TestServeKYCGuestCheckout(t *testing.T) {
	onRedisBackends(t, kycGuestFlow)
}

func kycGuestFlow(t *testing.T, redisURL string) {
	const (
		shopKey = "shop-key-0123456789abcdefghij"
		secret  = "jwt-secret-0123456789abcdefghijklmnop"
	)
	var checkout storefrontRequest
	for _, pc := range profileCases() {
		if pc.profile == "woocommerce-classic" {
			checkout = pc.checkout
		}
	}
	// The shop: records the screening id each checkout arrives with.
	var mu sync.Mutex
	var sids []string
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sids = append(sids, r.Header.Get("X-Screening-Id"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"result":"success"}`))
	}))
	t.Cleanup(shop.Close)
	s3env := testenv.S3(t)
	_, bucket := testenv.Bucket(t)
	_, auditBucket := testenv.Bucket(t)
	prefix := testenv.KeyPrefix(t)
	pubAddr := testenv.FreeAddr(t)
	env := map[string]string{
		"GATEWAY_UPSTREAM":                   shop.URL,
		"GATEWAY_INTERCEPT":                  `[{"profile": "woocommerce-classic"}]`,
		"GATEWAY_REDIS_URL":                  redisURL,
		"GATEWAY_S3_ENDPOINT":                s3env.Endpoint,
		"GATEWAY_S3_ACCESS_KEY":              s3env.AccessKey,
		"GATEWAY_S3_SECRET_KEY":              s3env.SecretKey,
		"GATEWAY_S3_BUCKET":                  bucket,
		"GATEWAY_AUDIT_BUCKET":               auditBucket,
		"GATEWAY_SCREENING_HASH_KEY":         "0123456789abcdef0123456789abcdef",
		"GATEWAY_SCREENING_KEY_PREFIX":       prefix,
		"GATEWAY_SCREENING_VELOCITY_TIMEOUT": "2s",
		"GATEWAY_AUTH_API_KEYS":              `[{"name": "shop", "key_hash": "` + authHash(shopKey) + `"}]`,
		"GATEWAY_AUTH_JWT_SECRET":            secret,
		"GATEWAY_PUBLIC_URL":                 "http://" + pubAddr,
		"GATEWAY_HOLDS_EMAIL_VERIFICATION":   "false",
		"GATEWAY_LISTEN":                     pubAddr,
	}
	prov := startProvisioning(t, env)
	public, admin, logs := serveInProcess(t, env)
	waitFor(t, admin+"/readyz", 200, nil, logs)
	officer := mintOfficer(t, secret)

	// 1. The guest checkout: screened, forwarded with its screening id,
	// held on KYC with a link (read by the shop through the API).
	place := func() (string, map[string]any) {
		t.Helper()
		code, _, body, err := postRead(t, public+checkout.target, checkout.ctype, checkout.body)
		if err != nil || code != 200 {
			t.Fatalf("checkout = %d %s %v\n%s", code, body, err, logs.String())
		}
		mu.Lock()
		sid := sids[len(sids)-1]
		mu.Unlock()
		code, ans := getWith(t, admin+"/api/v1/orders/"+sid, shopKey)
		var order map[string]any
		if code != 200 || json.Unmarshal([]byte(ans), &order) != nil {
			t.Fatalf("GET the checkout %q = %d %s", sid, code, ans)
		}
		return sid, order
	}
	sid, order := place()
	reqs, _ := order["requirements"].(map[string]any)
	links, _ := order["links"].(map[string]any)
	link, _ := links["kyc"].(string)
	if order["status"] != "held" || reqs["kyc"] != "pending" || order["account_id"] != nil || !strings.HasPrefix(link, public+"/_gateway/kyc?token=") {
		t.Fatalf("guest checkout = %v, want held on kyc with a link and no account id", order)
	}

	// 2. The customer's upload page.
	if code, page := get(t, link); code != 200 || !strings.Contains(page, `name="legal_name"`) {
		t.Fatalf("GET %s = %d:\n%.600s", link, code, page)
	}
	uploadDocuments(t, link, "Ann Lee")

	// 3. The officer finds the case, bound to the checkout owner's email
	// reference, and approves it.
	code, list := getWith(t, admin+"/api/v1/kyc/cases?status=pending", officer)
	var cases struct {
		Cases []struct {
			ID        string `json:"id"`
			Owner     string `json:"owner"`
			Account   string `json:"account"`
			Reference string `json:"reference"`
			Email     string `json:"email"`
		} `json:"cases"`
	}
	if code != 200 || json.Unmarshal([]byte(list), &cases) != nil || len(cases.Cases) != 1 {
		t.Fatalf("GET /api/v1/kyc/cases = %d %s", code, list)
	}
	c := cases.Cases[0]
	if c.Owner != "checkout" || c.Account != "" || !strings.HasPrefix(c.Reference, "email:checkout/") || c.Email != "ann@example.com" {
		t.Fatalf("case %+v, want the checkout's email reference", c)
	}
	if code, _, ans := post(t, admin+"/api/v1/kyc/cases/"+c.ID+"/approve", officer, "application/json", `{"note":"matches"}`); code != 200 || !strings.Contains(ans, `"status":"approved"`) {
		t.Fatalf("approve = %d %s", code, ans)
	}

	// 4. The order cleared; provisioning gets order.cleared (signed, the
	// same webhook-id after a 500); kyc.approved is in the outbox.
	if code, ans := getWith(t, admin+"/api/v1/orders/"+sid, shopKey); code != 200 || !strings.Contains(ans, `"status":"cleared"`) || !strings.Contains(ans, `"kyc":"done"`) {
		t.Fatalf("order after approval: %d %s", code, ans)
	}
	prov.checkCleared(t, sid)
	var rdb redis.UniversalClient
	if strings.Contains(redisURL, "addr=") {
		rdb = redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.RedisClusterAddrs(t)})
	} else {
		opts, err := redis.ParseURL(redisURL)
		if err != nil {
			t.Fatal(err)
		}
		rdb = redis.NewClient(opts)
	}
	defer rdb.Close()
	outbox := events.New(rdb, prefix+"events", 0)
	eventually(t, 20*time.Second, "kyc.submitted and kyc.approved in the outbox", func() bool {
		got, err := outbox.Range(context.Background(), "", 1000)
		if err != nil {
			return false
		}
		seen := map[string]bool{}
		for _, e := range got {
			seen[e.Type] = true
		}
		return seen[events.KYCApproved] && seen[events.KYCSubmitted]
	})
	// The audit log names the order and the case by the same reference
	// (what the console's case page lists the orders by).
	eventually(t, 20*time.Second, "order.created and kyc.approved audited under "+c.Reference, func() bool {
		_, al := getWith(t, admin+"/api/v1/audit?account="+url.QueryEscape(c.Reference), officer)
		return strings.Contains(al, `"action":"order.created"`) && strings.Contains(al, `"action":"kyc.approved"`) && strings.Contains(al, sid)
	})

	// 5. The address's next guest checkout: its identity was verified
	// (before the order cleared), no documents asked.
	if _, next := place(); next["requirements"].(map[string]any)["kyc"] != "not_required" {
		t.Errorf("the address's next checkout = %v, want no kyc", next)
	}
}
