package kyc

import (
	"bytes"
	"context"
	"errors"
	"mime/multipart"
	"testing"
)

// FuzzUploadParser: whatever the body, the multipart reader of an upload
// answers a known error (never a panic, never an unclassified failure)
// and what it stored for a refused body is removed. It runs against the
// real MinIO (the files go there); the seeds run in every test run.
func FuzzUploadParser(f *testing.F) {
	rdb, prefix := standalone(f)
	e := newEnv(f, rdb, prefix, Config{MaxFileBytes: 8 << 10, MaxParts: 4}, "", "p1")
	good, _ := body(f, part{name: "legal_name", body: []byte("Ann")}, part{name: "document_type", body: []byte("passport")},
		part{name: "front", filename: "a.jpg", body: []byte("\xFF\xD8\xFF\xE0tiny")})
	f.Add(good)
	f.Add([]byte("--B\r\n\r\n--B--"))
	f.Add([]byte("--B\r\nContent-Disposition: form-data; name=\"front\"; filename=\"../x\"\r\n\r\n%PDF-1.4\r\n--B--\r\n"))
	f.Add([]byte("--B\r\nContent-Disposition: form-data; name=legal_name\r\n\r\n\xff\xfe\r\n--B--\r\n"))
	f.Add(bytes.Repeat([]byte("--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n"), 10))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		boundary := "B"
		if bytes.HasPrefix(good, b[:min(len(b), 2)]) && bytes.Contains(b, []byte("\r\n--")) {
			// Seeds made by multipart.Writer carry their own boundary.
			if i := bytes.Index(b, []byte("\r\n")); i > 2 {
				boundary = string(b[2:i])
			}
		}
		caseID := newID()
		f, stored, err := e.svc.receive(context.Background(), caseID, multipart.NewReader(&limitedBody{r: bytes.NewReader(b), n: e.cfg.maxBody()}, boundary))
		_ = f
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrUnsupportedMedia) {
				t.Fatalf("receive: unclassified error %v", err)
			}
		}
		e.svc.discard(context.Background(), caseID, stored)
		var left int
		_ = e.store.List(context.Background(), "kyc/"+caseID+"/", func(ObjectInfo) bool { left++; return true })
		if left != 0 {
			t.Fatalf("%d objects left for a parsed body", left)
		}
	})
}
