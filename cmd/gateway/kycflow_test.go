package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/jpeg"
	"image/png"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/internal/testenv"
)

// TestServeKYCFlow is issue 10's acceptance flow through the whole
// product on real servers (Redis, MinIO with a KMS key): a held order
// whose policy requires KYC gets a KYC link; the customer uploads JPEG and
// PNG documents through the page; an officer finds the case and approves
// it through the API; the order clears and order.cleared is in the event
// outbox; the documents were in MinIO, encrypted, and are gone after the
// retention, the case kept and marked redacted.
func TestServeKYCFlow(t *testing.T) {
	const (
		shopKey = "shop-key-0123456789abcdefghij"
		secret  = "jwt-secret-0123456789abcdefghijklmnop"
	)
	redisURL := testenv.StartRedis(t).URL()
	s3env := testenv.S3(t)
	s3, bucket := testenv.Bucket(t)
	_, auditBucket := testenv.Bucket(t)
	prefix := testenv.KeyPrefix(t)
	pubAddr := testenv.FreeAddr(t)
	env := map[string]string{
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
		"GATEWAY_HOLDS_KYC_WHEN":             "always",
		"GATEWAY_HOLDS_EMAIL_VERIFICATION":   "false",
		"GATEWAY_KYC_RETENTION":              "3s",
		"GATEWAY_KYC_WORKER_INTERVAL":        "1s",
		"GATEWAY_LISTEN":                     pubAddr,
	}
	public, admin, logs := serveInProcess(t, env)
	waitFor(t, admin+"/readyz", 200, nil, logs)
	officer := mintOfficer(t, secret)

	// 1. The order is held on KYC, with a link to the upload page.
	code, _, body := post(t, admin+"/api/v1/orders", shopKey, "application/json",
		`{"order_id":"INV-10001","account":{"id":"acct-10","email":"ann.lee@example.com"},"ip":"192.0.2.7",
		  "billing":{"first_name":"Ann","last_name":"Lee","country":"US"},"amount":"12.00","currency":"USD"}`)
	var held struct {
		Status       string            `json:"status"`
		Requirements map[string]string `json:"requirements"`
		Links        map[string]string `json:"links"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &held) != nil || held.Status != "held" || held.Requirements["kyc"] != "pending" ||
		!strings.HasPrefix(held.Links["kyc"], public+"/_gateway/kyc?token=") {
		t.Fatalf("POST /api/v1/orders = %d %s\n%s", code, body, logs.String())
	}
	link := held.Links["kyc"]

	// 2. The customer opens the page and uploads.
	if code, page := get(t, link); code != 200 || !strings.Contains(page, `name="legal_name"`) {
		t.Fatalf("GET %s = %d:\n%.600s", link, code, page)
	}
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.WriteField("legal_name", "Ann Lee")
	w.WriteField("document_type", "driving_licence")
	for name, data := range map[string][]byte{"front": encodeJPEG(t), "back": encodePNG(t)} {
		fw, _ := w.CreateFormFile(name, name+".jpg")
		fw.Write(data)
	}
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, link, &b)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Origin", public)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("upload = %d\n%s", resp.StatusCode, logs.String())
	}

	// 3. The officer finds the pending case and approves it.
	code, list := getWith(t, admin+"/api/v1/kyc/cases?status=pending", officer)
	var cases struct {
		Cases []struct {
			ID        string `json:"id"`
			Documents []struct {
				ID string `json:"id"`
			} `json:"documents"`
			Score *int `json:"billing_name_score"`
		} `json:"cases"`
	}
	if code != 200 || json.Unmarshal([]byte(list), &cases) != nil || len(cases.Cases) != 1 || len(cases.Cases[0].Documents) != 2 {
		t.Fatalf("GET /api/v1/kyc/cases = %d %s", code, list)
	}
	id := cases.Cases[0].ID
	ctx := context.Background()
	for _, d := range cases.Cases[0].Documents {
		st, err := s3.StatObject(ctx, bucket, "kyc/"+id+"/"+d.ID, minio.StatObjectOptions{})
		if err != nil || st.Metadata.Get("X-Amz-Server-Side-Encryption") == "" {
			t.Errorf("document %s in MinIO: %v %v, want encrypted", d.ID, err, st.Metadata)
		}
	}
	code, _, ans := post(t, admin+"/api/v1/kyc/cases/"+id+"/approve", officer, "application/json", `{"note":"matches"}`)
	if code != 200 || !strings.Contains(ans, `"status":"approved"`) {
		t.Fatalf("approve = %d %s", code, ans)
	}

	// 4. The order cleared; order.cleared and kyc.approved are in the
	// outbox (the relays deliver shortly after the commit).
	if code, ans := getWith(t, admin+"/api/v1/orders/INV-10001", shopKey); code != 200 || !strings.Contains(ans, `"status":"cleared"`) {
		t.Fatalf("order after approval: %d %s", code, ans)
	}
	opts, _ := redis.ParseURL(redisURL)
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	outbox := events.New(rdb, prefix+"events", 0)
	eventually(t, 20*time.Second, "order.cleared and kyc.approved in the outbox", func() bool {
		got, err := outbox.Range(ctx, "", 1000)
		if err != nil {
			return false
		}
		seen := map[string]bool{}
		for _, e := range got {
			seen[e.Type] = true
		}
		return seen[events.OrderCleared] && seen[events.KYCApproved] && seen[events.KYCSubmitted]
	})
	eventually(t, 20*time.Second, "kyc.approved in the audit log", func() bool {
		_, al := getWith(t, admin+"/api/v1/audit?type=kyc.approved", officer)
		return strings.Contains(al, `"action":"kyc.approved"`)
	})

	// 5. After the retention the case is marked redacted (the worker
	// deletes the documents first), and the documents are gone.
	eventually(t, 30*time.Second, "case redacted after retention", func() bool {
		code, c := getWith(t, admin+"/api/v1/kyc/cases/"+id, officer)
		return code == 200 && strings.Contains(c, `"redacted":true`)
	})
	for o := range s3.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "kyc/" + id + "/", Recursive: true}) {
		t.Errorf("document left after retention: %s %v", o.Key, o.Err)
	}
}

// eventually polls cond until it holds or the bound passes (background
// work across processes: the bound is generous, not a timing claim).
func eventually(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, bound)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func encodeJPEG(t *testing.T) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 40, 30)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodePNG(t *testing.T) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 40, 30))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
