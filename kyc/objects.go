package kyc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"

	"github.com/vpsgate/gateway/internal/kind"
)

// Errors of the document store and the case workflow, each of a kind
// (gateway/errors.go maps kinds to statuses).
var (
	ErrInvalidInput     = kind.New(kind.ErrInvalidInput, "invalid KYC input")
	ErrNotFound         = kind.New(kind.ErrNotFound, "not found")
	ErrConflict         = kind.New(kind.ErrConflict, "conflict")
	ErrUnavailable      = kind.New(kind.ErrUnavailable, "KYC storage unavailable")
	ErrTooLarge         = kind.New(kind.ErrTooLarge, "file too large")
	ErrUnsupportedMedia = kind.New(kind.ErrUnsupportedMediaType, "documents must be JPEG, PNG or PDF files")
	ErrForbidden        = kind.New(kind.ErrForbidden, "forbidden")
)

// Media types a document may have: taken from its first bytes, never from
// its name or the type the client declared.
const (
	TypeJPEG = "image/jpeg"
	TypePNG  = "image/png"
	TypePDF  = "application/pdf"
)

// Sniff returns the document type of a file starting with head ("" when it
// is none of JPEG, PNG and PDF). The checks are the formats' signatures,
// strict: an HTML page or a script named .jpg is "".
func Sniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return TypeJPEG
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return TypePNG
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return TypePDF
	}
	return ""
}

// chunkSize is the unit a document is read and sent in: S3's smallest
// multipart part. A document up to chunkSize is one PUT of a known size;
// a larger one is a multipart upload of chunkSize parts. Either way no
// more than one chunk of a document is in memory, and no more than
// Store.buffers chunks in all.
const chunkSize = 5 << 20

// Stored is what Put learned of a document while storing it.
type Stored struct {
	Key         string
	ContentType string
	Size        int64
	SHA256      string // hex, of the bytes stored
	Encrypted   bool   // stored with SSE-S3
}

// SSE states of the server, probed once it answers.
const (
	sseUnknown int32 = iota
	sseOn
	sseOff
)

// probeKey is the object the SSE probe writes and deletes.
const probeKey = "kyc/.sse-probe"

// Encryption says how documents are stored: "sse-s3", "none" (the server
// offers no server-side encryption), or "unknown" (not yet probed).
func (s *Store) Encryption() string {
	switch s.sse.Load() {
	case sseOn:
		return "sse-s3"
	case sseOff:
		return "none"
	}
	return "unknown"
}

// probeSSE finds out once whether the server encrypts with SSE-S3 (MinIO
// does once a KMS key is configured): a small PUT asking for it, whose
// answer must confirm it (S3 and MinIO answer
// x-amz-server-side-encryption: AES256; a server that stores the header
// as mere metadata, like the embedded one, does not). A server that
// refuses the request, or accepts it without confirming, means no; one
// that does not answer leaves it unknown (probed again on the next Ready
// or Put).
func (s *Store) probeSSE(ctx context.Context) error {
	if s.sse.Load() != sseUnknown {
		return nil
	}
	hdr := http.Header{"X-Amz-Server-Side-Encryption": {"AES256"}}
	u, err := s.client.PresignHeader(ctx, http.MethodPut, s.bucket, probeKey, time.Minute, nil, hdr)
	if err != nil {
		return s.translate("probing server-side encryption", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), strings.NewReader("probe"))
	if err != nil {
		return fmt.Errorf("probing server-side encryption: %w", err)
	}
	req.Header = hdr.Clone()
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("probing server-side encryption: %w: %w", ErrUnavailable, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("probing server-side encryption: %w: %s", ErrUnavailable, resp.Status)
	}
	on := resp.StatusCode == http.StatusOK && resp.Header.Get("X-Amz-Server-Side-Encryption") == "AES256"
	if resp.StatusCode == http.StatusOK {
		_ = s.client.RemoveObject(ctx, s.bucket, probeKey, minio.RemoveObjectOptions{})
	}
	if on && s.sse.CompareAndSwap(sseUnknown, sseOn) {
		s.logger.InfoContext(ctx, "kyc documents are encrypted by the S3 server", "encryption", "sse-s3")
	}
	if !on && s.sse.CompareAndSwap(sseUnknown, sseOff) {
		s.logger.WarnContext(ctx, "the S3 server offers no server-side encryption: kyc documents are stored unencrypted", "encryption", "none", "status", resp.Status)
	}
	return nil
}

// translate turns an S3 error into one of this package's: NoSuchKey is
// ErrNotFound, anything else ErrUnavailable (minio's error response does
// not unwrap, so this happens before wrapping).
func (s *Store) translate(doing string, err error) error {
	if resp := minio.ToErrorResponse(err); resp.Code == "NoSuchKey" || resp.Code == "NoSuchUpload" {
		return fmt.Errorf("%s: %w", doing, ErrNotFound)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return fmt.Errorf("%s: %w: %w", doing, ErrUnavailable, err)
}

// buffer takes a chunk buffer, waiting while all are in use: the bound on
// the memory of concurrent uploads (a waiting upload reads nothing, so its
// client waits too).
func (s *Store) buffer(ctx context.Context) ([]byte, error) {
	select {
	case b := <-s.bufs:
		if b == nil {
			b = make([]byte, chunkSize)
		}
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Store) release(b []byte) { s.bufs <- b }

// Put stores the document read from r under key: its type from its first
// bytes (ErrUnsupportedMedia before anything is sent to S3), at most limit
// bytes (ErrTooLarge: what was sent is removed), its SHA-256 computed on
// the way, encrypted with SSE-S3 when the server offers it. r is read
// once, a chunk at a time.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, limit int64) (Stored, error) {
	if err := s.probeSSE(ctx); err != nil {
		return Stored{}, err
	}
	buf, err := s.buffer(ctx)
	if err != nil {
		return Stored{}, fmt.Errorf("waiting for an upload buffer: %w: %w", ErrUnavailable, err)
	}
	defer s.release(buf)
	h := sha256.New()
	lr := &io.LimitedReader{R: io.TeeReader(r, h), N: limit + 1}
	n, err := io.ReadFull(lr, buf)
	last := errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
	if err != nil && !last {
		return Stored{}, fmt.Errorf("reading document: %w", err)
	}
	ct := Sniff(buf[:n])
	if ct == "" {
		return Stored{}, ErrUnsupportedMedia
	}
	if int64(n) > limit {
		return Stored{}, fmt.Errorf("document over %d bytes: %w", limit, ErrTooLarge)
	}
	out := Stored{Key: key, ContentType: ct}
	opts := minio.PutObjectOptions{ContentType: ct}
	if s.sse.Load() == sseOn {
		opts.ServerSideEncryption = encrypt.NewSSE()
		out.Encrypted = true
	}
	if last {
		// The whole document is in the buffer: one PUT of a known size.
		if _, err := s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(buf[:n]), int64(n), opts); err != nil {
			return Stored{}, s.translate("storing document", err)
		}
		out.Size = int64(n)
		out.SHA256 = hex.EncodeToString(h.Sum(nil))
		return out, nil
	}
	size, err := s.putParts(ctx, key, lr, buf, n, limit, opts)
	if err != nil {
		return Stored{}, err
	}
	out.Size = size
	out.SHA256 = hex.EncodeToString(h.Sum(nil))
	return out, nil
}

// putParts sends a document larger than one chunk as a multipart upload,
// the first chunk (n bytes) already in buf; on any failure the upload is
// aborted, so no part is left behind.
func (s *Store) putParts(ctx context.Context, key string, lr *io.LimitedReader, buf []byte, n int, limit int64, opts minio.PutObjectOptions) (int64, error) {
	core := minio.Core{Client: s.client}
	id, err := core.NewMultipartUpload(ctx, s.bucket, key, opts)
	if err != nil {
		return 0, s.translate("starting document upload", err)
	}
	abort := func() {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = core.AbortMultipartUpload(actx, s.bucket, key, id)
	}
	var (
		parts []minio.CompletePart
		total int64
	)
	for part := 1; n > 0; part++ {
		total += int64(n)
		if total > limit {
			abort()
			return 0, fmt.Errorf("document over %d bytes: %w", limit, ErrTooLarge)
		}
		p, err := core.PutObjectPart(ctx, s.bucket, key, id, part, bytes.NewReader(buf[:n]), int64(n), minio.PutObjectPartOptions{})
		if err != nil {
			abort()
			return 0, s.translate("storing document part", err)
		}
		parts = append(parts, minio.CompletePart{PartNumber: part, ETag: p.ETag})
		n, err = io.ReadFull(lr, buf)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			abort()
			return 0, fmt.Errorf("reading document: %w", err)
		}
	}
	if _, err := core.CompleteMultipartUpload(ctx, s.bucket, key, id, parts, opts); err != nil {
		abort()
		return 0, s.translate("completing document upload", err)
	}
	return total, nil
}

// MaxPresign is the longest a presigned document URL lives.
const MaxPresign = 5 * time.Minute

// Presign returns a URL that reads the document at key for ttl (at most
// MaxPresign), answered with contentType and as an attachment named
// filename.
func (s *Store) Presign(ctx context.Context, key string, ttl time.Duration, contentType, filename string) (*url.URL, error) {
	if ttl <= 0 || ttl > MaxPresign {
		ttl = MaxPresign
	}
	q := url.Values{}
	q.Set("response-content-type", contentType)
	q.Set("response-content-disposition", `attachment; filename="`+filename+`"`)
	u, err := s.client.PresignedGetObject(ctx, s.bucket, key, ttl, q)
	if err != nil {
		return nil, s.translate("presigning document", err)
	}
	return u, nil
}

// Object is an open document.
type Object struct {
	io.ReadCloser
	ContentType string
	Size        int64
}

// Open reads the document at key.
func (s *Store) Open(ctx context.Context, key string) (Object, error) {
	o, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return Object{}, s.translate("opening document", err)
	}
	st, err := o.Stat()
	if err != nil {
		o.Close()
		return Object{}, s.translate("opening document", err)
	}
	return Object{ReadCloser: o, ContentType: st.ContentType, Size: st.Size}, nil
}

// ObjectInfo is what Stat and List tell of a stored object.
type ObjectInfo struct {
	Key          string
	Size         int64
	LastModified time.Time
	Encrypted    bool // the server says it is stored with server-side encryption
}

// Stat describes the object at key.
func (s *Store) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	st, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, s.translate("reading document metadata", err)
	}
	enc := st.Metadata.Get("X-Amz-Server-Side-Encryption") != ""
	return ObjectInfo{Key: st.Key, Size: st.Size, LastModified: st.LastModified, Encrypted: enc}, nil
}

// Delete removes the object at key; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		if resp := minio.ToErrorResponse(err); resp.Code == "NoSuchKey" {
			return nil
		}
		return s.translate("deleting document", err)
	}
	return nil
}

// List calls fn for every object under prefix, in key order, until fn
// returns false.
func (s *Store) List(ctx context.Context, prefix string, fn func(ObjectInfo) bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return s.translate("listing documents", o.Err)
		}
		if !fn(ObjectInfo{Key: o.Key, Size: o.Size, LastModified: o.LastModified}) {
			return nil
		}
	}
	return nil
}

// AbortUploads aborts the multipart uploads under prefix started before
// older (a process killed in the middle of one leaves its parts).
func (s *Store) AbortUploads(ctx context.Context, prefix string, older time.Time) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for u := range s.client.ListIncompleteUploads(ctx, s.bucket, prefix, true) {
		if u.Err != nil {
			if minio.ToErrorResponse(u.Err).Code == "NoSuchUpload" {
				// A listing names no upload: the embedded S3 server
				// (gofakes3) answers so for a bucket where none was
				// ever started. Nothing to abort.
				return nil
			}
			return s.translate("listing incomplete uploads", u.Err)
		}
		if u.Initiated.Before(older) {
			if err := s.client.RemoveIncompleteUpload(ctx, s.bucket, u.Key); err != nil {
				return s.translate("aborting incomplete upload", err)
			}
		}
	}
	return nil
}

// documentKey is the opaque key of a document: kyc/<case>/<document>,
// both random ids, never anything the customer sent.
func documentKey(caseID, docID string) string { return "kyc/" + caseID + "/" + docID }

// parseDocumentKey splits a document key; ok is false for anything else.
func parseDocumentKey(key string) (caseID, docID string, ok bool) {
	rest, found := strings.CutPrefix(key, "kyc/")
	if !found {
		return "", "", false
	}
	caseID, docID, ok = strings.Cut(rest, "/")
	return caseID, docID, ok && caseID != "" && docID != "" && !strings.Contains(docID, "/")
}
