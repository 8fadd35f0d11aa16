package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/kyc"
)

// kycOrders stands in for the order lifecycle (tested in orders and end to
// end in cmd/gateway); the case workflow behind the API is the real one,
// on real Redis and MinIO.
type kycOrders struct{}

func (kycOrders) KYCSubmitted(context.Context, string, string, string, string, int, string) error {
	return nil
}
func (kycOrders) IdentityVerified(context.Context, string, string, string, string, string) error {
	return nil
}
func (kycOrders) IdentityRejected(context.Context, string, string, string, string, string, string) error {
	return nil
}

type kycAuditLog struct{ entries []kyc.AuditEntry }

func (a *kycAuditLog) Append(_ context.Context, e kyc.AuditEntry) error {
	a.entries = append(a.entries, e)
	return nil
}

func newTestKYC(t *testing.T) *kyc.Service {
	t.Helper()
	rdb, prefix := testenv.RedisClient(t), testenv.KeyPrefix(t)
	s3 := testenv.S3(t)
	_, bucket := testenv.Bucket(t)
	sc := kyc.StoreConfig{Endpoint: s3.Endpoint, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Bucket: bucket}
	sc.SetDefaults()
	store, err := kyc.OpenStore(context.Background(), sc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var cfg kyc.Config
	cfg.SetDefaults()
	svc, err := kyc.New(cfg, kyc.Deps{Redis: rdb, Store: store, Prefix: prefix + "kyc", Secret: []byte(strings.Repeat("k", 32)),
		PublicURL: "https://shop.example", Orders: kycOrders{}, Events: events.New(rdb, prefix+"events", 0), Audit: &kycAuditLog{},
		Now: time.Now, Consumer: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func kycUpload(t *testing.T) ([]byte, string) {
	t.Helper()
	var img bytes.Buffer
	if err := jpeg.Encode(&img, image.NewGray(image.Rect(0, 0, 20, 20)), nil); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.WriteField("legal_name", "Ann Lee")
	w.WriteField("document_type", "passport")
	fw, _ := w.CreateFormFile("front", "passport.jpg")
	fw.Write(img.Bytes())
	w.Close()
	return b.Bytes(), w.FormDataContentType()
}

// TestAPIKYC: the KYC routes' roles, the storefront upload bound to its
// own key's links, the officer's list, claim, document stream and
// decisions, the admin's erasure, and 503 without KYC.
func TestAPIKYC(t *testing.T) {
	off, creds := newTestAPIWith(t, func(d *APIDeps) {})
	call := func(h http.Handler, method, path, who, ct string, body []byte) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(method, path, bytes.NewReader(body))
		if who != "" {
			r.Header.Set("Authorization", "Bearer "+creds[who])
		}
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	if rec := call(off, "GET", "/api/v1/kyc/cases", "officer", "", nil); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("without KYC: %d %s", rec.Code, rec.Body)
	}

	svc := newTestKYC(t)
	h, _ := newTestAPIWith(t, func(d *APIDeps) { d.KYC = svc })
	for _, tc := range []struct{ method, path, who string }{
		{"GET", "/api/v1/kyc/cases", ""},
		{"GET", "/api/v1/kyc/cases", "shop"},
		{"POST", "/api/v1/kyc/accounts/42/erase?owner=key:shop", "officer"},
		{"POST", "/api/v1/kyc/cases/NOSUCHCASE/erase", "officer"},
		{"POST", "/api/v1/kyc/uploads", "officer"},
	} {
		if rec := call(h, tc.method, tc.path, tc.who, "", nil); rec.Code != http.StatusUnauthorized && rec.Code != http.StatusForbidden {
			t.Errorf("%s %s as %q: %d, want 401/403", tc.method, tc.path, tc.who, rec.Code)
		}
	}

	b, ct := kycUpload(t)
	other, _ := svc.KYCLink("key:other", "42", "Ann Lee", "")
	if rec := call(h, "POST", "/api/v1/kyc/uploads?token="+strings.SplitN(other, "token=", 2)[1], "shop", ct, b); rec.Code != http.StatusForbidden {
		t.Errorf("upload with another storefront's link: %d %s", rec.Code, rec.Body)
	}
	link, _ := svc.KYCLink("key:shop", "42", "Ann Lee", "")
	rec := call(h, "POST", "/api/v1/kyc/uploads?token="+strings.SplitN(link, "token=", 2)[1], "shop", ct, b)
	if rec.Code != http.StatusCreated || !strings.Contains(rec.Body.String(), `"status":"pending"`) {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}

	rec = call(h, "GET", "/api/v1/kyc/cases?status=pending&limit=10", "officer", "", nil)
	var list struct {
		Cases []kyc.View `json:"cases"`
		Total int        `json:"total"`
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &list) != nil || len(list.Cases) != 1 || list.Total != 1 {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	c := list.Cases[0]
	if rec := call(h, "GET", "/api/v1/kyc/cases?status=open", "officer", "", nil); rec.Code != 400 || !strings.Contains(rec.Body.String(), `"field":"status"`) {
		t.Errorf("bad status: %d %s", rec.Code, rec.Body)
	}
	if rec := call(h, "GET", "/api/v1/kyc/cases/NOSUCHCASE", "officer", "", nil); rec.Code != 404 {
		t.Errorf("unknown case: %d", rec.Code)
	}
	if rec := call(h, "POST", "/api/v1/kyc/cases/"+c.ID+"/claim", "officer", "", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"claimed_by":"officer:olga"`) {
		t.Errorf("claim: %d %s", rec.Code, rec.Body)
	}
	rec = call(h, "GET", "/api/v1/kyc/cases/"+c.ID+"/documents/"+c.Documents[0].ID, "officer", "", nil)
	hd := rec.Header()
	if rec.Code != 200 || hd.Get("Content-Type") != "image/jpeg" || hd.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(hd.Get("Content-Disposition"), "attachment;") || kyc.Sniff(rec.Body.Bytes()) != kyc.TypeJPEG {
		t.Errorf("document: %d %v", rec.Code, hd)
	}
	rec = call(h, "GET", "/api/v1/kyc/cases/"+c.ID+"/documents/"+c.Documents[0].ID+"?presign=1", "officer", "", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"expires_in":300`) {
		t.Errorf("presign: %d %s", rec.Code, rec.Body)
	}
	for _, bad := range []struct{ path, body, want string }{
		{"/reject", `{}`, `"field":"reason"`},
		{"/reject", `{"reason":"x","extra":1}`, "extra"},
		{"/request-resubmission", `{"note":"x"}`, `"field":"reason"`},
	} {
		if rec := call(h, "POST", "/api/v1/kyc/cases/"+c.ID+bad.path, "officer", "application/json", []byte(bad.body)); rec.Code != 400 || !strings.Contains(rec.Body.String(), bad.want) {
			t.Errorf("%s %s: %d %s", bad.path, bad.body, rec.Code, rec.Body)
		}
	}
	if rec := call(h, "POST", "/api/v1/kyc/cases/"+c.ID+"/approve", "officer", "application/json", []byte(`{"note":"ok"}`)); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"status":"approved"`) {
		t.Fatalf("approve: %d %s", rec.Code, rec.Body)
	}
	if rec := call(h, "POST", "/api/v1/kyc/cases/"+c.ID+"/reject", "officer", "application/json", []byte(`{"reason":"x"}`)); rec.Code != http.StatusConflict {
		t.Errorf("reject after approve: %d %s", rec.Code, rec.Body)
	}
	rec = call(h, "POST", "/api/v1/kyc/accounts/42/erase?owner=key:shop", "admin", "", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"cases_redacted":1`) {
		t.Errorf("erase: %d %s", rec.Code, rec.Body)
	}
	rec = call(h, "GET", "/api/v1/kyc/cases/"+c.ID+"/documents/"+c.Documents[0].ID, "officer", "", nil)
	if rec.Code != 404 {
		body, _ := io.ReadAll(rec.Body)
		t.Errorf("document after erasure: %d %s", rec.Code, body)
	}

	// A guest checkout's case: the API names its email reference and no
	// account id, and erases it by the case.
	guest, _ := svc.KYCEmailLink("key:shop", "GUESTHASH", "Ann Lee", "ann@example.com")
	b, ct = kycUpload(t)
	if rec := call(h, "POST", "/api/v1/kyc/uploads?token="+strings.SplitN(guest, "token=", 2)[1], "shop", ct, b); rec.Code != http.StatusCreated {
		t.Fatalf("guest upload: %d %s", rec.Code, rec.Body)
	}
	rec = call(h, "GET", "/api/v1/kyc/cases?status=pending", "officer", "", nil)
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &list) != nil || len(list.Cases) != 1 ||
		list.Cases[0].Reference != "email:key:shop/GUESTHASH" || list.Cases[0].Account != "" ||
		!strings.Contains(rec.Body.String(), `"email_hash":"GUESTHASH"`) {
		t.Fatalf("guest case: %d %s", rec.Code, rec.Body)
	}
	if rec := call(h, "POST", "/api/v1/kyc/cases/"+list.Cases[0].ID+"/erase", "admin", "", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"cases_redacted":1`) {
		t.Errorf("erasing the guest case: %d %s", rec.Code, rec.Body)
	}
	if rec := call(h, "POST", "/api/v1/kyc/cases/NOSUCHCASE0000000000000000/erase", "admin", "", nil); rec.Code != 404 {
		t.Errorf("erasing no case: %d %s", rec.Code, rec.Body)
	}
}
