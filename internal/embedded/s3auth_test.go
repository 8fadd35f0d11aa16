package embedded

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7/pkg/signer"
)

const (
	testAccessKey = "AKIDTEST"
	testSecretKey = "test-secret-key"
)

// minioStream signs body as minio-go's streaming upload does and returns
// the aws-chunked bytes with the signing context the server would derive
// from the request's headers.
func minioStream(t testing.TB, body []byte, at time.Time) ([]byte, *sigV4) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, "http://127.0.0.1:9/bkt/key", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	req = signer.StreamingSignV4(req, testAccessKey, testSecretKey, "", "us-east-1", int64(len(body)), at, sha256Hasher{sha256.New()})
	raw, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatalf("reading signed body: %v", err)
	}
	_, _, seed, err := parseAuthorization(req.Header.Get("Authorization"))
	if err != nil {
		t.Fatalf("parseAuthorization(minio-go header): %v", err)
	}
	date := at.Format("20060102")
	return raw, &sigV4{
		payloadHash: streamingPayload,
		signature:   seed,
		amzDate:     at.Format(amzDateFormat),
		scope:       date + "/us-east-1/s3/aws4_request",
		key:         signingKey(testSecretKey, date, "us-east-1"),
	}
}

func TestChunkReaderDecodesMinioStream(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, size := range []int{0, 1, 64 << 10, 64<<10 + 1, 300 << 10} {
		body := payload(size, uint64(size))
		raw, sig := minioStream(t, body, at)
		got, err := io.ReadAll(newChunkReader(bytes.NewReader(raw), sig, int64(size)))
		if err != nil {
			t.Errorf("size %d: decoding: %v", size, err)
			continue
		}
		if !bytes.Equal(got, body) {
			t.Errorf("size %d: decoded %d bytes differing from the body", size, len(got))
		}
		// Declaring another length than what the chunks carry fails.
		for _, declared := range []int64{int64(size) - 1, int64(size) + 1} {
			if declared < 0 {
				continue
			}
			_, err := io.ReadAll(newChunkReader(bytes.NewReader(raw), sig, declared))
			var se *s3Error
			if !errors.As(err, &se) || se.code != "IncompleteBody" {
				t.Errorf("size %d declared %d: err = %v, want IncompleteBody", size, declared, err)
			}
		}
	}
}

func TestChunkReaderRefusesWrongKey(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	raw, sig := minioStream(t, []byte("hello"), at)
	sig.key = signingKey("another-secret", "20260301", "us-east-1")
	got, err := io.ReadAll(newChunkReader(bytes.NewReader(raw), sig, 5))
	var se *s3Error
	if !errors.As(err, &se) || se.code != "SignatureDoesNotMatch" || len(got) != 0 {
		t.Fatalf("decode with the wrong key = %q, %v; want no data and SignatureDoesNotMatch", got, err)
	}
}

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header string
		want   []string // cred, signed headers, signature; nil for an error
	}{
		{
			name:   "minio-go form",
			header: "AWS4-HMAC-SHA256 Credential=AK/20260301/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
			want:   []string{"AK/20260301/us-east-1/s3/aws4_request", "host;x-amz-date", "abc"},
		},
		{
			name:   "no spaces",
			header: "AWS4-HMAC-SHA256 Credential=AK/x,SignedHeaders=host,Signature=abc",
			want:   []string{"AK/x", "host", "abc"},
		},
		{name: "signature v2", header: "AWS AK:c2ln"},
		{name: "missing signature", header: "AWS4-HMAC-SHA256 Credential=AK/x, SignedHeaders=host"},
		{name: "duplicate field", header: "AWS4-HMAC-SHA256 Credential=a, Credential=b, SignedHeaders=host, Signature=x"},
		{name: "extra field", header: "AWS4-HMAC-SHA256 Credential=a, SignedHeaders=host, Signature=x, Other=y"},
		{name: "empty", header: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, sh, sig, err := parseAuthorization(tt.header)
			if tt.want == nil {
				if err == nil {
					t.Errorf("parseAuthorization(%q) = %q %q %q, want an error", tt.header, c, sh, sig)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseAuthorization(%q): %v", tt.header, err)
			}
			if diff := cmp.Diff(tt.want, []string{c, sh, sig}); diff != "" {
				t.Errorf("parseAuthorization(%q) mismatch (-want +got):\n%s", tt.header, diff)
			}
		})
	}
}

func TestParseSignedHeaders(t *testing.T) {
	t.Parallel()
	for in, ok := range map[string]bool{
		"host":                        true,
		"content-md5;host;x-amz-date": true,
		"x-amz-date":                  false, // no host
		"host;host":                   false,
		"x-amz-date;host":             false, // not sorted
		"Host":                        false,
		"host;;x-amz-date":            false,
		"":                            false,
	} {
		if _, err := parseSignedHeaders(in); (err == nil) != ok {
			t.Errorf("parseSignedHeaders(%q) error = %v, want ok=%v", in, err, ok)
		}
	}
}

func TestCheckObjectPath(t *testing.T) {
	t.Parallel()
	for in, ok := range map[string]bool{
		"/":                 true,
		"/bucket":           true,
		"/bucket/":          true,
		"/bucket/a/b.pdf":   true,
		"/bucket/dir/":      true,
		"/bucket/..":        false,
		"/bucket/a/../b":    false,
		"/bucket/./b":       false,
		"/bucket/a//b":      false,
		"/bucket/a\x00b":    false,
		"/bucket/..hidden":  true,
		"/bucket/a..b/c.d.": true,
	} {
		if err := checkObjectPath(in); (err == nil) != ok {
			t.Errorf("checkObjectPath(%q) error = %v, want ok=%v", in, err, ok)
		}
	}
}

func TestStripAWSChunked(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"aws-chunked":       "",
		"aws-chunked,gzip":  "gzip",
		"gzip, AWS-Chunked": "gzip",
		"gzip":              "gzip",
	} {
		h := http.Header{"Content-Encoding": {in}}
		stripAWSChunked(h)
		if got := h.Get("Content-Encoding"); got != want {
			t.Errorf("stripAWSChunked(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AK/20260301/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc")
	f.Add("AWS4-HMAC-SHA256 Credential=,SignedHeaders=,Signature=")
	f.Add("AWS AK:sig")
	f.Add("AWS4-HMAC-SHA256 ===,,,")
	f.Fuzz(func(t *testing.T, h string) {
		c, sh, sig, err := parseAuthorization(h)
		if err != nil {
			return
		}
		if c == "" || sh == "" || sig == "" {
			t.Fatalf("parseAuthorization(%q) = %q %q %q with no error, want all set", h, c, sh, sig)
		}
		if _, err := parseCredential(c); err == nil && strings.Count(c, "/") != 4 {
			t.Fatalf("parseCredential(%q) accepted a scope without 5 parts", c)
		}
		parseSignedHeaders(sh)
	})
}

// FuzzChunkReader feeds arbitrary bodies to the aws-chunked decoder: it must
// never panic, never release more than the declared length, and succeed
// only with exactly the declared length.
func FuzzChunkReader(f *testing.F) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	raw, sig := minioStream(f, []byte("hello, world"), at)
	f.Add(raw, uint32(12))
	big, _ := minioStream(f, payload(70<<10, 9), at)
	f.Add(big, uint32(70<<10))
	f.Add([]byte("0;chunk-signature="+strings.Repeat("0", 64)+"\r\n\r\n"), uint32(0))
	f.Add([]byte("ffffffff;chunk-signature=x\r\n"), uint32(1))
	f.Add([]byte("\r\n\r\n"), uint32(3))
	f.Fuzz(func(t *testing.T, body []byte, declared uint32) {
		s := *sig
		n, err := io.Copy(io.Discard, newChunkReader(bytes.NewReader(body), &s, int64(declared)))
		if n > int64(declared) {
			t.Fatalf("decoded %d bytes, more than the declared %d", n, declared)
		}
		if err == nil && n != int64(declared) {
			t.Fatalf("decoded %d bytes without error, want the declared %d", n, declared)
		}
	})
}
