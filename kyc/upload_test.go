package kyc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/embedded"
	"github.com/vpsgate/gateway/internal/testenv"
)

func TestSniff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		head []byte
		want string
	}{
		{"jpeg", jpegBytes(t, 1), TypeJPEG},
		{"png", pngBytes(t, 1), TypePNG},
		{"pdf", pdfBytes(), TypePDF},
		{"html", []byte("<!doctype html><script>alert(1)</script>"), ""},
		{"script", []byte("#!/bin/sh\nrm -rf /\n"), ""},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`), ""},
		{"gif", []byte("GIF89a"), ""},
		{"empty", nil, ""},
		{"jpeg prefix only", []byte{0xFF, 0xD8}, ""},
	}
	for _, tt := range tests {
		if got := Sniff(tt.head); got != tt.want {
			t.Errorf("Sniff(%s) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestUploadRefusals: bad uploads are refused with the right status,
// leave no object and no case, and leave the link usable.
func TestUploadRefusals(t *testing.T) {
	rdb, prefix := standalone(t)
	e := newEnv(t, rdb, prefix, Config{MaxFileBytes: 64 << 10}, "", "p1")
	link, _ := e.svc.KYCLink("key:shop", "1", "Ann Lee", "")
	big := append(jpegBytes(t, 1), bytes.Repeat([]byte{0}, 64<<10)...)
	tests := []struct {
		name   string
		parts  []part
		status int
		says   string
	}{
		{"html renamed jpg", []part{{name: "legal_name", body: []byte("Ann Lee")}, {name: "document_type", body: []byte("passport")},
			{name: "front", filename: "id.jpg", body: []byte("<html><script>alert(1)</script></html>")}}, http.StatusUnsupportedMediaType, "JPEG, PNG or PDF"},
		{"script renamed pdf", []part{{name: "front", filename: "id.pdf", body: []byte("#!/bin/sh\necho hi\n")}}, http.StatusUnsupportedMediaType, "JPEG"},
		{"file over the limit", []part{{name: "front", filename: "id.jpg", body: big}}, http.StatusRequestEntityTooLarge, "larger than"},
		{"too many parts", func() []part {
			var ps []part
			for i := range 9 {
				ps = append(ps, part{name: fmt.Sprintf("x%d", i), body: []byte("1")})
			}
			return ps
		}(), http.StatusBadRequest, ""},
		{"unknown field", []part{{name: "nationality", body: []byte("x")}}, http.StatusBadRequest, "nationality"},
		{"field sent as a file", []part{{name: "legal_name", filename: "n.txt", body: []byte("x")}}, http.StatusBadRequest, "legal_name"},
		{"field twice", []part{{name: "legal_name", body: []byte("a")}, {name: "legal_name", body: []byte("b")}}, http.StatusBadRequest, "more than once"},
		{"field too long", []part{{name: "legal_name", body: bytes.Repeat([]byte("a"), 2000)}}, http.StatusBadRequest, "longer"},
		{"no name", []part{{name: "document_type", body: []byte("passport")}, {name: "front", filename: "a.jpg", body: jpegBytes(t, 2)}}, http.StatusBadRequest, "legal_name"},
		{"bad type", []part{{name: "legal_name", body: []byte("Ann")}, {name: "document_type", body: []byte("library_card")}, {name: "front", filename: "a.jpg", body: jpegBytes(t, 2)}}, http.StatusBadRequest, "document_type"},
		{"id card without back", []part{{name: "legal_name", body: []byte("Ann")}, {name: "document_type", body: []byte("national_id")}, {name: "front", filename: "a.jpg", body: jpegBytes(t, 2)}}, http.StatusBadRequest, "back"},
		{"passport with back", []part{{name: "legal_name", body: []byte("Ann")}, {name: "document_type", body: []byte("passport")}, {name: "front", filename: "a.jpg", body: jpegBytes(t, 2)}, {name: "back", filename: "b.jpg", body: jpegBytes(t, 3)}}, http.StatusBadRequest, "passport has no back"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, ct := body(t, tt.parts...)
			rec := e.post(t, link, b, ct)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.says) {
				t.Errorf("status %d, want %d saying %q: %s", rec.Code, tt.status, tt.says, rec.Body)
			}
			if objs := e.objects(t); len(objs) != 0 {
				t.Errorf("objects left: %v", objs)
			}
			if c := e.caseOf(t, link); c != nil {
				t.Errorf("case created: %+v", c)
			}
		})
	}
	if rec := e.post(t, link, []byte("x"), "application/json"); rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("JSON body: %d", rec.Code)
	}
	// The link still works after all that.
	b, ct := body(t, idCard(t, "Ann Lee", 1)...)
	if rec := e.post(t, link, b, ct); rec.Code != 200 {
		t.Errorf("good upload after refusals: %d %s", rec.Code, rec.Body)
	}
	if got, want := testutil.ToFloat64(e.svc.m.uploads.WithLabelValues("refused")), float64(len(tests)+1); got != want {
		t.Errorf("gateway_kyc_uploads_total{outcome=refused} = %v, want %v", got, want)
	}
	if got := testutil.ToFloat64(e.svc.m.uploads.WithLabelValues("accepted")); got != 1 {
		t.Errorf("gateway_kyc_uploads_total{outcome=accepted} = %v, want 1", got)
	}
}

// TestFileNameTraversal: a file name with ../ changes nothing: keys are
// opaque ids, the name is not stored.
func TestFileNameTraversal(t *testing.T) {
	rdb, prefix := standalone(t)
	e := newEnv(t, rdb, prefix, Config{}, "", "p1")
	link, _ := e.svc.KYCLink("key:shop", "1", "Ann Lee", "")
	b, ct := body(t, part{name: "legal_name", body: []byte("Ann Lee")}, part{name: "document_type", body: []byte("passport")},
		part{name: "front", filename: "../../../etc/passwd/../x.jpg", body: jpegBytes(t, 1)})
	if rec := e.post(t, link, b, ct); rec.Code != 200 {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	c := e.caseOf(t, link)
	objs := e.objects(t)
	if len(objs) != 1 || objs[0] != documentKey(c.ID, c.Documents[0].ID) || !validID(c.Documents[0].ID) {
		t.Errorf("objects %v for case %s", objs, c.ID)
	}
	if raw, _ := e.rdb.HGet(context.Background(), e.svc.caseKey(c.ID), "case").Result(); strings.Contains(raw, "passwd") {
		t.Errorf("the file name is stored: %s", raw)
	}
}

// countingBody is a generated body of n bytes that counts what was read.
type countingBody struct {
	prefix []byte
	n      int64
	read   atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	off := c.read.Load()
	if off >= c.n {
		return 0, io.EOF
	}
	k := min(int64(len(p)), c.n-off)
	for i := range k {
		if j := off + i; j < int64(len(c.prefix)) {
			p[i] = c.prefix[j]
		} else {
			p[i] = 0xAB
		}
	}
	c.read.Add(k)
	return int(k), nil
}

// TestHugeBody: a 1 GB upload is refused at the limit without reading it
// all, over a real connection, with a Content-Length and chunked.
func TestHugeBody(t *testing.T) {
	rdb, prefix := standalone(t)
	e := newEnv(t, rdb, prefix, Config{}, "", "p1")
	srv := httptest.NewServer(e.page)
	defer srv.Close()
	const gb = 1 << 30
	head := []byte("--B\r\nContent-Disposition: form-data; name=\"front\"; filename=\"a.jpg\"\r\n\r\n\xFF\xD8\xFF\xE0")
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			link, _ := e.svc.KYCLink("key:shop", "h", "Ann Lee", "")
			cb := &countingBody{prefix: head, n: gb}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+pathOf(t, link), cb)
			req.Header.Set("Content-Type", "multipart/form-data; boundary=B")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			if chunked {
				req.ContentLength = -1
			} else {
				req.ContentLength = gb
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				// The server may close the connection while the client
				// still writes: that is stopping early too.
				t.Logf("client: %v", err)
			} else {
				resp.Body.Close()
				if resp.StatusCode != http.StatusRequestEntityTooLarge {
					t.Errorf("status %d, want 413", resp.StatusCode)
				}
			}
			if got := cb.read.Load(); got > 64<<20 {
				t.Errorf("the client sent %d bytes of 1 GB before the server stopped; want at most 64 MiB", got)
			}
			if objs := e.objects(t); len(objs) != 0 {
				t.Errorf("objects left: %v", objs)
			}
		})
	}
}

// TestTokenStates: expired, forged, other-purpose and reused links get a
// clear page.
func TestTokenStates(t *testing.T) {
	rdb, prefix := standalone(t)
	e := newEnv(t, rdb, prefix, Config{}, "", "p1")
	link, _ := e.svc.KYCLink("key:shop", "1", "Ann Lee", "")
	e.advance(8 * 24 * time.Hour)
	if rec := e.get(t, link); rec.Code != http.StatusGone || !strings.Contains(rec.Body.String(), "expired") {
		t.Errorf("expired GET: %d %s", rec.Code, rec.Body)
	}
	b, ct := body(t, idCard(t, "Ann Lee", 1)...)
	if rec := e.post(t, link, b, ct); rec.Code != http.StatusGone {
		t.Errorf("expired POST: %d %s", rec.Code, rec.Body)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("a", 5000), tokenOf(t, link) + "x"} {
		rec := httptest.NewRecorder()
		e.page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PagePath+"?token="+bad, nil))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "not valid") {
			t.Errorf("token %.20q: %d %s", bad, rec.Code, rec.Body)
		}
	}
	if objs := e.objects(t); len(objs) != 0 {
		t.Errorf("objects left: %v", objs)
	}
	rec := httptest.NewRecorder()
	e.page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/_gateway/kyc/other", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("other path: %d", rec.Code)
	}
	// A cross-site POST is refused before anything is read.
	r := httptest.NewRequest(http.MethodPost, pathOf(t, link), bytes.NewReader(b))
	r.Header.Set("Content-Type", ct)
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	rec = httptest.NewRecorder()
	e.page.ServeHTTP(rec, r)
	if rec.Code != http.StatusForbidden {
		t.Errorf("cross-site POST: %d", rec.Code)
	}
}

// proxy is a TCP proxy in front of MinIO that a test can cut: S3 "down"
// in the middle of an upload.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	down   bool
	after  atomic.Int64 // bytes towards MinIO after which to cut (0: never)
	sent   atomic.Int64
}

func newProxy(t testing.TB, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if lim := p.after.Load(); lim > 0 && p.sent.Add(int64(n)) > lim {
						p.cut()
						return
					}
					if _, err := u.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					u.Close()
					return
				}
			}
		}()
		go func() { io.Copy(c, u); c.Close() }()
	}
}

// cut takes S3 down: open connections are closed, new ones refused.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
	p.after.Store(0)
}

// TestS3DownDuringUpload: MinIO going away in the middle of an upload is
// 503; no case is created, the link still works, and whatever the upload
// left in MinIO is gone (removed at once when S3 answers again, else by
// the worker's orphan sweep).
func TestS3DownDuringUpload(t *testing.T) {
	rdb, prefix := standalone(t)
	px := newProxy(t, testenv.S3(t).Endpoint)
	e := newEnv(t, rdb, prefix, Config{OrphanGrace: time.Minute}, px.addr(), "p1")
	link, _ := e.svc.KYCLink("key:shop", "1", "Ann Lee", "")
	parts := idCard(t, "Ann Lee", 1)
	// A big back: the upload is under way when the proxy cuts.
	parts[3].body = append(pngBytes(t, 1), bytes.Repeat([]byte{1}, 6<<20)...)
	b, ct := body(t, parts...)
	px.sent.Store(0)
	px.after.Store(2 << 20)
	rec := e.post(t, link, b, ct)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "link still works") {
		t.Fatalf("upload with S3 down: %d %s", rec.Code, rec.Body)
	}
	if c := e.caseOf(t, link); c != nil {
		t.Errorf("half-created case: %+v", c)
	}
	px.restore()
	// The front went in before the cut and could not be removed then.
	e.advance(2 * time.Minute)
	if err := e.svc.WorkOnce(context.Background(), "w1"); err != nil {
		t.Fatal(err)
	}
	if objs := e.objects(t); len(objs) != 0 {
		t.Errorf("orphans left after the sweep: %v", objs)
	}
	core := e.store.client
	for u := range core.ListIncompleteUploads(context.Background(), e.store.bucket, "kyc/", true) {
		t.Errorf("unfinished multipart upload left: %+v", u)
	}
	b, ct = body(t, idCard(t, "Ann Lee", 1)...)
	if rec := e.post(t, link, b, ct); rec.Code != 200 {
		t.Errorf("upload once S3 is back: %d %s", rec.Code, rec.Body)
	}
}

// stopOnScript stops a private Redis the first time a script runs: Redis
// goes away after the upload's checks and before the case's commit.
type stopOnScript struct {
	srv  *testenv.RedisProcess
	once sync.Once
}

func (h *stopOnScript) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *stopOnScript) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if n := cmd.Name(); n == "evalsha" || n == "eval" {
			h.once.Do(h.srv.Stop)
		}
		return next(ctx, cmd)
	}
}
func (h *stopOnScript) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestRedisDown: Redis going away is 503 for the page; Redis going away
// between the upload's checks and its commit is 503 too, the documents
// already sent are removed and nothing is half-created; the link works
// once Redis is back.
func TestRedisDown(t *testing.T) {
	srv := testenv.StartRedis(t)
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	opts.MaxRetries = -1
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	e := newEnv(t, rdb, "kyc-down:", Config{}, "", "p1")
	link, _ := e.svc.KYCLink("key:shop", "1", "Ann Lee", "")
	b, ct := body(t, idCard(t, "Ann Lee", 1)...)
	hook := &stopOnScript{srv: srv}
	rdb.AddHook(hook)
	if rec := e.post(t, link, b, ct); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("POST with Redis gone before the commit: %d %s", rec.Code, rec.Body)
	}
	if objs := e.objects(t); len(objs) != 0 {
		t.Errorf("objects left: %v", objs)
	}
	if rec := e.get(t, link); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("GET with Redis down: %d %s", rec.Code, rec.Body)
	}
	srv.Start()
	if rec := e.post(t, link, b, ct); rec.Code != 200 {
		t.Errorf("POST with Redis back: %d %s", rec.Code, rec.Body)
	}
	if c := e.caseOf(t, link); c == nil || c.Submissions != 1 {
		t.Errorf("case after Redis came back: %+v", c)
	}
}

// TestLargeDocument: a document over one chunk goes up as a multipart
// upload and comes back whole, with the digest of its bytes.
func TestLargeDocument(t *testing.T) {
	rdb, prefix := standalone(t)
	e := newEnv(t, rdb, prefix, Config{}, "", "p1")
	doc := append(jpegBytes(t, 1), bytes.Repeat([]byte("0123456789abcdef"), (9<<20)/16)...)
	st, err := e.store.Put(context.Background(), documentKey(newID(), newID()), bytes.NewReader(doc), 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(doc)
	if st.Size != int64(len(doc)) || st.SHA256 != hex.EncodeToString(sum[:]) || st.ContentType != TypeJPEG || !st.Encrypted {
		t.Errorf("Put = %+v, want %d bytes, digest %x", st, len(doc), sum)
	}
	o, err := e.store.Open(context.Background(), st.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	back, err := io.ReadAll(o)
	if err != nil || !bytes.Equal(back, doc) {
		t.Errorf("read back %d bytes (%v), want the %d sent", len(back), err, len(doc))
	}
	// One byte over the limit: refused, nothing left behind.
	_, err = e.store.Put(context.Background(), "kyc/over/limit", bytes.NewReader(doc), int64(len(doc)-1))
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("Put over the limit = %v", err)
	}
	if _, err := e.store.Stat(context.Background(), "kyc/over/limit"); !errors.Is(err, ErrNotFound) {
		t.Errorf("object over the limit: %v", err)
	}
}

// TestNoServerSideEncryption: against a server that offers no SSE (the
// embedded one ignores the header), the store says so and still works,
// storing documents unencrypted and saying that too.
func TestNoServerSideEncryption(t *testing.T) {
	srv, err := embedded.StartS3(context.Background(), t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cfg := StoreConfig{Endpoint: srv.Endpoint(), AccessKey: srv.AccessKey(), SecretKey: srv.SecretKey()}
	cfg.SetDefaults()
	s, err := OpenStore(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Encryption(); got != "none" {
		t.Errorf("Encryption() = %q, want none", got)
	}
	// The retention worker's sweep of unfinished uploads works on it too
	// (it answers NoSuchUpload to a listing while none was ever started).
	if err := s.AbortUploads(context.Background(), "kyc/", time.Now()); err != nil {
		t.Errorf("AbortUploads on a bucket without uploads: %v", err)
	}
	st, err := s.Put(context.Background(), documentKey(newID(), newID()), bytes.NewReader(jpegBytes(t, 1)), 1<<20)
	if err != nil || st.Encrypted {
		t.Errorf("Put = %+v, %v; want stored, not encrypted", st, err)
	}
}
