package kyc

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/internal/fakeclock"
	"github.com/vpsgate/gateway/internal/linktoken"
	"github.com/vpsgate/gateway/internal/mail"
	"github.com/vpsgate/gateway/internal/testenv"
)

// recOrders records what the case workflow tells the order lifecycle (the
// orders package's side is tested in orders/identity_test.go and end to
// end in cmd/gateway).
type recOrders struct {
	mu    sync.Mutex
	calls []string
	fail  error
}

func (o *recOrders) add(s string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return o.fail
	}
	o.calls = append(o.calls, s)
	return nil
}

// Each call names the identity as subjectRef does; the orders side of
// the same names is orders.refOf (tested there).
func (o *recOrders) KYCSubmitted(_ context.Context, owner, account, emailHash, caseID string, n int, actor string) error {
	return o.add(fmt.Sprintf("submitted %s %s #%d by %s", subjectRef(owner, account, emailHash), caseID, n, actor))
}

func (o *recOrders) IdentityVerified(_ context.Context, owner, account, emailHash, caseID, actor string) error {
	return o.add(fmt.Sprintf("verified %s %s by %s", subjectRef(owner, account, emailHash), caseID, actor))
}

func (o *recOrders) IdentityRejected(_ context.Context, owner, account, emailHash, caseID, reason, actor string) error {
	return o.add(fmt.Sprintf("rejected %s %s (%s) by %s", subjectRef(owner, account, emailHash), caseID, reason, actor))
}

func (o *recOrders) seen() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.calls...)
}

// recAudit keeps audit entries by id (the audit log is idempotent by id).
type recAudit struct {
	mu      sync.Mutex
	entries map[string]AuditEntry
	order   []string
}

func (a *recAudit) Append(_ context.Context, e AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.entries == nil {
		a.entries = map[string]AuditEntry{}
	}
	if _, ok := a.entries[e.ID]; !ok {
		a.order = append(a.order, e.ID)
	}
	a.entries[e.ID] = e
	return nil
}

func (a *recAudit) actions() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, id := range a.order {
		out = append(out, a.entries[id].Action)
	}
	return out
}

type recMail struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (m *recMail) Enqueue(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	return nil
}

// env is the case workflow on real Redis and a real MinIO bucket.
type env struct {
	svc    *Service
	store  *Store
	rdb    redis.UniversalClient
	outbox *events.Outbox
	orders *recOrders
	audit  *recAudit
	mail   *recMail
	cfg    Config
	page   http.Handler
	clock  *fakeclock.Clock
}

func (e *env) now() time.Time          { return e.clock.Now() }
func (e *env) advance(d time.Duration) { e.clock.Advance(d) }

const testSecret = "kyc-test-secret-0123456789abcdef"

// newEnv builds a Service on rdb under prefix with a bucket of the test's
// own; s3 overrides the S3 endpoint (a proxy in front of MinIO).
func newEnv(t testing.TB, rdb redis.UniversalClient, prefix string, cfg Config, s3 string, consumer string) *env {
	t.Helper()
	_, bucket := testenv.Bucket(t)
	s3env := testenv.S3(t)
	if s3 == "" {
		s3 = s3env.Endpoint
	}
	sc := StoreConfig{Endpoint: s3, AccessKey: s3env.AccessKey, SecretKey: s3env.SecretKey, Bucket: bucket}
	sc.SetDefaults()
	logger := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	store, err := OpenStore(context.Background(), sc, logger)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tpl, err := mail.NewTemplates("Test Shop")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: store, rdb: rdb, outbox: events.New(rdb, prefix+"events", 0), orders: &recOrders{}, audit: &recAudit{}, mail: &recMail{},
		cfg: cfg, clock: fakeclock.New(time.Now().UTC())}
	e.svc, err = New(cfg, Deps{
		Redis: rdb, Store: store, Prefix: prefix + "kyc", Secret: []byte(testSecret), PublicURL: "https://shop.example",
		Orders: e.orders, Events: e.outbox, Audit: e.audit, Mail: e.mail, Templates: tpl, Logger: logger, Now: e.now, Consumer: consumer,
		Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := e.svc.Handler()
	if err != nil {
		t.Fatal(err)
	}
	e.page = h
	return e
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// standalone is a client of the shared test Redis and a prefix.
func standalone(t testing.TB) (redis.UniversalClient, string) {
	return testenv.RedisClient(t), testenv.KeyPrefix(t)
}

// backends runs f on standalone Redis and on the Cluster.
func backends(t *testing.T, f func(t *testing.T, rdb redis.UniversalClient, prefix string)) {
	t.Run("standalone", func(t *testing.T) {
		rdb, prefix := standalone(t)
		f(t, rdb, prefix)
	})
	t.Run("cluster", func(t *testing.T) {
		rdb, prefix := testenv.RedisClusterClient(t)
		f(t, rdb, prefix)
	})
}

// Real document bytes, generated.
func jpegBytes(t testing.TB, seed uint8) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 40))
	for x := range 64 {
		for y := range 40 {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 6), seed, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pngBytes(t testing.TB, seed uint8) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 32, 32))
	for i := range img.Pix {
		img.Pix[i] = uint8(i) ^ seed
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pdfBytes is a minimal valid one-page PDF.
func pdfBytes() []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := []int{}
	for i, o := range objs {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// part is one part of a test upload.
type part struct {
	name, filename string
	body           []byte
}

// body builds a multipart/form-data body.
func body(t testing.TB, parts ...part) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		if p.filename != "" {
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, p.name, p.filename))
			h.Set("Content-Type", "image/jpeg")
		} else {
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q`, p.name))
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(p.body)
	}
	w.Close()
	return b.Bytes(), w.FormDataContentType()
}

// idCard is a complete national_id upload.
func idCard(t testing.TB, name string, seed uint8) []part {
	return []part{
		{name: "legal_name", body: []byte(name)},
		{name: "document_type", body: []byte("national_id")},
		{name: "front", filename: "front.jpg", body: jpegBytes(t, seed)},
		{name: "back", filename: "back.png", body: pngBytes(t, seed)},
		{name: "selfie", filename: "me.pdf", body: pdfBytes()},
	}
}

// post sends an upload to the page with the link's token.
func (e *env) post(t testing.TB, link string, b []byte, ct string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, pathOf(t, link), bytes.NewReader(b))
	r.Header.Set("Content-Type", ct)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	rec := httptest.NewRecorder()
	e.page.ServeHTTP(rec, r)
	return rec
}

func (e *env) get(t testing.TB, link string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	e.page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, pathOf(t, link), nil))
	return rec
}

// pathOf is the path and query of a link.
func pathOf(t testing.TB, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

func tokenOf(t testing.TB, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

// relay delivers everything pending.
func (e *env) relay(t testing.TB) {
	t.Helper()
	for range 20 {
		n, err := e.svc.RelayOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// published lists the event types in the outbox.
func (e *env) published(t testing.TB) []events.Stored {
	t.Helper()
	got, err := e.outbox.Range(context.Background(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// objects lists the keys under kyc/ (the SSE probe aside).
func (e *env) objects(t testing.TB) []string {
	t.Helper()
	var keys []string
	if err := e.store.List(context.Background(), "kyc/", func(o ObjectInfo) bool {
		if o.Key != probeKey {
			keys = append(keys, o.Key)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// caseOf reads the case a link names.
func (e *env) caseOf(t testing.TB, link string) *Case {
	t.Helper()
	c, err := e.svc.tokens.Parse(tokenOf(t, link))
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.svc.load(context.Background(), c.Case)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// uploaded sends an ID card for account (of key:shop) through the page and
// returns the link and the pending case.
func (e *env) uploaded(t testing.TB, account string, seed uint8) (string, *Case) {
	t.Helper()
	link, err := e.svc.KYCLink("key:shop", account, "Ann Lee", "")
	if err != nil {
		t.Fatal(err)
	}
	b, ct := body(t, idCard(t, "Ann Lee", seed)...)
	if rec := e.post(t, link, b, ct); rec.Code != 200 {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	return link, e.caseOf(t, link)
}

// approved is uploaded, then approved by an officer.
func (e *env) approved(t testing.TB, account string, seed uint8) (string, *Case) {
	t.Helper()
	link, c := e.uploaded(t, account, seed)
	if _, err := e.svc.Approve(context.Background(), c.ID, Decision{}, "officer:olga", ""); err != nil {
		t.Fatal(err)
	}
	return link, c
}

// signingKey is the key KYC link tokens are signed with, for tests that
// sign their own.
var signingKey = linktoken.DeriveKey([]byte(testSecret), keyLabel)
