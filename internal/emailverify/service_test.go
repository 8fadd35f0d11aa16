package emailverify

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/internal/auth"
)

var ann = verifyCall{Owner: "key:shop", Account: "42", Email: "ann@example.com", Actor: "customer"}

func (f *fixture) link(t *testing.T, owner, account, email string) string {
	t.Helper()
	l, err := f.svc.VerifyEmailLink(owner, account, email)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(l, "https://shop.example/_gateway/verify-email?token=") {
		t.Fatalf("VerifyEmailLink() = %q", l)
	}
	return tokenOf(t, l)
}

func TestVerifyOnce(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	tok := f.link(t, "key:shop", "42", "ann@example.com")

	steps := []struct {
		name string
		do   func() (State, *Claims, error)
		want State
	}{
		{"status before", func() (State, *Claims, error) { return f.svc.Status(ctx, tok) }, StateConfirm},
		{"status again: GET consumes nothing", func() (State, *Claims, error) { return f.svc.Status(ctx, tok) }, StateConfirm},
		{"confirm", func() (State, *Claims, error) { return f.svc.Verify(ctx, tok) }, StateVerified},
		{"second click", func() (State, *Claims, error) { return f.svc.Verify(ctx, tok) }, StateAlready},
		{"status after", func() (State, *Claims, error) { return f.svc.Status(ctx, tok) }, StateAlready},
		{"after expiry, still already verified", func() (State, *Claims, error) {
			f.clock.Advance(25 * time.Hour)
			return f.svc.Verify(ctx, tok)
		}, StateAlready},
	}
	for _, s := range steps {
		got, c, err := s.do()
		if err != nil || got != s.want {
			t.Fatalf("%s: state = %v, %v; want %v", s.name, got, err, s.want)
		}
		if c == nil || c.Email != "ann@example.com" {
			t.Fatalf("%s: claims = %+v", s.name, c)
		}
	}
	if diff := cmp.Diff([]verifyCall{ann}, f.ver.Calls()); diff != "" {
		t.Errorf("EmailVerified calls (-want +got):\n%s", diff)
	}
}

// TestVerifyRefuses: bad tokens get a clear state and change nothing.
func TestVerifyRefuses(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	now := f.clock.Now()
	a, err := auth.New(auth.Config{JWTSecret: string(testSecret), TokenTTL: time.Hour, TokenMaxTTL: 24 * time.Hour}, f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	officer, err := a.Mint("olga", auth.RoleAdmin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wrongAud := goodClaims(now)
	wrongAud.Audience = jwt.ClaimStrings{"kyc-upload"}
	expiredTok := f.link(t, "key:shop", "42", "ann@example.com")
	f.clock.Advance(24*time.Hour + time.Minute) // past exp and its leeway
	tests := []struct {
		name  string
		token string
		want  State
	}{
		{"forged", sign(t, jwt.SigningMethodHS256, testSecret, goodClaims(now)), StateInvalid},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, signingKey, wrongAud), StateInvalid},
		{"officer token", officer, StateInvalid},
		{"malformed", "abc", StateInvalid},
		{"expired", expiredTok, StateExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := f.svc.Verify(ctx, tt.token)
			if err != nil || got != tt.want {
				t.Errorf("Verify() = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if calls := f.ver.Calls(); len(calls) != 0 {
		t.Errorf("EmailVerified called for refused tokens: %v", calls)
	}
	// The expired token was not burnt either: it is still "expired", not
	// "already verified", and may ask for a new link.
	if st, _, err := f.svc.Status(ctx, expiredTok); st != StateExpired || err != nil {
		t.Errorf("Status(expired) after Verify = %v, %v", st, err)
	}
}

// TestVerifyFailureDoesNotBurn: when the lifecycle cannot record the
// verification, the link is given back and works on the next click.
func TestVerifyFailureDoesNotBurn(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	tok := f.link(t, "key:shop", "42", "ann@example.com")
	f.ver.SetFail(errors.New("redis cluster down"))
	if st, _, err := f.svc.Verify(ctx, tok); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Verify() with the lifecycle down = %v, %v; want ErrUnavailable", st, err)
	}
	if st, _, err := f.svc.Status(ctx, tok); st != StateConfirm || err != nil {
		t.Fatalf("Status() after a failed Verify = %v, %v; want StateConfirm (not burnt)", st, err)
	}
	f.ver.SetFail(nil)
	if st, _, err := f.svc.Verify(ctx, tok); st != StateVerified || err != nil {
		t.Fatalf("Verify() again = %v, %v; want StateVerified", st, err)
	}
	if diff := cmp.Diff([]verifyCall{ann}, f.ver.Calls()); diff != "" {
		t.Errorf("EmailVerified calls (-want +got):\n%s", diff)
	}
}

// TestVerifyClaimLapses: a process that died between claiming a token and
// recording the verification leaves a claim that lapses, after which the
// link works again.
func TestVerifyClaimLapses(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	tok := f.link(t, "key:shop", "42", "ann@example.com")
	c, err := f.svc.tokens.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	// What a killed process leaves behind: its claim, with its lease.
	rdb := f.svc.d.Redis
	if err := rdb.Set(ctx, f.svc.jtiKey(c), "dead-process", claimLease).Err(); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := f.svc.Verify(ctx, tok); st != StateAlready {
		t.Fatalf("Verify() while claimed = %v, want StateAlready", st)
	}
	if ttl := rdb.PTTL(ctx, f.svc.jtiKey(c)).Val(); ttl <= 0 || ttl > claimLease {
		t.Fatalf("claim TTL = %v, want within the lease %v", ttl, claimLease)
	}
	// The lease lapsing, without waiting for it.
	if err := rdb.Del(ctx, f.svc.jtiKey(c)).Err(); err != nil {
		t.Fatal(err)
	}
	if st, _, err := f.svc.Verify(ctx, tok); st != StateVerified || err != nil {
		t.Fatalf("Verify() after the lease = %v, %v; want StateVerified", st, err)
	}
	ttl := rdb.PTTL(ctx, f.svc.jtiKey(c)).Val()
	if want := 24*time.Hour + doneGrace; ttl < want-time.Minute || ttl > want {
		t.Errorf("done mark TTL = %v, want about the token's remaining life + grace (%v)", ttl, want)
	}
}

// TestVerifyConcurrent: many clicks on one link at once (two tabs, two
// processes): one EmailVerified call, one "verified", the rest "already".
func TestVerifyConcurrent(t *testing.T) {
	f := newFixture(t, Config{})
	f.ver.delay = 50 * time.Millisecond
	tok := f.link(t, "key:shop", "42", "ann@example.com")
	const n = 8
	states := make([]State, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			st, _, err := f.svc.Verify(context.Background(), tok)
			if err != nil {
				t.Errorf("Verify() error = %v", err)
			}
			states[i] = st
		})
	}
	wg.Wait()
	count := map[State]int{}
	for _, s := range states {
		count[s]++
	}
	if diff := cmp.Diff(map[State]int{StateVerified: 1, StateAlready: n - 1}, count); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]verifyCall{ann}, f.ver.Calls()); diff != "" {
		t.Errorf("EmailVerified calls (-want +got):\n%s", diff)
	}
}

func TestSendVerification(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	for range 2 { // the same ref twice: one message
		if err := f.svc.SendVerification(ctx, "key:shop", "42", "ann@example.com", "scr_1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.svc.SendVerification(ctx, "key:shop", "42", "ann@example.com", "scr_2"); err != nil {
		t.Fatal(err)
	}
	msgs := f.outbox.Messages()
	if len(msgs) != 2 || msgs[0].ID == msgs[1].ID {
		t.Fatalf("messages = %+v, want two with distinct IDs", msgs)
	}
	m := msgs[0]
	if m.To != "ann@example.com" || !strings.Contains(m.Text, "https://shop.example/_gateway/verify-email?token=") || !strings.Contains(m.Text, "24 hours") {
		t.Errorf("message = %+v", m)
	}
	// The mailed link works.
	_, rest, _ := strings.Cut(m.Text, "?token=")
	tok, _, _ := strings.Cut(rest, " ")
	if st, _, err := f.svc.Verify(ctx, tok); st != StateVerified || err != nil {
		t.Errorf("Verify(mailed token) = %v, %v", st, err)
	}
}

func TestSendVerificationRefuses(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	tests := []struct{ name, owner, account, email, ref string }{
		{"no ref", "key:shop", "42", "ann@example.com", ""},
		{"no owner", "", "42", "ann@example.com", "r"},
		{"control char in account", "key:shop", "4\n2", "ann@example.com", "r"},
		{"display name", "key:shop", "42", "Ann <ann@example.com>", "r"},
		{"two addresses", "key:shop", "42", "ann@example.com, bo@example.com", "r"},
		{"not an address", "key:shop", "42", "ann", "r"},
		{"header injection", "key:shop", "42", "ann@example.com\r\nBcc: x@evil.example", "r"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.svc.SendVerification(ctx, tt.owner, tt.account, tt.email, tt.ref); !errors.Is(err, ErrInvalidInput) {
				t.Errorf("SendVerification() error = %v, want ErrInvalidInput", err)
			}
		})
	}
	if msgs := f.outbox.Messages(); len(msgs) != 0 {
		t.Errorf("messages queued for refused input: %+v", msgs)
	}
}

// TestSendVerificationWithoutAccount: an order that came without an
// account id is verified by its address alone: its link's token names the
// owner and the address, and no account.
func TestSendVerificationWithoutAccount(t *testing.T) {
	f := newFixture(t, Config{})
	if err := f.svc.SendVerification(context.Background(), "key:shop", "", "ann@example.com", "r"); err != nil {
		t.Fatal(err)
	}
	msgs := f.outbox.Messages()
	if len(msgs) != 1 || msgs[0].To != "ann@example.com" {
		t.Fatalf("messages = %+v, want one to ann@example.com", msgs)
	}
	_, tok, ok := strings.Cut(msgs[0].Text, "token=")
	if !ok {
		t.Fatalf("no link in %q", msgs[0].Text)
	}
	tok, _, _ = strings.Cut(tok, " ")
	c, err := f.svc.tokens.Parse(tok)
	if err != nil || c.Owner != "key:shop" || c.Email != "ann@example.com" || c.Account() != "" {
		t.Errorf("token claims = %+v, %v; want owner key:shop, ann@example.com, no account", c, err)
	}
}

func TestSendVerificationWithoutOutbox(t *testing.T) {
	f := newFixture(t, Config{})
	f.svc.d.Outbox = nil
	err := f.svc.SendVerification(context.Background(), "key:shop", "42", "ann@example.com", "r")
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("SendVerification() without outbox = %v, want ErrUnavailable", err)
	}
}

func TestResendLimits(t *testing.T) {
	f := newFixture(t, Config{ResendPerAccount: 2, ResendPerAddress: 4, ResendPerAPIClient: 4})
	ctx := context.Background()
	visitor := Requester{Addr: netip.MustParseAddr("192.0.2.7")}
	sameV6 := func(i int) Requester {
		return Requester{Addr: netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)})}
	}
	shop := Requester{Addr: netip.MustParseAddr("127.0.0.1"), API: true}
	steps := []struct {
		name    string
		account string
		from    Requester
		want    string // "" for sent, else the limit's scope
	}{
		{"first", "1", visitor, ""},
		{"second", "1", visitor, ""},
		{"account limit", "1", visitor, "account"},
		// Every attempt counts against the address, refused ones too.
		{"other account, same address: fourth from it", "2", visitor, ""},
		{"address limit", "3", visitor, "address"},
		{"IPv6, one /64", "4", sameV6(1), ""},
		{"IPv6, same /64", "5", sameV6(2), ""},
		{"IPv6, same /64 again", "6", sameV6(3), ""},
		{"IPv6, same /64, fourth", "7", sameV6(4), ""},
		{"IPv6 /64 limit", "9", sameV6(5), "address"},
		{"API: its own limit", "8", shop, ""},
		{"API: account limit holds for storefronts too", "1", shop, "account"},
	}
	for _, s := range steps {
		err := f.svc.Resend(ctx, "key:shop", s.account, "ann@example.com", s.from)
		rl, limited := errors.AsType[*RateLimitedError](err)
		switch {
		case s.want == "" && err != nil:
			t.Fatalf("%s: Resend() error = %v", s.name, err)
		case s.want != "" && (!limited || rl.Scope != s.want):
			t.Fatalf("%s: Resend() error = %v, want the %s limit", s.name, err, s.want)
		case limited && (rl.RetryAfter <= 0 || rl.RetryAfter > time.Hour):
			t.Fatalf("%s: RetryAfter = %v", s.name, rl.RetryAfter)
		}
	}
	if got, want := len(f.outbox.Messages()), 8; got != want {
		t.Errorf("messages sent = %d, want %d", got, want)
	}
}

// TestResendLimitShared: the limit is counted in Redis, so a second
// gateway process (another Service on the same Redis and prefix) sees it.
func TestResendLimitShared(t *testing.T) {
	f := newFixture(t, Config{ResendPerAccount: 1})
	g := *f.svc // another process: same config, Redis and prefix
	ctx := context.Background()
	if err := f.svc.Resend(ctx, "key:shop", "42", "ann@example.com", Requester{Addr: netip.MustParseAddr("192.0.2.7")}); err != nil {
		t.Fatal(err)
	}
	err := g.Resend(ctx, "key:shop", "42", "ann@example.com", Requester{Addr: netip.MustParseAddr("192.0.2.8")})
	if !errors.Is(err, ErrRateLimited) {
		t.Errorf("Resend() from the second process = %v, want ErrRateLimited", err)
	}
}

// TestResendFor: the page's resend goes to the token's own email, once per
// token, and never for an invalid or used token.
func TestResendFor(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	from := Requester{Addr: netip.MustParseAddr("192.0.2.7")}
	tok := f.link(t, "key:shop", "42", "ann@example.com")
	used := f.link(t, "key:shop", "43", "bo@example.com")
	if _, _, err := f.svc.Verify(ctx, used); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(25 * time.Hour)
	for range 2 {
		if st, _, err := f.svc.ResendFor(ctx, tok, from); st != StateSent || err != nil {
			t.Fatalf("ResendFor(expired) = %v, %v", st, err)
		}
	}
	if st, _, err := f.svc.ResendFor(ctx, used, from); st != StateAlready || err != nil {
		t.Errorf("ResendFor(used) = %v, %v; want StateAlready", st, err)
	}
	forged := sign(t, jwt.SigningMethodHS256, testSecret, goodClaims(f.clock.Now()))
	if st, _, err := f.svc.ResendFor(ctx, forged, from); st != StateInvalid || err != nil {
		t.Errorf("ResendFor(forged) = %v, %v; want StateInvalid", st, err)
	}
	msgs := f.outbox.Messages()
	if len(msgs) != 1 || msgs[0].To != "ann@example.com" {
		t.Errorf("messages = %+v, want one to ann@example.com", msgs)
	}
}

func TestVerifyWithoutLifecycle(t *testing.T) {
	f := newFixture(t, Config{})
	f.svc.d.Verifier = nil
	ctx := context.Background()
	tok := f.link(t, "key:shop", "42", "ann@example.com")
	if _, _, err := f.svc.Verify(ctx, tok); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Verify() without lifecycle = %v, want ErrUnavailable", err)
	}
	if st, _, _ := f.svc.Status(ctx, tok); st != StateConfirm {
		t.Errorf("Status() after = %v, want StateConfirm (not burnt)", st)
	}
}

// TestResendWithoutOutboxCountsNothing: a gateway that cannot send mail
// does not eat the customer's allowance.
func TestResendWithoutOutboxCountsNothing(t *testing.T) {
	f := newFixture(t, Config{ResendPerAccount: 1})
	ctx := context.Background()
	from := Requester{Addr: netip.MustParseAddr("192.0.2.7")}
	outbox := f.svc.d.Outbox
	f.svc.d.Outbox = nil
	for range 3 {
		if err := f.svc.Resend(ctx, "key:shop", "42", "ann@example.com", from); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Resend() without outbox = %v, want ErrUnavailable", err)
		}
	}
	f.svc.d.Outbox = outbox
	if err := f.svc.Resend(ctx, "key:shop", "42", "ann@example.com", from); err != nil {
		t.Errorf("Resend() with the outbox back = %v", err)
	}
}
