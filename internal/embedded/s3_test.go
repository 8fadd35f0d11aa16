package embedded

import (
	"bytes"
	"crypto/sha256"
	"hash"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"
)

func startS3Server(t *testing.T, dir string, opts s3Options) *S3Server {
	t.Helper()
	srv, err := startS3(t.Context(), dir, discardLogger(), opts)
	if err != nil {
		t.Fatalf("StartS3(%s): %v", dir, err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// minioClient connects the way the kyc store does: minio.New with the
// endpoint and static V4 credentials, plain HTTP.
func minioClient(t *testing.T, endpoint, accessKey, secretKey string) *minio.Client {
	t.Helper()
	c, err := minio.New(endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(accessKey, secretKey, ""),
		Secure: false,
	})
	if err != nil {
		t.Fatalf("minio.New(%s): %v", endpoint, err)
	}
	return c
}

// payload returns n deterministic pseudo-random bytes.
func payload(n int, seed uint64) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	b := make([]byte, n)
	r.Read(b)
	return b
}

func errorCode(err error) string { return minio.ToErrorResponse(err).Code }

func TestS3ObjectLifecycle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := startS3Server(t, filepath.Join(t.TempDir(), "s3"), s3Options{})
	c := minioClient(t, srv.Endpoint(), srv.AccessKey(), srv.SecretKey())
	const bucket = "kyc-documents"

	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket: %v", err)
	}
	if ok, err := c.BucketExists(ctx, bucket); err != nil || !ok {
		t.Fatalf("BucketExists(%s) = %v, %v; want true", bucket, ok, err)
	}
	if ok, err := c.BucketExists(ctx, "no-such-bucket"); err != nil || ok {
		t.Fatalf("BucketExists(no-such-bucket) = %v, %v; want false, nil", ok, err)
	}

	// A multi-MB document streamed from a reader of known size: minio-go
	// sends it as one aws-chunked PUT with per-chunk signatures.
	doc := payload(6<<20+123, 1)
	info, err := c.PutObject(ctx, bucket, "cases/42/passport.jpg", bytes.NewReader(doc), int64(len(doc)),
		minio.PutObjectOptions{ContentType: "image/jpeg"})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if info.Size != int64(len(doc)) {
		t.Errorf("PutObject size = %d, want %d", info.Size, len(doc))
	}

	st, err := c.StatObject(ctx, bucket, "cases/42/passport.jpg", minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("StatObject: %v", err)
	}
	if st.Size != int64(len(doc)) || st.ContentType != "image/jpeg" {
		t.Errorf("StatObject = size %d type %q, want %d image/jpeg", st.Size, st.ContentType, len(doc))
	}
	if enc := st.Metadata.Get("Content-Encoding"); enc != "" {
		t.Errorf("stored Content-Encoding = %q, want none (aws-chunked is transport only)", enc)
	}

	obj, err := c.GetObject(ctx, bucket, "cases/42/passport.jpg", minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err != nil {
		t.Fatalf("reading object: %v", err)
	}
	if !bytes.Equal(got, doc) {
		t.Fatalf("GetObject returned %d bytes differing from the %d put", len(got), len(doc))
	}

	// Unknown size: minio-go switches to a multipart upload.
	big := payload(11<<20, 2)
	if _, err := c.PutObject(ctx, bucket, "cases/42/selfie.png", bytes.NewReader(big), -1,
		minio.PutObjectOptions{PartSize: 5 << 20, ContentType: "image/png"}); err != nil {
		t.Fatalf("PutObject multipart: %v", err)
	}
	if _, err := c.PutObject(ctx, bucket, "cases/43/note.txt", strings.NewReader("hello"), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("PutObject small: %v", err)
	}

	url, err := c.PresignedGetObject(ctx, bucket, "cases/42/selfie.png", 5*time.Minute, nil)
	if err != nil {
		t.Fatalf("PresignedGetObject: %v", err)
	}
	resp, err := http.Get(url.String())
	if err != nil {
		t.Fatalf("GET presigned: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(body, big) {
		t.Fatalf("GET presigned = %d, %d bytes, err %v; want 200 and the %d bytes put", resp.StatusCode, len(body), err, len(big))
	}

	var keys []string
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "cases/", Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("ListObjects: %v", o.Err)
		}
		keys = append(keys, o.Key)
	}
	want := []string{"cases/42/passport.jpg", "cases/42/selfie.png", "cases/43/note.txt"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("ListObjects mismatch (-want +got):\n%s", diff)
	}

	if err := c.RemoveObject(ctx, bucket, "cases/42/passport.jpg", minio.RemoveObjectOptions{}); err != nil {
		t.Fatalf("RemoveObject: %v", err)
	}
	if _, err := c.StatObject(ctx, bucket, "cases/42/passport.jpg", minio.StatObjectOptions{}); errorCode(err) != "NoSuchKey" {
		t.Fatalf("StatObject after RemoveObject: err = %v (code %q), want NoSuchKey", err, errorCode(err))
	}
}

func TestS3ObjectsSurviveRestart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "data", "s3")
	doc := payload(3<<20, 3)

	first, err := StartS3(ctx, dir, discardLogger())
	if err != nil {
		t.Fatalf("StartS3: %v", err)
	}
	c := minioClient(t, first.Endpoint(), first.AccessKey(), first.SecretKey())
	if err := c.MakeBucket(ctx, "docs", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket: %v", err)
	}
	if _, err := c.PutObject(ctx, "docs", "a/b.pdf", bytes.NewReader(doc), int64(len(doc)),
		minio.PutObjectOptions{ContentType: "application/pdf"}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	first.Close()

	second := startS3Server(t, dir, s3Options{})
	if second.SecretKey() == first.SecretKey() {
		t.Errorf("SecretKey is the same across starts, want a new random key each start")
	}
	c = minioClient(t, second.Endpoint(), second.AccessKey(), second.SecretKey())
	if ok, err := c.BucketExists(ctx, "docs"); err != nil || !ok {
		t.Fatalf("BucketExists after restart = %v, %v; want true", ok, err)
	}
	st, err := c.StatObject(ctx, "docs", "a/b.pdf", minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("StatObject after restart: %v", err)
	}
	if st.ContentType != "application/pdf" {
		t.Errorf("ContentType after restart = %q, want application/pdf", st.ContentType)
	}
	obj, err := c.GetObject(ctx, "docs", "a/b.pdf", minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("GetObject after restart: %v", err)
	}
	defer obj.Close()
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("object after restart: %d bytes, err %v; want the %d bytes put", len(got), err, len(doc))
	}
	// The bytes are a plain file under dir, as documented.
	onDisk, err := os.ReadFile(filepath.Join(dir, "buckets", "docs", "a", "b.pdf"))
	if err != nil || !bytes.Equal(onDisk, doc) {
		t.Errorf("file under dir: %d bytes, err %v; want the object bytes", len(onDisk), err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatalf("Stat(dir): %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("dir mode = %v, want 0700", perm)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "tmp", "*"))
	if len(left) != 0 {
		t.Errorf("spool files left behind: %v", left)
	}
}

func TestS3RefusesUnauthenticated(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := startS3Server(t, t.TempDir(), s3Options{})
	good := minioClient(t, srv.Endpoint(), srv.AccessKey(), srv.SecretKey())
	if err := good.MakeBucket(ctx, "bkt", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket: %v", err)
	}
	if _, err := good.PutObject(ctx, "bkt", "k", strings.NewReader("secret"), 6, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}

	tests := []struct {
		name      string
		accessKey string
		secretKey string
		wantCode  string
	}{
		{"wrong secret", srv.AccessKey(), "not-the-secret", "SignatureDoesNotMatch"},
		{"wrong access key", "SOMEONE", srv.SecretKey(), "InvalidAccessKeyId"},
		{"anonymous", "", "", "AccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := minioClient(t, srv.Endpoint(), tt.accessKey, tt.secretKey)
			_, err := c.StatObject(ctx, "bkt", "k", minio.StatObjectOptions{})
			if err == nil {
				t.Fatal("StatObject succeeded, want it refused")
			}
			o, err := c.GetObject(ctx, "bkt", "k", minio.GetObjectOptions{})
			if err == nil {
				_, err = io.ReadAll(o)
				o.Close()
			}
			if errorCode(err) != tt.wantCode {
				t.Errorf("GetObject error = %v (code %q), want code %s", err, errorCode(err), tt.wantCode)
			}
			_, err = c.PutObject(ctx, "bkt", "k", strings.NewReader("overwritten"), 11, minio.PutObjectOptions{})
			if errorCode(err) != tt.wantCode {
				t.Errorf("PutObject error = %v (code %q), want code %s", err, errorCode(err), tt.wantCode)
			}
		})
	}

	// Nothing above changed the object.
	o, err := good.GetObject(ctx, "bkt", "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	defer o.Close()
	if got, err := io.ReadAll(o); err != nil || string(got) != "secret" {
		t.Fatalf("object = %q, %v; want %q", got, err, "secret")
	}
}

func TestS3PresignedURLs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	now := time.Now()
	clock := func() time.Time { return now }
	srv := startS3Server(t, t.TempDir(), s3Options{now: func() time.Time { return clock() }})
	c := minioClient(t, srv.Endpoint(), srv.AccessKey(), srv.SecretKey())
	if err := c.MakeBucket(ctx, "bkt", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket: %v", err)
	}
	if _, err := c.PutObject(ctx, "bkt", "doc one.txt", strings.NewReader("one"), 3, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if _, err := c.PutObject(ctx, "bkt", "other.txt", strings.NewReader("two"), 3, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	u, err := c.PresignedGetObject(ctx, "bkt", "doc one.txt", 10*time.Minute, url.Values{"response-content-type": {"text/plain"}})
	if err != nil {
		t.Fatalf("PresignedGetObject: %v", err)
	}
	other := *u
	other.Path = "/bkt/other.txt"
	expired := *u

	get := func(u string) (int, string) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(u.String()); code != http.StatusOK || body != "one" {
		t.Errorf("GET presigned = %d %q, want 200 %q", code, body, "one")
	}
	if code, body := get(other.String()); code != http.StatusForbidden || !strings.Contains(body, "SignatureDoesNotMatch") {
		t.Errorf("GET presigned URL with another key = %d %q, want 403 SignatureDoesNotMatch", code, body)
	}
	// The server's clock moves past the expiry; the client's URL is the same.
	clock = func() time.Time { return now.Add(11 * time.Minute) }
	if code, body := get(expired.String()); code != http.StatusForbidden || !strings.Contains(body, "expired") {
		t.Errorf("GET expired presigned = %d %q, want 403 expired", code, body)
	}
}

// sha256Hasher satisfies minio-go's md5simd.Hasher for its streaming signer.
type sha256Hasher struct{ hash.Hash }

func (sha256Hasher) Close() {}

// signedRequest builds a request signed the way minio-go signs it, so that
// tests can then tamper with it.
func signedRequest(t *testing.T, srv *S3Server, method, path string, body []byte, streaming bool) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+srv.Endpoint()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	if streaming {
		return signer.StreamingSignV4(req, srv.AccessKey(), srv.SecretKey(), "", "us-east-1", int64(len(body)), time.Now().UTC(), sha256Hasher{sha256.New()})
	}
	req.Header.Set("X-Amz-Content-Sha256", hexSHA256(body))
	return signer.SignV4(*req, srv.AccessKey(), srv.SecretKey(), "", "us-east-1")
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestS3RefusesTamperedRequests(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := startS3Server(t, t.TempDir(), s3Options{})
	c := minioClient(t, srv.Endpoint(), srv.AccessKey(), srv.SecretKey())
	if err := c.MakeBucket(ctx, "bkt", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket: %v", err)
	}
	original := payload(200<<10, 4)
	if _, err := c.PutObject(ctx, "bkt", "k", bytes.NewReader(original), int64(len(original)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}

	t.Run("streaming chunk changed", func(t *testing.T) {
		req := signedRequest(t, srv, http.MethodPut, "/bkt/k", payload(200<<10, 5), true)
		raw, err := io.ReadAll(req.Body)
		if err != nil {
			t.Fatalf("reading signed body: %v", err)
		}
		raw[len(raw)/2] ^= 1 // inside the second 64 KiB chunk's data
		req.Body = io.NopCloser(bytes.NewReader(raw))
		if code, body := do(t, req); code != http.StatusForbidden || !strings.Contains(body, "SignatureDoesNotMatch") {
			t.Errorf("PUT with a changed chunk = %d %q, want 403 SignatureDoesNotMatch", code, body)
		}
	})
	t.Run("streaming body cut short", func(t *testing.T) {
		req := signedRequest(t, srv, http.MethodPut, "/bkt/k", payload(200<<10, 6), true)
		raw, err := io.ReadAll(req.Body)
		if err != nil {
			t.Fatalf("reading signed body: %v", err)
		}
		req.Body = io.NopCloser(bytes.NewReader(raw[:len(raw)-200]))
		req.ContentLength = int64(len(raw) - 200)
		if code, body := do(t, req); code != http.StatusBadRequest || !strings.Contains(body, "IncompleteBody") {
			t.Errorf("PUT cut short = %d %q, want 400 IncompleteBody", code, body)
		}
	})
	t.Run("signed payload hash mismatch", func(t *testing.T) {
		req := signedRequest(t, srv, http.MethodPut, "/bkt/k", []byte("signed body"), false)
		req.Body = io.NopCloser(strings.NewReader("other body!"))
		if code, body := do(t, req); code != http.StatusBadRequest || !strings.Contains(body, "XAmzContentSHA256Mismatch") {
			t.Errorf("PUT with a body not matching its hash = %d %q, want 400 XAmzContentSHA256Mismatch", code, body)
		}
	})
	t.Run("unsigned x-amz header added", func(t *testing.T) {
		req := signedRequest(t, srv, http.MethodPut, "/bkt/k", nil, false)
		req.Header.Set("X-Amz-Copy-Source", "/bkt/other")
		if code, body := do(t, req); code != http.StatusForbidden || !strings.Contains(body, "is not signed") {
			t.Errorf("PUT with an unsigned x-amz header = %d %q, want 403", code, body)
		}
	})
	t.Run("path changed after signing", func(t *testing.T) {
		req := signedRequest(t, srv, http.MethodGet, "/bkt/k", nil, false)
		req.URL.Path = "/bkt/k2"
		if code, body := do(t, req); code != http.StatusForbidden || !strings.Contains(body, "SignatureDoesNotMatch") {
			t.Errorf("GET with a changed path = %d %q, want 403 SignatureDoesNotMatch", code, body)
		}
	})
	t.Run("dot-dot key", func(t *testing.T) {
		req := signedRequest(t, srv, http.MethodGet, "/bkt/x/../k", nil, false)
		if code, body := do(t, req); code != http.StatusBadRequest || !strings.Contains(body, "InvalidArgument") {
			t.Errorf("GET /b/x/../k = %d %q, want 400 InvalidArgument", code, body)
		}
	})
	t.Run("signed with an old date", func(t *testing.T) {
		req := signedRequest(t, srv, http.MethodGet, "/bkt/k", nil, false)
		old := time.Now().Add(-time.Hour).UTC().Format(amzDateFormat)
		req.Header.Set("X-Amz-Date", old)
		if code, body := do(t, req); code != http.StatusForbidden || !strings.Contains(body, "RequestTimeTooSkewed") {
			t.Errorf("GET signed an hour ago = %d %q, want 403 RequestTimeTooSkewed", code, body)
		}
	})

	// None of the refused uploads replaced the object.
	o, err := c.GetObject(ctx, "bkt", "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	defer o.Close()
	if got, err := io.ReadAll(o); err != nil || !bytes.Equal(got, original) {
		t.Fatalf("object after refused uploads: %d bytes, err %v; want the original %d bytes", len(got), err, len(original))
	}
}

func TestStartS3Errors(t *testing.T) {
	t.Parallel()
	if _, err := StartS3(t.Context(), "", discardLogger()); err == nil {
		t.Error("StartS3(\"\") succeeded, want an error")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := StartS3(t.Context(), filepath.Join(file, "s3"), discardLogger()); err == nil {
		t.Error("StartS3 under a regular file succeeded, want an error")
	}
}
