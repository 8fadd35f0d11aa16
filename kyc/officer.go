package kyc

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
)

// Audit actions of the case workflow beyond the kyc.* events.
const (
	ActionClaimed      = "kyc.claimed"
	ActionResubmission = "kyc.resubmission_requested"
	ActionDocument     = "kyc.document_accessed"
	ActionRedacted     = "kyc.redacted"
	ActionErased       = "kyc.erased"
)

// View is a case as an officer reads it: the stored case, whose identity
// it checks as the audit log names it, who holds it and until when, and
// its age.
type View struct {
	Case
	// Reference is Case.Ref(): "<owner>/<account id>", or
	// "email:<owner>/<email hash>" for a case of orders without an
	// account id.
	Reference    string    `json:"reference"`
	ClaimedBy    string    `json:"claimed_by,omitempty"`
	ClaimExpires time.Time `json:"claim_expires,omitzero"`
	AgeSeconds   int64     `json:"age_seconds"`
}

// MaxPage bounds one page of cases.
const MaxPage = 100

// Cases lists the cases of one status, oldest submission first, from
// offset; next is the next page's offset (-1: none) and total how many
// there are.
func (s *Service) Cases(ctx context.Context, st Status, offset, limit int) (cases []View, next int, total int64, err error) {
	if !st.valid() {
		return nil, 0, 0, &FieldError{Field: "status", Problem: "must be pending, approved, rejected or resubmission_requested"}
	}
	if offset < 0 || limit < 1 || limit > MaxPage {
		return nil, 0, 0, &FieldError{Field: "limit", Problem: fmt.Sprintf("offset must be 0 or more, limit 1 to %d", MaxPage)}
	}
	pipe := s.d.Redis.Pipeline()
	ids := pipe.ZRange(ctx, s.ixKey(st), int64(offset), int64(offset+limit))
	n := pipe.ZCard(ctx, s.ixKey(st))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, 0, fmt.Errorf("listing cases: %w: %w", ErrUnavailable, err)
	}
	list := ids.Val()
	next = -1
	if len(list) > limit {
		list, next = list[:limit], offset+limit
	}
	cases = make([]View, 0, len(list))
	for _, id := range list {
		v, err := s.view(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, 0, err
		}
		cases = append(cases, v)
	}
	return cases, next, n.Val(), nil
}

// Get reads one case.
func (s *Service) Get(ctx context.Context, id string) (View, error) { return s.view(ctx, id) }

func (s *Service) view(ctx context.Context, id string) (View, error) {
	c, err := s.load(ctx, id)
	if err != nil {
		return View{}, err
	}
	if c == nil {
		return View{}, fmt.Errorf("case %s: %w", id, ErrNotFound)
	}
	pipe := s.d.Redis.Pipeline()
	holder := pipe.Get(ctx, s.claimKey(id))
	ttl := pipe.PTTL(ctx, s.claimKey(id))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return View{}, fmt.Errorf("reading claim of case %s: %w: %w", id, ErrUnavailable, err)
	}
	now := s.d.Now()
	v := View{Case: *c, Reference: c.Ref(), AgeSeconds: int64(now.Sub(c.SubmittedAt) / time.Second)}
	if v.Reasons == nil {
		v.Reasons = []Reason{}
	}
	if h := holder.Val(); h != "" {
		v.ClaimedBy = h
		if d := ttl.Val(); d > 0 {
			v.ClaimExpires = now.Add(d).UTC()
		}
	}
	return v, nil
}

// claimScript takes or renews an officer's claim on a pending case and
// appends its audit entry. KEYS: case, claim, pending. ARGV: officer,
// ttl ms, audit body. Returns "ok", "gone", "closed" or the holder.
var claimScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return 'gone' end
if st ~= 'pending' then return 'closed' end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return 'held:' .. holder end
redis.call('XADD', KEYS[3], '*', 'kind', 'audit', 'body', ARGV[3])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 'ok'
`)

// Claim gives a pending case to officer for kyc.claim_ttl (renewing the
// officer's own claim); a case another officer holds is ErrConflict.
func (s *Service) Claim(ctx context.Context, id, officer, addr string) (View, error) {
	c, err := s.load(ctx, id)
	if err != nil {
		return View{}, err
	}
	if c == nil {
		return View{}, fmt.Errorf("case %s: %w", id, ErrNotFound)
	}
	now := s.d.Now()
	w := auditOf(c, "kyc:"+id+"/claim/"+rand.Text(), ActionClaimed, officer, addr, now, nil)
	body, _ := json.Marshal(w.body)
	out, err := claimScript.Run(ctx, s.d.Redis, []string{s.caseKey(id), s.claimKey(id), s.pendingKey()},
		officer, s.cfg.ClaimTTL.Milliseconds(), body).Text()
	if err != nil {
		return View{}, fmt.Errorf("claiming case %s: %w: %w", id, ErrUnavailable, err)
	}
	switch out {
	case "ok":
		return s.view(ctx, id)
	case "gone":
		return View{}, fmt.Errorf("case %s: %w", id, ErrNotFound)
	case "closed":
		return View{}, fmt.Errorf("case %s is not pending: %w", id, ErrConflict)
	}
	return View{}, fmt.Errorf("case %s is claimed by %s: %w", id, out[len("held:"):], ErrConflict)
}

// Approve approves a pending case: the account's identity is verified,
// its held orders waiting on KYC get the requirement done (clearing those
// with nothing else pending), kyc.approved goes out.
func (s *Service) Approve(ctx context.Context, id string, d Decision, officer, addr string) (View, error) {
	if err := d.validate(false); err != nil {
		return View{}, err
	}
	return s.decide(ctx, id, StatusApproved, d, officer, addr)
}

// Reject rejects a pending case (a reason is required): the account's held
// orders waiting on KYC are rejected, kyc.rejected goes out.
func (s *Service) Reject(ctx context.Context, id string, d Decision, officer, addr string) (View, error) {
	if err := d.validate(true); err != nil {
		return View{}, err
	}
	return s.decide(ctx, id, StatusRejected, d, officer, addr)
}

// RequestResubmission asks the customer for new documents (a reason is
// required, shown to the customer; the note stays internal): a new link
// for the same case goes out by mail (when the order gave an email) and
// is returned.
func (s *Service) RequestResubmission(ctx context.Context, id string, d Decision, officer, addr string) (View, string, error) {
	if err := d.validate(true); err != nil {
		return View{}, "", err
	}
	c, err := s.load(ctx, id)
	if err != nil {
		return View{}, "", err
	}
	if c == nil {
		return View{}, "", fmt.Errorf("case %s: %w", id, ErrNotFound)
	}
	link, err := s.link(c.Owner, c.Account, c.EmailHash, c.ID, c.BillingName, c.Email)
	if err != nil {
		return View{}, "", err
	}
	v, err := s.decideWith(ctx, c, StatusResubmission, d, officer, addr, link)
	return v, link, err
}

func (s *Service) decide(ctx context.Context, id string, to Status, d Decision, officer, addr string) (View, error) {
	c, err := s.load(ctx, id)
	if err != nil {
		return View{}, err
	}
	if c == nil {
		return View{}, fmt.Errorf("case %s: %w", id, ErrNotFound)
	}
	return s.decideWith(ctx, c, to, d, officer, addr, "")
}

func (s *Service) decideWith(ctx context.Context, prev *Case, to Status, d Decision, officer, addr, link string) (View, error) {
	now := s.d.Now()
	c, err := decided(*prev, to, d, officer, now, s.cfg.Retention)
	if err != nil {
		return View{}, err
	}
	before := stateOf(prev)
	ws := []work{}
	var op *syncOp
	switch to {
	case StatusApproved:
		ws = append(ws, eventOf(&c, events.KYCApproved, now), auditOf(&c, versionID(&c), events.KYCApproved, officer, addr, now, &before))
		v := syncOf(&c, "verified", officer)
		op = &v
	case StatusRejected:
		ws = append(ws, eventOf(&c, events.KYCRejected, now), auditOf(&c, versionID(&c), events.KYCRejected, officer, addr, now, &before))
		v := syncOf(&c, "rejected", officer)
		v.Reason = c.Reason
		op = &v
	case StatusResubmission:
		ws = append(ws, auditOf(&c, versionID(&c), ActionResubmission, officer, addr, now, &before))
		if c.Email != "" {
			ws = append(ws, work{kindMail, mailWork{ID: versionID(&c), To: c.Email, Link: link, Reason: c.Reason, TTL: s.cfg.LinkTTL}})
		}
	}
	if op != nil {
		ws = append(ws, work{kindSync, *op})
	}
	if err := s.commit(ctx, prev.Version, &c, commitOpts{officer: officer}, ws...); err != nil {
		return View{}, err
	}
	if op != nil {
		s.syncNow(ctx, *op)
	}
	s.m.decisions.WithLabelValues(string(c.Status)).Inc()
	s.d.Logger.InfoContext(ctx, "kyc case decided", "case", c.ID, "status", string(c.Status), "officer", officer)
	return s.view(ctx, c.ID)
}

// DocumentAccess is how an officer reads a document: an open stream, or
// a presigned URL.
type DocumentAccess struct {
	Object   Object
	URL      *url.URL
	Filename string
}

// Document opens document doc of case id for officer, or presigns it
// when presign is set (for MaxPresign at most). The access is audited
// first: no audit entry, no document.
func (s *Service) Document(ctx context.Context, id, doc, officer, addr string, presign bool) (DocumentAccess, error) {
	c, err := s.load(ctx, id)
	if err != nil {
		return DocumentAccess{}, err
	}
	if c == nil {
		return DocumentAccess{}, fmt.Errorf("case %s: %w", id, ErrNotFound)
	}
	var d *Document
	for i := range c.Documents {
		if c.Documents[i].ID == doc {
			d = &c.Documents[i]
		}
	}
	if d == nil || d.Deleted {
		return DocumentAccess{}, fmt.Errorf("document %s of case %s: %w", doc, id, ErrNotFound)
	}
	now := s.d.Now()
	w := auditOf(c, "kyc:"+id+"/doc/"+rand.Text(), ActionDocument, officer, addr, now, nil)
	e := w.body.(AuditEntry)
	e.After, _ = json.Marshal(map[string]any{"case": c.ID, "document": d.ID, "side": d.Side, "presigned": presign})
	body, _ := json.Marshal(e)
	if err := s.d.Redis.XAdd(ctx, &redis.XAddArgs{Stream: s.pendingKey(), Values: []any{"kind", kindAudit, "body", body}}).Err(); err != nil {
		return DocumentAccess{}, fmt.Errorf("auditing document access: %w: %w", ErrUnavailable, err)
	}
	name := d.Side + extension(d.ContentType)
	key := documentKey(c.ID, d.ID)
	if presign {
		u, err := s.d.Store.Presign(ctx, key, MaxPresign, d.ContentType, name)
		return DocumentAccess{URL: u, Filename: name}, err
	}
	o, err := s.d.Store.Open(ctx, key)
	if err != nil {
		return DocumentAccess{}, err
	}
	o.ContentType = d.ContentType // the type sniffed at upload, not what S3 says
	return DocumentAccess{Object: o, Filename: name}, nil
}

func extension(ct string) string {
	switch ct {
	case TypeJPEG:
		return ".jpg"
	case TypePNG:
		return ".png"
	case TypePDF:
		return ".pdf"
	}
	return ""
}
