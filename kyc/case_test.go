package kyc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
)

// TestCaseWorkflow: on standalone Redis and the Cluster, a customer
// uploads real JPEG, PNG and PDF bytes through the page; the case is
// pending with the documents encrypted in MinIO under opaque keys, the
// name match and kyc.submitted recorded; the link is then used up; one
// officer at a time works the case; approval tells the orders and
// publishes kyc.approved, and everything is audited.
func TestCaseWorkflow(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		e := newEnv(t, rdb, prefix, Config{}, "", "p1")
		ctx := context.Background()
		link, err := e.svc.KYCLink("key:shop", "42", "Ann Lee", "ann.lee@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(link, "https://shop.example/_gateway/kyc?token=") {
			t.Fatalf("link %q", link)
		}
		if rec := e.get(t, link); rec.Code != 200 || !strings.Contains(rec.Body.String(), `enctype="multipart/form-data"`) {
			t.Fatalf("GET: %d %s", rec.Code, rec.Body)
		}
		b, ct := body(t, idCard(t, "LEE Ann", 1)...)
		if rec := e.post(t, link, b, ct); rec.Code != 200 || !strings.Contains(rec.Body.String(), "Documents received") {
			t.Fatalf("POST: %d %s", rec.Code, rec.Body)
		}
		c := e.caseOf(t, link)
		if c == nil || c.Status != StatusPending || len(c.Documents) != 3 || c.Ref() != "key:shop/42" {
			t.Fatalf("case: %+v", c)
		}
		if *c.BillingScore != 100 || *c.EmailScore != 100 || len(c.Reasons) != 0 {
			t.Errorf("name match: billing %d, email %d, reasons %+v", *c.BillingScore, *c.EmailScore, c.Reasons)
		}
		wantTypes := map[string]string{"front": TypeJPEG, "back": TypePNG, "selfie": TypePDF}
		for _, d := range c.Documents {
			if d.ContentType != wantTypes[d.Side] || len(d.SHA256) != 64 || !d.Encrypted {
				t.Errorf("document %+v", d)
			}
			info, err := e.store.Stat(ctx, documentKey(c.ID, d.ID))
			if err != nil {
				t.Fatal(err)
			}
			if !info.Encrypted || info.Size != d.Size {
				t.Errorf("object %s: %+v, want encrypted (SSE-S3 with the test KMS key)", info.Key, info)
			}
		}
		for _, k := range e.objects(t) {
			if !strings.HasPrefix(k, "kyc/"+c.ID+"/") || strings.ContainsAny(k, ".") {
				t.Errorf("object key %q is not opaque", k)
			}
		}
		if got := e.orders.seen(); len(got) != 1 || !strings.HasPrefix(got[0], "submitted key:shop/42 "+c.ID+" #1") {
			t.Errorf("orders told %q", got)
		}
		// The link is used up: the page says so, an upload is refused.
		if rec := e.get(t, link); rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "already sent") {
			t.Errorf("GET after upload: %d %s", rec.Code, rec.Body)
		}
		if rec := e.post(t, link, b, ct); rec.Code != http.StatusConflict {
			t.Errorf("second POST: %d %s", rec.Code, rec.Body)
		}

		list, next, total, err := e.svc.Cases(ctx, StatusPending, 0, 10)
		if err != nil || len(list) != 1 || next != -1 || total != 1 || list[0].ID != c.ID {
			t.Fatalf("pending cases: %+v %d %d %v", list, next, total, err)
		}
		if _, err := e.svc.Claim(ctx, c.ID, "officer:olga", "127.0.0.x"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Claim(ctx, c.ID, "officer:oscar", ""); !errors.Is(err, ErrConflict) {
			t.Errorf("second officer's claim: %v, want conflict", err)
		}
		if _, err := e.svc.Approve(ctx, c.ID, Decision{}, "officer:oscar", ""); !errors.Is(err, ErrConflict) {
			t.Errorf("approval by another officer than the claimant: %v, want conflict", err)
		}
		v, err := e.svc.Approve(ctx, c.ID, Decision{Note: "looks fine"}, "officer:olga", "")
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != StatusApproved || v.ClaimedBy != "" || v.PurgeAt.IsZero() {
			t.Errorf("approved: %+v", v)
		}
		if _, err := e.svc.Reject(ctx, c.ID, Decision{Reason: "x"}, "officer:olga", ""); !errors.Is(err, ErrConflict) {
			t.Errorf("reject after approval: %v, want conflict", err)
		}
		e.relay(t)
		if got := e.orders.seen(); !slices.Contains(got, "verified key:shop/42 "+c.ID+" by officer:olga") {
			t.Errorf("orders told %q", got)
		}
		var types []string
		for _, ev := range e.published(t) {
			types = append(types, ev.Type)
			if strings.Contains(string(ev.Data), "Ann") || strings.Contains(string(ev.Data), c.Documents[0].SHA256) {
				t.Errorf("event %s carries personal data: %s", ev.Type, ev.Data)
			}
		}
		if strings.Join(types, ",") != events.KYCSubmitted+","+events.KYCApproved {
			t.Errorf("events %v", types)
		}
		if got := strings.Join(e.audit.actions(), ","); got != "kyc.submitted,kyc.claimed,kyc.approved" {
			t.Errorf("audit actions %s", got)
		}
		// The account is verified: a new link of it says so.
		link2, _ := e.svc.KYCLink("key:shop", "42", "Ann Lee", "")
		if rec := e.get(t, link2); rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "already confirmed") {
			t.Errorf("new link of a verified account: %d %s", rec.Code, rec.Body)
		}
	})
}

// TestDecisionHelp: a document another account already sent flags the
// case; a legal name unlike the billing name and email is a reason.
func TestDecisionHelp(t *testing.T) {
	rdb, prefix := standalone(t)
	e := newEnv(t, rdb, prefix, Config{}, "", "p1")
	first, _ := e.svc.KYCLink("key:shop", "1", "Ann Lee", "ann@example.com")
	b, ct := body(t, idCard(t, "Ann Lee", 7)...)
	if rec := e.post(t, first, b, ct); rec.Code != 200 {
		t.Fatalf("first: %d %s", rec.Code, rec.Body)
	}
	second, _ := e.svc.KYCLink("key:shop", "2", "Bob Brown", "bob@example.com")
	b, ct = body(t, idCard(t, "Ann Lee", 7)...) // the same files
	if rec := e.post(t, second, b, ct); rec.Code != 200 {
		t.Fatalf("second: %d %s", rec.Code, rec.Body)
	}
	c := e.caseOf(t, second)
	var codes []string
	for _, r := range c.Reasons {
		codes = append(codes, r.Code)
		if r.Code == ReasonDuplicateDocument && !strings.Contains(r.Detail, "key:shop/1") {
			t.Errorf("duplicate reason %q does not name the other account", r.Detail)
		}
	}
	if strings.Join(codes, ",") != "name_mismatch,email_name_mismatch,duplicate_document" {
		t.Errorf("reasons %v", codes)
	}
}

// TestRejectAndResubmission: a rejection tells the orders with the
// reason; a resubmission request mails a new link (reason shown, note
// kept apart) that uploads again into the same case.
func TestRejectAndResubmission(t *testing.T) {
	rdb, prefix := standalone(t)
	e := newEnv(t, rdb, prefix, Config{}, "", "p1")
	ctx := context.Background()
	link, _ := e.svc.KYCLink("key:shop", "9", "Ann Lee", "ann@example.com")
	b, ct := body(t, idCard(t, "Ann Lee", 3)...)
	if rec := e.post(t, link, b, ct); rec.Code != 200 {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	c := e.caseOf(t, link)
	if _, _, err := e.svc.RequestResubmission(ctx, c.ID, Decision{}, "officer:olga", ""); !errors.As(err, new(*FieldError)) {
		t.Errorf("resubmission without a reason: %v", err)
	}
	v, again, err := e.svc.RequestResubmission(ctx, c.ID, Decision{Reason: "The photo is blurred", Note: "suspect edit"}, "officer:olga", "")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != StatusResubmission || again == "" || again == link {
		t.Fatalf("resubmission: %+v %q", v, again)
	}
	e.relay(t)
	if len(e.mail.msgs) != 1 || !strings.Contains(e.mail.msgs[0].Text, "The photo is blurred") || strings.Contains(e.mail.msgs[0].Text, "suspect") ||
		!strings.Contains(e.mail.msgs[0].Text, again) || e.mail.msgs[0].To != "ann@example.com" {
		t.Fatalf("mail %+v", e.mail.msgs)
	}
	b, ct = body(t, []part{
		{name: "legal_name", body: []byte("Ann Lee")}, {name: "document_type", body: []byte("passport")},
		{name: "front", filename: "p.jpg", body: jpegBytes(t, 4)},
	}...)
	if rec := e.post(t, again, b, ct); rec.Code != 200 {
		t.Fatalf("resubmitted: %d %s", rec.Code, rec.Body)
	}
	c = e.caseOf(t, again)
	if c.Status != StatusPending || c.Submissions != 2 || len(c.Documents) != 4 || c.Reason != "" {
		t.Fatalf("after resubmission: %+v", c)
	}
	if _, err := e.svc.Reject(ctx, c.ID, Decision{Reason: "document forged"}, "officer:olga", ""); err != nil {
		t.Fatal(err)
	}
	e.relay(t)
	if got := e.orders.seen(); !slices.Contains(got, "rejected key:shop/9 "+c.ID+" (document forged) by officer:olga") {
		t.Errorf("orders told %q", got)
	}
	var types []string
	for _, ev := range e.published(t) {
		types = append(types, ev.Type)
	}
	if strings.Join(types, ",") != "kyc.submitted,kyc.submitted,kyc.rejected" {
		t.Errorf("events %v", types)
	}
}

// TestDocumentAccess: an officer reads a document as a stream with the
// stored type, or through a presigned URL of at most five minutes; each
// access is audited.
func TestDocumentAccess(t *testing.T) {
	rdb, prefix := standalone(t)
	e := newEnv(t, rdb, prefix, Config{}, "", "p1")
	ctx := context.Background()
	link, _ := e.svc.KYCLink("key:shop", "5", "Ann Lee", "")
	b, ct := body(t, idCard(t, "Ann Lee", 9)...)
	if rec := e.post(t, link, b, ct); rec.Code != 200 {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	c := e.caseOf(t, link)
	front := c.Documents[0]
	a, err := e.svc.Document(ctx, c.ID, front.ID, "officer:olga", "", false)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, front.Size+1)
	n, _ := a.Object.Read(got)
	for n < int(front.Size) {
		m, err := a.Object.Read(got[n:])
		n += m
		if err != nil {
			break
		}
	}
	a.Object.Close()
	if a.Object.ContentType != TypeJPEG || a.Filename != "front.jpg" || Sniff(got[:n]) != TypeJPEG || int64(n) != front.Size {
		t.Errorf("stream: %s %s %d bytes", a.Object.ContentType, a.Filename, n)
	}
	p, err := e.svc.Document(ctx, c.ID, front.ID, "officer:olga", "", true)
	if err != nil {
		t.Fatal(err)
	}
	if exp := p.URL.Query().Get("X-Amz-Expires"); exp != "300" {
		t.Errorf("presigned for %s s, want 300", exp)
	}
	resp, err := http.Get(p.URL.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != TypeJPEG || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("presigned GET: %d %v", resp.StatusCode, resp.Header)
	}
	if _, err := e.svc.Document(ctx, c.ID, "NOSUCHDOCUMENTAAAAAAAAAAAA", "officer:olga", "", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown document: %v", err)
	}
	e.relay(t)
	n = 0
	for _, a := range e.audit.actions() {
		if a == ActionDocument {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d document accesses audited, want 2: %v", n, e.audit.actions())
	}
}

// TestRetentionTwoWorkers: two processes' workers share the retention
// work through a lease: after the retention the documents are gone from
// MinIO, the case stays, redacted, audited once; an admin's erasure does
// the same at once.
func TestRetentionTwoWorkers(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		e := newEnv(t, rdb, prefix, Config{Retention: time.Hour}, "", "p1")
		ctx := context.Background()
		link, c := e.approved(t, "7", 11)
		// A second process: the same Redis and bucket, its own consumer.
		other := *e.svc
		other.d.Consumer = "p2"
		for _, w := range []struct {
			s     *Service
			owner string
		}{{e.svc, "w1"}, {&other, "w2"}} {
			if err := w.s.WorkOnce(ctx, w.owner); err != nil {
				t.Fatal(err)
			}
		}
		if len(e.objects(t)) != 3 {
			t.Fatalf("documents deleted before their retention: %v", e.objects(t))
		}
		e.advance(2 * time.Hour)
		errs := make(chan error, 2)
		for _, w := range []struct {
			s     *Service
			owner string
		}{{e.svc, "w1"}, {&other, "w2"}} {
			go func() { errs <- w.s.WorkOnce(ctx, w.owner) }()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if objs := e.objects(t); len(objs) != 0 {
			t.Errorf("documents left after retention: %v", objs)
		}
		got := e.caseOf(t, link)
		if !got.Redacted || got.Status != StatusApproved || !got.Documents[0].Deleted || got.Documents[0].SHA256 != "" {
			t.Errorf("case after retention: %+v", got)
		}
		e.relay(t)
		other.relay0(t)
		n := 0
		for _, a := range e.audit.actions() {
			if a == ActionRedacted {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d redactions audited, want 1: %v", n, e.audit.actions())
		}
		if _, err := e.svc.Document(ctx, c.ID, c.Documents[0].ID, "officer:olga", "", false); !errors.Is(err, ErrNotFound) {
			t.Errorf("document after retention: %v", err)
		}

		// Erasure of another account's documents, by an admin, at once.
		e.uploaded(t, "8", 12)
		if n, err := e.svc.Erase(ctx, "key:shop", "8", "admin:ada", ""); err != nil || n != 1 {
			t.Fatalf("Erase = %d, %v", n, err)
		}
		if objs := e.objects(t); len(objs) != 0 {
			t.Errorf("documents left after erasure: %v", objs)
		}
		e.relay(t)
		if a := e.audit.actions(); a[len(a)-1] != ActionErased {
			t.Errorf("audit %v, want the erasure last", a)
		}
	})
}

// relay0 drains the pending stream as this (second) process.
func (s *Service) relay0(t testing.TB) {
	t.Helper()
	if _, err := s.RelayOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCasesPaging(t *testing.T) {
	rdb, prefix := standalone(t)
	e := newEnv(t, rdb, prefix, Config{}, "", "p1")
	ctx := context.Background()
	var ids []string
	for i := range 3 {
		link, _ := e.svc.KYCLink("key:shop", "p"+string(rune('a'+i)), "Ann Lee", "")
		b, ct := body(t, idCard(t, "Ann Lee", uint8(20+i))...)
		if rec := e.post(t, link, b, ct); rec.Code != 200 {
			t.Fatalf("POST: %d %s", rec.Code, rec.Body)
		}
		ids = append(ids, e.caseOf(t, link).ID)
		e.advance(time.Minute)
	}
	page, next, total, err := e.svc.Cases(ctx, StatusPending, 0, 2)
	if err != nil || len(page) != 2 || next != 2 || total != 3 || page[0].ID != ids[0] || page[1].ID != ids[1] {
		t.Fatalf("page 1: %v %d %d %v", page, next, total, err)
	}
	if page[0].AgeSeconds < page[1].AgeSeconds || page[0].AgeSeconds < 120 {
		t.Errorf("ages %d, %d: oldest first", page[0].AgeSeconds, page[1].AgeSeconds)
	}
	page, next, _, err = e.svc.Cases(ctx, StatusPending, 2, 2)
	if err != nil || len(page) != 1 || next != -1 || page[0].ID != ids[2] {
		t.Fatalf("page 2: %v %d %v", page, next, err)
	}
	if _, _, _, err := e.svc.Cases(ctx, "open", 0, 2); !errors.As(err, new(*FieldError)) {
		t.Errorf("bad status: %v", err)
	}
	raw, _ := json.Marshal(page[0])
	if !strings.Contains(string(raw), `"age_seconds"`) {
		t.Errorf("view JSON %s", raw)
	}
}
