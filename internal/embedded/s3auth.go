package embedded

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// AWS Signature V4 as S3 uses it:
// https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html
const (
	sigV4Algorithm    = "AWS4-HMAC-SHA256"
	sigV4ChunkAlgo    = "AWS4-HMAC-SHA256-PAYLOAD"
	amzDateFormat     = "20060102T150405Z"
	unsignedPayload   = "UNSIGNED-PAYLOAD"
	streamingPayload  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	emptySHA256       = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	maxClockSkew      = 15 * time.Minute
	maxPresignExpires = 7 * 24 * 60 * 60 // seconds, as S3
	maxChunkSize      = 16 << 20
	uploadPattern     = "upload-*"
)

// s3Error is an S3 error response: HTTP status plus the S3 error code that
// SDKs (minio-go's ToErrorResponse) read.
type s3Error struct {
	status  int
	code    string
	message string
}

func (e *s3Error) Error() string { return e.code + ": " + e.message }

func accessDenied(code, format string, args ...any) *s3Error {
	return &s3Error{status: http.StatusForbidden, code: code, message: fmt.Sprintf(format, args...)}
}

func badRequest(code, format string, args ...any) *s3Error {
	return &s3Error{status: http.StatusBadRequest, code: code, message: fmt.Sprintf(format, args...)}
}

// sigV4 is what a verified request was signed with; streaming uploads need
// it again to verify each chunk's signature.
type sigV4 struct {
	payloadHash string
	signature   string // hex; the seed of the chunk signature chain
	amzDate     string
	scope       string // yyyymmdd/region/s3/aws4_request
	key         []byte // derived signing key
}

// sigV4Auth authenticates every request to the embedded S3 server with AWS
// Signature V4 and hands the backend a verified, plain (not aws-chunked)
// body. gofakes3 checks no signature itself.
type sigV4Auth struct {
	accessKey, secretKey string
	now                  func() time.Time
	tmpDir               string // where bodies are spooled while verified
	maxBody              int64
	logger               *slog.Logger
	next                 http.Handler
}

var _ http.Handler = (*sigV4Auth)(nil)

func (a *sigV4Auth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sig, err := a.verify(r)
	if err == nil {
		err = checkObjectPath(r.URL.Path)
	}
	if err != nil {
		a.refuse(w, r, err)
		return
	}
	if r.ContentLength != 0 || sig.payloadHash == streamingPayload {
		body, n, err := a.spool(r, sig)
		if err != nil {
			a.refuse(w, r, err)
			return
		}
		defer func() {
			body.Close()
			os.Remove(body.Name())
		}()
		r.Body = body
		r.ContentLength = n
		r.TransferEncoding = nil
		r.Header.Set("Content-Length", strconv.FormatInt(n, 10))
		// The body is now plain and verified; tell gofakes3 not to decode it
		// again, and keep aws-chunked out of the stored Content-Encoding.
		r.Header.Set("X-Amz-Content-Sha256", unsignedPayload)
		r.Header.Del("X-Amz-Decoded-Content-Length")
		stripAWSChunked(r.Header)
	} else if isHexSHA256(sig.payloadHash) && sig.payloadHash != emptySHA256 {
		a.refuse(w, r, badRequest("XAmzContentSHA256Mismatch", "the request has no body but x-amz-content-sha256 is not the hash of an empty one"))
		return
	}
	a.next.ServeHTTP(w, r)
}

func (a *sigV4Auth) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var se *s3Error
	if !errors.As(err, &se) {
		a.logger.Error("embedded s3 request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		se = &s3Error{status: http.StatusInternalServerError, code: "InternalError", message: "internal error"}
	} else {
		a.logger.Debug("embedded s3 request refused", "method", r.Method, "path", r.URL.Path, "code", se.code, "error", se.message)
	}
	writeS3Error(w, r, se)
}

func writeS3Error(w http.ResponseWriter, r *http.Request, se *s3Error) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(se.status)
	if r.Method == http.MethodHead {
		return
	}
	body := struct {
		XMLName  xml.Name `xml:"Error"`
		Code     string   `xml:"Code"`
		Message  string   `xml:"Message"`
		Resource string   `xml:"Resource"`
	}{Code: se.code, Message: se.message, Resource: r.URL.Path}
	io.WriteString(w, xml.Header)
	xml.NewEncoder(w).Encode(body) // the status is sent; a write error means the client left
}

// verify checks the request's signature (Authorization header or presigned
// query) and returns what it was signed with.
func (a *sigV4Auth) verify(r *http.Request) (*sigV4, error) {
	q := r.URL.Query()
	if q.Has("X-Amz-Signature") || q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Credential") {
		return a.verifyPresigned(r, q)
	}
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return nil, accessDenied("AccessDenied", "requests must be signed with AWS Signature V4")
	}
	credStr, signedStr, signature, err := parseAuthorization(authz)
	if err != nil {
		return nil, err
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return nil, accessDenied("AccessDenied", "missing or malformed X-Amz-Date header")
	}
	if skew := a.now().Sub(t); skew > maxClockSkew || skew < -maxClockSkew {
		return nil, accessDenied("RequestTimeTooSkewed", "the difference between the request time and the server's time is too large")
	}
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case payloadHash == unsignedPayload, payloadHash == streamingPayload, isHexSHA256(payloadHash):
	case strings.HasPrefix(payloadHash, "STREAMING-"):
		return nil, &s3Error{status: http.StatusNotImplemented, code: "NotImplemented", message: "payload signing " + payloadHash + " is not supported"}
	default:
		return nil, badRequest("InvalidArgument", "missing or malformed x-amz-content-sha256 header")
	}
	return a.check(r, q, credStr, signedStr, signature, amzDate, payloadHash)
}

func (a *sigV4Auth) verifyPresigned(r *http.Request, q url.Values) (*sigV4, error) {
	if q.Get("X-Amz-Algorithm") != sigV4Algorithm {
		return nil, accessDenied("AccessDenied", "X-Amz-Algorithm must be %s", sigV4Algorithm)
	}
	amzDate := q.Get("X-Amz-Date")
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return nil, accessDenied("AccessDenied", "missing or malformed X-Amz-Date")
	}
	expires, err := strconv.ParseInt(q.Get("X-Amz-Expires"), 10, 64)
	if err != nil || expires < 1 || expires > maxPresignExpires {
		return nil, accessDenied("AuthorizationQueryParametersError", "X-Amz-Expires must be between 1 and %d seconds", maxPresignExpires)
	}
	now := a.now()
	if now.Before(t.Add(-maxClockSkew)) {
		return nil, accessDenied("AccessDenied", "request is not valid yet")
	}
	if now.After(t.Add(time.Duration(expires) * time.Second)) {
		return nil, accessDenied("AccessDenied", "Request has expired")
	}
	payloadHash := unsignedPayload
	if v := q.Get("X-Amz-Content-Sha256"); v != "" {
		payloadHash = v
	}
	if payloadHash != unsignedPayload && !isHexSHA256(payloadHash) {
		return nil, badRequest("InvalidArgument", "presigned requests must use UNSIGNED-PAYLOAD or a SHA-256")
	}
	signature := q.Get("X-Amz-Signature")
	canonicalQuery := url.Values{}
	for k, v := range q {
		if k != "X-Amz-Signature" {
			canonicalQuery[k] = v
		}
	}
	return a.check(r, canonicalQuery, q.Get("X-Amz-Credential"), q.Get("X-Amz-SignedHeaders"), signature, amzDate, payloadHash)
}

// check computes the signature the request should carry and compares it.
func (a *sigV4Auth) check(r *http.Request, query url.Values, credStr, signedStr, signature, amzDate, payloadHash string) (*sigV4, error) {
	cred, err := parseCredential(credStr)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal([]byte(cred.accessKey), []byte(a.accessKey)) {
		return nil, accessDenied("InvalidAccessKeyId", "the access key does not exist")
	}
	if cred.date != amzDate[:8] {
		return nil, accessDenied("SignatureDoesNotMatch", "the credential date does not match X-Amz-Date")
	}
	signed, err := parseSignedHeaders(signedStr)
	if err != nil {
		return nil, err
	}
	// A header the signature does not cover could be added by anyone on
	// the way; refuse requests carrying unsigned x-amz-* headers (such as
	// x-amz-copy-source), as S3 does.
	for k := range r.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-amz-") && !slices.Contains(signed, lk) {
			return nil, accessDenied("AccessDenied", "header %s is not signed", lk)
		}
	}
	if len(signature) != 64 {
		return nil, accessDenied("SignatureDoesNotMatch", "malformed signature")
	}
	scope := cred.date + "/" + cred.region + "/s3/aws4_request"
	key := signingKey(a.secretKey, cred.date, cred.region)
	canonical := canonicalRequest(r, query, signed, payloadHash)
	stringToSign := sigV4Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hexSHA256([]byte(canonical))
	want := hex.EncodeToString(hmacSHA256(key, stringToSign))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(signature))) {
		return nil, accessDenied("SignatureDoesNotMatch", "the request signature does not match; check the secret key and signing method")
	}
	return &sigV4{payloadHash: payloadHash, signature: want, amzDate: amzDate, scope: scope, key: key}, nil
}

// parseAuthorization splits an Authorization header of the form
// "AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/s3/aws4_request,
// SignedHeaders=a;b, Signature=HEX".
func parseAuthorization(h string) (cred, signedHeaders, signature string, err error) {
	rest, ok := strings.CutPrefix(h, sigV4Algorithm+" ")
	if !ok {
		return "", "", "", accessDenied("AccessDenied", "only AWS Signature V4 (%s) is supported", sigV4Algorithm)
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if _, dup := fields[k]; !ok || dup {
			return "", "", "", accessDenied("AuthorizationHeaderMalformed", "malformed Authorization header")
		}
		fields[k] = v
	}
	cred, signedHeaders, signature = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
	if len(fields) != 3 || cred == "" || signedHeaders == "" || signature == "" {
		return "", "", "", accessDenied("AuthorizationHeaderMalformed", "the Authorization header needs Credential, SignedHeaders and Signature")
	}
	return cred, signedHeaders, signature, nil
}

type credential struct {
	accessKey, date, region string
}

// parseCredential splits "AK/yyyymmdd/region/s3/aws4_request".
func parseCredential(s string) (credential, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 5 || parts[0] == "" || parts[2] == "" || parts[3] != "s3" || parts[4] != "aws4_request" {
		return credential{}, accessDenied("AuthorizationHeaderMalformed", "malformed credential scope")
	}
	if _, err := time.Parse("20060102", parts[1]); err != nil || len(parts[1]) != 8 {
		return credential{}, accessDenied("AuthorizationHeaderMalformed", "malformed credential date")
	}
	return credential{accessKey: parts[0], date: parts[1], region: parts[2]}, nil
}

// parseSignedHeaders checks a SignedHeaders list: lower case, sorted, no
// duplicates, host included.
func parseSignedHeaders(s string) ([]string, error) {
	names := strings.Split(s, ";")
	for i, n := range names {
		if n == "" || n != strings.ToLower(n) || (i > 0 && names[i-1] >= n) {
			return nil, accessDenied("AuthorizationHeaderMalformed", "SignedHeaders must be sorted, unique, lower-case names")
		}
	}
	if !slices.Contains(names, "host") {
		return nil, accessDenied("AuthorizationHeaderMalformed", "SignedHeaders must include host")
	}
	return names, nil
}

// canonicalRequest builds the SigV4 canonical request the way S3 clients
// (and minio-go's signer) do: URI-encoded path, sorted query with %20 for
// spaces, the signed headers with trimmed values.
func canonicalRequest(r *http.Request, query url.Values, signed []string, payloadHash string) string {
	uri := s3utils.EncodePath(r.URL.Path)
	if uri == "" {
		uri = "/"
	}
	var b strings.Builder
	b.WriteString(r.Method + "\n" + uri + "\n" + strings.ReplaceAll(query.Encode(), "+", "%20") + "\n")
	for _, h := range signed {
		b.WriteString(h + ":" + canonicalHeaderValue(r, h) + "\n")
	}
	b.WriteString("\n" + strings.Join(signed, ";") + "\n" + payloadHash)
	return b.String()
}

func canonicalHeaderValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return r.Host
	case "content-length":
		if v := r.Header.Get("Content-Length"); v != "" {
			return v
		}
		return strconv.FormatInt(r.ContentLength, 10)
	case "transfer-encoding":
		return strings.Join(r.TransferEncoding, ",")
	}
	vals := r.Header.Values(name)
	trimmed := make([]string, len(vals))
	for i, v := range vals {
		trimmed[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(trimmed, ",")
}

func signingKey(secret, date, region string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, "s3")
	return hmacSHA256(k, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// checkObjectPath refuses object keys the file backend would resolve to
// another name ("a/../b", "a/./b", "a//b") or cannot store (NUL).
func checkObjectPath(p string) error {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range segs {
		if s == "." || s == ".." || strings.ContainsRune(s, 0) || (s == "" && i > 0 && i < len(segs)-1) {
			return badRequest("InvalidArgument", "object keys with '.', '..' or empty path segments are not supported by the embedded store")
		}
	}
	return nil
}

func stripAWSChunked(h http.Header) {
	var kept []string
	for _, v := range h.Values("Content-Encoding") {
		for enc := range strings.SplitSeq(v, ",") {
			if enc = strings.TrimSpace(enc); enc != "" && !strings.EqualFold(enc, "aws-chunked") {
				kept = append(kept, enc)
			}
		}
	}
	h.Del("Content-Encoding")
	if len(kept) > 0 {
		h.Set("Content-Encoding", strings.Join(kept, ","))
	}
}

// spool reads the whole request body into a temporary file, verifying it
// on the way (chunk signatures, or the signed SHA-256, or the length), and
// returns the file rewound with the verified length. Only then does the
// backend see it, so a bad or interrupted upload never touches stored data.
func (a *sigV4Auth) spool(r *http.Request, sig *sigV4) (*os.File, int64, error) {
	var src io.Reader = r.Body
	if sig.payloadHash == streamingPayload {
		declared, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64)
		if err != nil || declared < 0 {
			return nil, 0, badRequest("MissingContentLength", "streaming uploads need x-amz-decoded-content-length")
		}
		if declared > a.maxBody {
			return nil, 0, badRequest("EntityTooLarge", "the body exceeds %d bytes", a.maxBody)
		}
		src = newChunkReader(r.Body, sig, declared)
	}
	f, err := os.CreateTemp(a.tmpDir, uploadPattern)
	if err != nil {
		return nil, 0, fmt.Errorf("creating spool file: %w", err)
	}
	fail := func(err error) (*os.File, int64, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(src, a.maxBody+1))
	if err != nil {
		if se := (*s3Error)(nil); errors.As(err, &se) {
			return fail(se)
		}
		var pe *os.PathError
		if errors.As(err, &pe) {
			return fail(fmt.Errorf("spooling upload: %w", err))
		}
		return fail(badRequest("IncompleteBody", "reading the request body: %v", err))
	}
	switch {
	case n > a.maxBody:
		return fail(badRequest("EntityTooLarge", "the body exceeds %d bytes", a.maxBody))
	case sig.payloadHash != streamingPayload && r.ContentLength >= 0 && n != r.ContentLength:
		return fail(badRequest("IncompleteBody", "got %d of %d bytes", n, r.ContentLength))
	case isHexSHA256(sig.payloadHash) && hex.EncodeToString(h.Sum(nil)) != strings.ToLower(sig.payloadHash):
		return fail(badRequest("XAmzContentSHA256Mismatch", "the body does not match x-amz-content-sha256"))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(fmt.Errorf("rewinding spool file: %w", err))
	}
	return f, n, nil
}

// chunkReader decodes an aws-chunked body
// ("HEXSIZE;chunk-signature=SIG\r\nDATA\r\n" ... "0;chunk-signature=SIG\r\n\r\n"),
// verifying each chunk's signature (chained from the request's) before
// releasing its data, and that the data adds up to the declared length.
type chunkReader struct {
	r         *bufio.Reader
	sig       *sigV4
	prev      string
	remaining int64
	buf       []byte
	off       int
	err       error
}

func newChunkReader(body io.Reader, sig *sigV4, declared int64) *chunkReader {
	return &chunkReader{r: bufio.NewReaderSize(body, 4096), sig: sig, prev: sig.signature, remaining: declared}
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for c.off == len(c.buf) {
		if c.err != nil {
			return 0, c.err
		}
		c.err = c.next()
	}
	n := copy(p, c.buf[c.off:])
	c.off += n
	return n, nil
}

var errChunkMalformed = badRequest("IncompleteBody", "malformed aws-chunked body")

// next reads and verifies one chunk into c.buf; io.EOF after the final one.
func (c *chunkReader) next() error {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return errChunkMalformed
		}
		return badRequest("IncompleteBody", "the aws-chunked body ended early")
	}
	header, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok {
		return errChunkMalformed
	}
	sizeHex, chunkSig, ok := strings.Cut(header, ";chunk-signature=")
	if !ok || len(chunkSig) != 64 || sizeHex == "" || len(sizeHex) > 8 {
		return errChunkMalformed
	}
	size, err := strconv.ParseInt(sizeHex, 16, 64)
	if err != nil || size < 0 || size > maxChunkSize {
		return errChunkMalformed
	}
	if size > c.remaining {
		return badRequest("IncompleteBody", "the body is longer than x-amz-decoded-content-length")
	}
	if int64(cap(c.buf)) < size {
		c.buf = make([]byte, size)
	}
	c.buf, c.off = c.buf[:size], 0
	if _, err := io.ReadFull(c.r, c.buf); err != nil {
		return badRequest("IncompleteBody", "the aws-chunked body ended early")
	}
	var crlf [2]byte
	if _, err := io.ReadFull(c.r, crlf[:]); err != nil || crlf != [2]byte{'\r', '\n'} {
		return errChunkMalformed
	}
	stringToSign := sigV4ChunkAlgo + "\n" + c.sig.amzDate + "\n" + c.sig.scope + "\n" + c.prev + "\n" + emptySHA256 + "\n" + hexSHA256(c.buf)
	want := hex.EncodeToString(hmacSHA256(c.sig.key, stringToSign))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(chunkSig))) {
		c.buf = c.buf[:0]
		return accessDenied("SignatureDoesNotMatch", "a chunk signature does not match")
	}
	c.prev = want
	c.remaining -= size
	if size == 0 {
		if c.remaining != 0 {
			return badRequest("IncompleteBody", "the body is shorter than x-amz-decoded-content-length")
		}
		return io.EOF
	}
	return nil
}
