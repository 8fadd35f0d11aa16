package kyc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
)

// maxLegalName bounds the legal name, in characters.
const maxLegalName = 200

// limitedBody reads at most n bytes of a request body, then fails with
// ErrTooLarge: the whole upload is bounded whatever its framing says.
type limitedBody struct {
	r io.Reader
	n int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("upload over its limit: %w", ErrTooLarge)
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// Upload is a customer's submission as received: the request's body and
// what the handler knows of the request.
type Upload struct {
	Token         string
	ContentType   string
	ContentLength int64 // -1: unknown (chunked)
	Body          io.Reader
	Addr          string // the client's address, masked, for the audit log
	// Owner, when set (the storefront API), must be the token's owner.
	Owner string
}

// Submit checks the link, streams the upload's files into the document
// store and records the case: pending, with kyc.submitted, its audit
// entry and the order work committed in one step. The link is consumed
// by that step only, so a failed upload leaves it usable, and whatever
// was stored for a failed upload is removed (or, if S3 is down by then,
// by the worker's orphan sweep).
func (s *Service) Submit(ctx context.Context, u Upload) (c *Case, err error) {
	defer func() { s.m.upload(err) }()
	claims, err := s.tokens.Parse(u.Token)
	if err != nil {
		return nil, err
	}
	if u.Owner != "" && u.Owner != claims.Owner {
		return nil, fmt.Errorf("the link belongs to another storefront: %w", ErrForbidden)
	}
	prev, err := s.uploadable(ctx, claims)
	if err != nil {
		return nil, err
	}
	boundary, err := multipartBoundary(u.ContentType)
	if err != nil {
		return nil, err
	}
	limit := s.cfg.maxBody()
	if u.ContentLength > limit {
		// Refused unread: the server closes the connection rather than
		// drain a body this large.
		return nil, fmt.Errorf("upload of %d bytes over the limit of %d: %w", u.ContentLength, limit, ErrTooLarge)
	}
	form, stored, err := s.receive(ctx, claims.Case, multipart.NewReader(&limitedBody{r: u.Body, n: limit}, boundary))
	if err != nil {
		s.discard(ctx, claims.Case, stored)
		return nil, err
	}
	c, err = s.record(ctx, claims, prev, form, stored, u.Addr)
	if err != nil {
		s.discard(ctx, claims.Case, stored)
		return nil, err
	}
	op := syncOf(c, "submitted", "customer")
	op.Submission = c.Submissions
	s.syncNow(ctx, op)
	s.d.Logger.InfoContext(ctx, "kyc documents submitted", "case", c.ID, "submission", c.Submissions, "documents", len(stored))
	return c, nil
}

// LinkState is what the page says about a link before any upload.
type LinkState int

// Link states.
const (
	LinkInvalid  LinkState = iota // forged, malformed: nothing to do
	LinkUpload                    // good: the form
	LinkExpired                   // good but old: ask the shop for a new one
	LinkUsed                      // documents were sent with it
	LinkVerified                  // the account's identity is already verified
)

// Check reads a link for the page's GET: it changes nothing.
func (s *Service) Check(ctx context.Context, token string) (LinkState, error) {
	claims, err := s.tokens.Parse(token)
	switch {
	case errors.Is(err, ErrExpiredToken):
		return LinkExpired, nil
	case err != nil:
		return LinkInvalid, nil
	}
	_, err = s.uploadable(ctx, claims)
	switch {
	case err == nil:
		return LinkUpload, nil
	case errors.Is(err, errLinkUsed):
		return LinkUsed, nil
	case errors.Is(err, errAlreadyVerified):
		return LinkVerified, nil
	case errors.Is(err, ErrConflict):
		return LinkUsed, nil
	}
	return LinkInvalid, err
}

var errAlreadyVerified = fmt.Errorf("the identity of this account is already verified: %w", ErrConflict)

// uploadable says whether a link may still upload: not used, its case new
// or waiting for a resubmission, and no other case of the account pending
// or approved. It returns the case (nil: new).
func (s *Service) uploadable(ctx context.Context, c *Claims) (*Case, error) {
	ref := c.Ref()
	pipe := s.d.Redis.Pipeline()
	used := pipe.Exists(ctx, s.jtiKey(c.ID))
	cur := pipe.Get(ctx, s.acctKey(ref))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading the link's state: %w: %w", ErrUnavailable, err)
	}
	if used.Val() > 0 {
		return nil, errLinkUsed
	}
	prev, err := s.load(ctx, c.Case)
	if err != nil {
		return nil, err
	}
	if prev != nil && prev.Ref() != ref {
		return nil, fmt.Errorf("case of another account: %w", ErrInvalidToken)
	}
	if prev != nil && prev.Status != StatusResubmission {
		return nil, errLinkUsed
	}
	if other := cur.Val(); other != "" && other != c.Case {
		oc, err := s.load(ctx, other)
		if err != nil {
			return nil, err
		}
		if oc != nil && oc.Status == StatusApproved {
			return nil, errAlreadyVerified
		}
		if oc != nil && oc.Status == StatusPending {
			return nil, fmt.Errorf("documents of this account are already being checked: %w", ErrConflict)
		}
	}
	return prev, nil
}

func multipartBoundary(ct string) (string, error) {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return "", fmt.Errorf("send multipart/form-data: %w", ErrUnsupportedMedia)
	}
	return params["boundary"], nil
}

// form is the upload's text fields.
type form struct {
	legalName string
	docType   DocumentType
	seen      map[string]bool
}

// fileSides are the file parts, in the order the page shows them.
var fileSides = []string{"front", "back", "selfie"}

// receive reads the multipart body part by part: the text fields into
// form (bounded), each file straight into the document store under a new
// opaque key (its name and declared type ignored). It returns what it
// stored even on error, for the caller to remove.
func (s *Service) receive(ctx context.Context, caseID string, mr *multipart.Reader) (form, []Document, error) {
	f := form{seen: map[string]bool{}}
	var stored []Document
	for parts := 0; ; parts++ {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return f, stored, err
			}
			return f, stored, fmt.Errorf("reading the upload: %w: %v", ErrInvalidInput, err)
		}
		if parts >= s.cfg.MaxParts {
			return f, stored, fmt.Errorf("more than %d parts: %w", s.cfg.MaxParts, ErrInvalidInput)
		}
		name, err := partName(p)
		if err != nil {
			return f, stored, err
		}
		if f.seen[name] {
			return f, stored, &FieldError{Field: name, Problem: "is sent more than once"}
		}
		f.seen[name] = true
		switch name {
		case "legal_name", "document_type":
			v, err := s.field(p, name)
			if err != nil {
				return f, stored, err
			}
			if name == "legal_name" {
				f.legalName = v
			} else {
				f.docType = DocumentType(v)
			}
		case "front", "back", "selfie":
			br := bufio.NewReaderSize(p, 16)
			if _, err := br.Peek(1); errors.Is(err, io.EOF) {
				// A browser sends an empty part for a file input left
				// empty: the file was not given.
				delete(f.seen, name)
				continue
			}
			doc := Document{ID: newID(), Side: name}
			st, err := s.d.Store.Put(ctx, documentKey(caseID, doc.ID), br, s.cfg.MaxFileBytes)
			if err != nil {
				if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrUnsupportedMedia) {
					err = fmt.Errorf("%s: %w", name, err)
				}
				return f, stored, err
			}
			doc.ContentType, doc.Size, doc.SHA256, doc.Encrypted = st.ContentType, st.Size, st.SHA256, st.Encrypted
			doc.UploadedAt = s.d.Now().UTC()
			stored = append(stored, doc)
		default:
			return f, stored, &FieldError{Field: name, Problem: "is not a field of the upload (legal_name, document_type, front, back, selfie)"}
		}
	}
	return f, stored, f.validate(stored)
}

// partName is a part's form field name: a form-data part with a name,
// a file part only for the file fields.
func partName(p *multipart.Part) (string, error) {
	disp, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil || disp != "form-data" || params["name"] == "" {
		return "", fmt.Errorf("a part without a form-data name: %w", ErrInvalidInput)
	}
	name := params["name"]
	if _, isFile := params["filename"]; isFile && !slices.Contains(fileSides, name) {
		return "", &FieldError{Field: name, Problem: "must be text, not a file"}
	}
	if len(name) > 64 {
		name = name[:64]
	}
	return name, nil
}

func (s *Service) field(p *multipart.Part, name string) (string, error) {
	b, err := io.ReadAll(io.LimitReader(p, int64(s.cfg.MaxFieldBytes)+1))
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return "", err
		}
		return "", fmt.Errorf("reading %s: %w: %v", name, ErrInvalidInput, err)
	}
	if len(b) > s.cfg.MaxFieldBytes {
		return "", &FieldError{Field: name, Problem: fmt.Sprintf("is longer than %d bytes", s.cfg.MaxFieldBytes)}
	}
	if !utf8.Valid(b) {
		return "", &FieldError{Field: name, Problem: "is not valid UTF-8"}
	}
	return strings.TrimSpace(string(b)), nil
}

func (f *form) validate(docs []Document) error {
	has := map[string]bool{}
	for _, d := range docs {
		has[d.Side] = true
	}
	switch {
	case f.legalName == "":
		return &FieldError{Field: "legal_name", Problem: "is required"}
	case utf8.RuneCountInString(f.legalName) > maxLegalName || strings.ContainsFunc(f.legalName, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return &FieldError{Field: "legal_name", Problem: fmt.Sprintf("must be one line of at most %d characters", maxLegalName)}
	case !f.docType.valid():
		return &FieldError{Field: "document_type", Problem: "must be passport, national_id or driving_licence"}
	case !has["front"]:
		return &FieldError{Field: "front", Problem: "is required: a photo or scan of the document's front"}
	case f.docType.hasBack() && !has["back"]:
		return &FieldError{Field: "back", Problem: "is required for a " + strings.ReplaceAll(string(f.docType), "_", " ")}
	case !f.docType.hasBack() && has["back"]:
		return &FieldError{Field: "back", Problem: "a passport has no back: send its photo page as front"}
	}
	return nil
}

// record commits the case of a received upload.
func (s *Service) record(ctx context.Context, claims *Claims, prev *Case, f form, docs []Document, addr string) (*Case, error) {
	dup, err := s.duplicates(ctx, claims.Ref(), docs)
	if err != nil {
		return nil, err
	}
	now := s.d.Now()
	c, err := submitted(prev, claims.Case, claims.Owner, claims.Account(), claims.EmailHash, Submission{
		LegalName: f.legalName, DocumentType: f.docType, Documents: docs, BillingName: claims.Name, Email: claims.Email,
	}, dup, now)
	if err != nil {
		return nil, err
	}
	c.PurgeAt = time.Time{}
	var prevVersion int64
	var before *caseState
	if prev != nil {
		prevVersion = prev.Version
		b := stateOf(prev)
		before = &b
	}
	op := syncOf(&c, "submitted", "customer")
	op.Submission = c.Submissions
	hashes := make([]string, 0, len(docs))
	for _, d := range docs {
		hashes = append(hashes, d.SHA256)
	}
	err = s.commit(ctx, prevVersion, &c, commitOpts{account: true, jti: claims.ID, jtiTTL: time.Until(claims.ExpiresAt.Time) + 7*24*time.Hour, hashes: hashes},
		eventOf(&c, events.KYCSubmitted, now),
		auditOf(&c, versionID(&c), events.KYCSubmitted, "customer", addr, now, before),
		work{kindSync, op},
	)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// duplicates lists the other accounts that sent a document with one of
// docs' contents.
func (s *Service) duplicates(ctx context.Context, ref string, docs []Document) (map[string]bool, error) {
	pipe := s.d.Redis.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(docs))
	for i, d := range docs {
		cmds[i] = pipe.HGetAll(ctx, s.shaKey(d.SHA256))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("looking up document hashes: %w: %w", ErrUnavailable, err)
	}
	dup := map[string]bool{}
	for _, c := range cmds {
		for acct := range c.Val() {
			if acct != ref {
				dup[acct] = true
			}
		}
	}
	return dup, nil
}

// discard removes the objects of a failed upload, best effort: what
// stays is an orphan the worker removes after kyc.orphan_grace.
func (s *Service) discard(ctx context.Context, caseID string, docs []Document) {
	if len(docs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, d := range docs {
		if err := s.d.Store.Delete(ctx, documentKey(caseID, d.ID)); err != nil {
			s.d.Logger.WarnContext(ctx, "kyc: object of a failed upload not removed; the worker removes it", "case", caseID, "error", err)
			return
		}
	}
}

// statusOf maps an upload error to the page's and the API's status (the
// page has its own presenter; the API uses gateway/errors.go).
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrUnsupportedMedia):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrInvalidToken):
		return http.StatusBadRequest
	case errors.Is(err, ErrExpiredToken):
		return http.StatusGone
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrInvalidInput):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
