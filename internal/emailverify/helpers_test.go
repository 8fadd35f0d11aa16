package emailverify

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"strings"
	"sync"
	"testing"
	texttemplate "text/template"
	"time"

	"github.com/vpsgate/gateway/internal/fakeclock"
	"github.com/vpsgate/gateway/internal/linktoken"
	"github.com/vpsgate/gateway/internal/testenv"
)

// testSecret stands in for auth.jwt_secret.
var testSecret = []byte(strings.Repeat("k", 40))

func newClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
}

type verifyCall struct{ Owner, Account, Email, Actor string }

// recordingVerifier stands in for the order lifecycle (part L): it records
// each EmailVerified call, and fails while fail is set.
type recordingVerifier struct {
	mu    sync.Mutex
	calls []verifyCall
	fail  error
	delay time.Duration
}

func (v *recordingVerifier) EmailVerified(ctx context.Context, owner, accountID, email, actor string) error {
	time.Sleep(v.delay) // widens the race window of concurrency tests
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.fail != nil {
		return v.fail
	}
	v.calls = append(v.calls, verifyCall{owner, accountID, email, actor})
	return nil
}

func (v *recordingVerifier) Calls() []verifyCall {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]verifyCall(nil), v.calls...)
}

func (v *recordingVerifier) SetFail(err error) {
	v.mu.Lock()
	v.fail = err
	v.mu.Unlock()
}

// recordingOutbox stands in for the mail package's Outbox until it is
// merged: it keeps the messages, and queues an ID once, as the contract
// says the real one does.
type recordingOutbox struct {
	mu   sync.Mutex
	msgs []Message
	seen map[string]bool
}

func (o *recordingOutbox) Enqueue(ctx context.Context, m Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen == nil {
		o.seen = map[string]bool{}
	}
	if o.seen[m.ID] {
		return nil
	}
	o.seen[m.ID] = true
	o.msgs = append(o.msgs, m)
	return nil
}

func (o *recordingOutbox) Messages() []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Message(nil), o.msgs...)
}

// testTemplates renders a verify_email template as the mail package's
// Templates do: subject, text and HTML from MailData.
type testTemplates struct{}

var (
	testText = texttemplate.Must(texttemplate.New("t").Parse("Confirm {{.Email}}: {{.Link}} (valid for {{.ValidFor}})"))
	testHTML = template.Must(template.New("h").Parse(`<a href="{{.Link}}">Confirm {{.Email}}</a>`))
)

func (testTemplates) Render(name string, data any) (string, string, string, error) {
	if name != MailTemplate {
		return "", "", "", errors.New("no template " + name)
	}
	var txt, html strings.Builder
	if err := testText.Execute(&txt, data); err != nil {
		return "", "", "", err
	}
	if err := testHTML.Execute(&html, data); err != nil {
		return "", "", "", err
	}
	return "Confirm your email address", txt.String(), html.String(), nil
}

type fixture struct {
	svc    *Service
	ver    *recordingVerifier
	outbox *recordingOutbox
	clock  *fakeclock.Clock
}

// newFixture builds a Service on the test Redis with a key prefix of the
// test's own.
func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	rdb := testenv.RedisClient(t)
	cfg.SetDefaults()
	f := &fixture{ver: &recordingVerifier{}, outbox: &recordingOutbox{}, clock: newClock()}
	svc, err := New(cfg, Deps{
		Redis: rdb, Prefix: testenv.KeyPrefix(t), Secret: testSecret, PublicURL: "https://shop.example/",
		Verifier: f.ver, Outbox: f.outbox, Templates: testTemplates{},
		Logger: slog.New(slog.DiscardHandler), Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

// tokenOf returns the token of a verification link.
func tokenOf(t *testing.T, link string) string {
	t.Helper()
	_, tok, ok := strings.Cut(link, "?token=")
	if !ok {
		t.Fatalf("link %q has no token", link)
	}
	return tok
}

// signingKey is the key verification tokens are signed with, for tests
// that sign their own.
var signingKey = linktoken.DeriveKey(testSecret, keyLabel)
