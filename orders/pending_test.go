package orders

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/testenv"
)

// A change's work goes through Redis as one entry and comes back out of
// the relay's decoding as it went in, the documents byte for byte (not
// compacted, re-encoded or HTML-escaped again).
func TestWorkEntryRoundTrip(t *testing.T) {
	t.Parallel()
	rdb := testenv.RedisClient(t)
	ctx := t.Context()
	now := time.Date(2026, 11, 29, 9, 0, 0, 123, time.UTC)
	// Documents as json.Marshal writes them: compact, <, > and & escaped.
	data := json.RawMessage(`{"screening_id":"scr_x","status":"held","note":"\u003cb\u003e \u0026"}`)
	before := json.RawMessage(`{"screening_id":"scr_x","status":"held"}`)
	after := json.RawMessage(`{"screening_id":"scr_x","status":"cleared","links":{"kyc":"https://shop.example/k?a=1\u0026b=2"}}`)
	work := []pending{
		{kindEvent, pendingEvent{Type: "order.cleared", Time: now, Data: data}},
		{kindEvent, pendingEvent{Type: "order.flagged_for_termination", Time: now, Data: data}},
		{kindAudit, AuditEntry{ID: "scr_x/v2", Time: now, Actor: "officer", Action: "order.reviewed", Order: "scr_x",
			Account: "key:shop/a1", Addr: "198.51.100.0", Before: before, After: after}},
		{kindAccountIndex, pendingAccount{Owner: shop, Account: "a1", Order: "scr_x", Created: now}},
		{kindAccount, pendingAccount{Owner: shop, EmailHash: "h1"}},
		{kindMail, pendingMail{Owner: shop, Account: "a1", Email: "ann@example.com", Ref: "scr_x"}},
		{kindKYCMail, pendingKYCMail{Owner: shop, OrderID: "o1", Email: "ann@example.com", Link: "https://k", Ref: "scr_x"}},
	}
	fields, err := workFields(work)
	if err != nil {
		t.Fatal(err)
	}
	key := testenv.KeyPrefix(t) + "pending"
	id, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: fields}).Result()
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := rdb.XRange(ctx, key, "-", "+").Result()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("XRANGE = %v, %v; want the one entry", msgs, err)
	}
	var got shardBatch
	if err := got.decodeWork(msgs[0].ID, msgs[0].Values); err != nil {
		t.Fatal(err)
	}
	want := shardBatch{
		events: []decoded[pendingEvent]{
			{id, pendingEvent{Type: "order.cleared", Time: now, Data: data}},
			{id, pendingEvent{Type: "order.flagged_for_termination", Time: now, Data: data}},
		},
		audits: []decoded[AuditEntry]{{id, AuditEntry{ID: "scr_x/v2", Time: now, Actor: "officer", Action: "order.reviewed",
			Order: "scr_x", Account: "key:shop/a1", Addr: "198.51.100.0", Before: before, After: after}}},
		accounts: []decoded[pendingAccount]{
			{id, pendingAccount{Owner: shop, Account: "a1", Order: "scr_x", Created: now, Rejected: true}},
			{id, pendingAccount{Owner: shop, EmailHash: "h1"}},
		},
		mails:    []decoded[pendingMail]{{id, pendingMail{Owner: shop, Account: "a1", Email: "ann@example.com", Ref: "scr_x"}}},
		kycMails: []decoded[pendingKYCMail]{{id, pendingKYCMail{Owner: shop, OrderID: "o1", Email: "ann@example.com", Link: "https://k", Ref: "scr_x"}}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(shardBatch{}, decoded[pendingEvent]{}, decoded[AuditEntry]{},
		decoded[pendingAccount]{}, decoded[pendingMail]{}, decoded[pendingKYCMail]{})); diff != "" {
		t.Errorf("decodeWork(workFields(work)) differs (-want +got):\n%s", diff)
	}
	// The head does not carry the documents a second time.
	if head, _ := msgs[0].Values[fieldHead].(string); strings.Contains(head, "links") || strings.Contains(head, "note") {
		t.Errorf("head %s carries a document", head)
	}
}

// workFields refuses work one entry cannot carry: it would lose some.
func TestWorkFieldsRefuses(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		name string
		work []pending
	}{
		{"two audit entries", []pending{{kindAudit, AuditEntry{ID: "a"}}, {kindAudit, AuditEntry{ID: "b"}}}},
		{"events with different data", []pending{
			{kindEvent, pendingEvent{Type: "a", Time: now, Data: json.RawMessage(`{"x":1}`)}},
			{kindEvent, pendingEvent{Type: "b", Time: now, Data: json.RawMessage(`{"x":2}`)}}}},
		{"event without data", []pending{{kindEvent, pendingEvent{Type: "a", Time: now}}}},
		{"unknown work", []pending{{"mystery", struct{}{}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if f, err := workFields(tc.work); err == nil {
				t.Errorf("workFields(%s) = %q, want an error", tc.name, f)
			}
		})
	}
}

// Entries an older gateway wrote (one per piece of work, kind and body)
// may still sit in the pending streams after a rolling upgrade: the relay
// delivers them as before, and drops one it cannot decode (of either
// format).
func TestRelayDeliversOldEntries(t *testing.T) {
	t.Parallel()
	rdb := testenv.RedisClient(t)
	st := newStack(t, rdb, testenv.KeyPrefix(t), emailOnly, "p1")
	ctx := t.Context()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	after := json.RawMessage(`{"screening_id":"scr_old","status":"held"}`)
	old := []struct {
		kind string
		body any
	}{
		{kindEvent, pendingEvent{Type: "order.held", Time: now, Data: after}},
		{kindAudit, AuditEntry{ID: "scr_old/v1", Time: now, Actor: "key:shop", Action: "order.created", Order: "scr_old", After: after}},
		{kindAccount, pendingAccount{Owner: shop, Account: "a1", Order: "scr_old", Created: now, Held: true}},
		{kindAccountIndex, pendingAccount{Owner: shop, Account: "a1", Order: "scr_rej", Created: now.Add(time.Second)}},
		{kindMail, pendingMail{Owner: shop, Account: "a1", Email: "ann@example.com", Ref: "scr_old"}},
		{kindKYCMail, pendingKYCMail{Owner: shop, OrderID: "o1", Email: "ann@example.com", Link: "https://k", Ref: "scr_old"}},
		{kindAudit, "not an object"}, // undecodable: dropped
	}
	// Older gateways wrote to the shard's legacy stream; the one-entry
	// format has a stream of its own, which their relays never read.
	key, workKey := st.svc.legacyPendingKey(shardOf("scr_old")), st.svc.pendingKey(shardOf("scr_old"))
	for _, e := range old {
		body, err := json.Marshal(e.body)
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []any{"kind", e.kind, "body", body}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Undecodable entries of the new kind are dropped too.
	for _, values := range [][]any{
		{fieldKind, kindWork, fieldHead, "{"},
		{fieldKind, kindWork, fieldHead, `{"events":[{"type":"order.held","time":"2026-03-01T12:00:00Z"}]}`}, // no data
	} {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: workKey, Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	st.drain(t)

	evs := st.published(t)
	if got := eventTypes(evs, "scr_old"); !slices.Equal(got, []string{"order.held"}) {
		t.Errorf("events of scr_old = %v, want [order.held]", got)
	} else if string(evs[0].Data) != string(after) {
		t.Errorf("event data = %s, want %s", evs[0].Data, after)
	}
	if e, ok := st.audit.entries["scr_old/v1"]; !ok || string(e.After) != string(after) {
		t.Errorf("audit entry scr_old/v1 = %+v (%v), want it with after %s", e, ok, after)
	}
	if got, want := st.mailer.refs, []string{"key:shop|a1|ann@example.com|scr_old"}; !slices.Equal(got, want) {
		t.Errorf("verification mails = %q, want %q", got, want)
	}
	if got, want := st.mailer.kycRequests(), []string{"key:shop|o1|ann@example.com|https://k|scr_old"}; !slices.Equal(got, want) {
		t.Errorf("kyc mails = %q, want %q", got, want)
	}
	ref := accountRef(shop, "a1")
	if got, err := rdb.ZRange(ctx, st.svc.accountOrdersKey(ref), 0, -1).Result(); err != nil || !slices.Equal(got, []string{"scr_old", "scr_rej"}) {
		t.Errorf("orders indexed under %s = %v (%v), want [scr_old scr_rej]", ref, got, err)
	}
	// Neither the held order nor the rejected one marks the account.
	if got, err := rdb.HGet(ctx, st.svc.accountKey(ref), fieldCleared).Result(); err != redis.Nil {
		t.Errorf("account %s marked cleared (%q, %v); want not marked", ref, got, err)
	}
	for _, k := range []string{key, workKey} {
		if n, err := rdb.XLen(ctx, k).Result(); err != nil || n != 0 {
			t.Errorf("%d entries still pending in %s (%v), want none", n, k, err)
		}
	}
}

// A change's entry goes to the shard's work stream, never to the legacy
// stream an older relay reads during a rolling upgrade; a relay does not
// make the legacy stream where none exists.
func TestRelayLegacyStreamUntouched(t *testing.T) {
	t.Parallel()
	rdb := testenv.RedisClient(t)
	st := newStack(t, rdb, testenv.KeyPrefix(t), emailOnly, "p1")
	ctx := t.Context()
	res := st.submitApart(t, shop, "L-1", "l1", "l1@example.com")
	sh := shardOf(res.ScreeningID)
	if n, err := rdb.XLen(ctx, st.svc.pendingKey(sh)).Result(); err != nil || n != 1 {
		t.Fatalf("%d entries in the work stream (%v), want the order's one", n, err)
	}
	st.drain(t)
	for s := range Shards {
		if n, err := rdb.Exists(ctx, st.svc.legacyPendingKey(s)).Result(); err != nil || n != 0 {
			t.Errorf("legacy stream of shard %d exists (%d, %v), want none", s, n, err)
		}
	}
}

// failingMailer refuses verification mails while fail is set.
type failingMailer struct {
	*memMailer
	fail bool
}

func (m *failingMailer) SendVerification(ctx context.Context, owner, account, email, ref string) error {
	if m.fail {
		return context.DeadlineExceeded
	}
	return m.memMailer.SendVerification(ctx, owner, account, email, ref)
}

// When one sink of an entry fails, the whole entry stays pending and all
// its work is delivered again; the sinks that took it already are
// idempotent (the audit log by id), so it ends delivered once where it
// counts, and the failed part goes once the sink is back.
func TestRelayRedeliversEntryWhenOneSinkFails(t *testing.T) {
	t.Parallel()
	rdb := testenv.RedisClient(t)
	st := newStack(t, rdb, testenv.KeyPrefix(t), emailOnly, "p1")
	mailer := &failingMailer{memMailer: st.mailer, fail: true}
	st.relay.d.Mailer = mailer
	ctx := t.Context()
	res := st.submitApart(t, shop, "R-1", "r1", "r1@example.com")
	if res.Status != StatusHeld {
		t.Fatalf("order status %s, want held (it asks for a verification mail)", res.Status)
	}
	if _, err := st.relay.RunOnce(ctx); err == nil {
		t.Fatal("RunOnce with the mailer down: no error")
	}
	if n, err := rdb.XLen(ctx, st.svc.pendingKey(shardOf(res.ScreeningID))).Result(); err != nil || n != 1 {
		t.Fatalf("%d entries pending (%v), want the order's one entry kept", n, err)
	}
	if got := eventTypes(st.published(t), res.ScreeningID); len(got) != 1 {
		t.Errorf("events after the first pass = %v, want order.held published", got)
	}
	mailer.fail = false
	time.Sleep(st.relay.d.ClaimAfter / 2) // the relay re-reads its own undelivered entries
	st.drain(t)
	if got := len(st.mailer.refs); got != 1 {
		t.Errorf("%d verification mails, want 1", got)
	}
	if got := st.audit.actions(); !slices.Equal(got, []string{"order.created"}) {
		t.Errorf("audit actions = %v, want [order.created] once", got)
	}
	// At least once: the event went again with the entry.
	if got := eventTypes(st.published(t), res.ScreeningID); len(got) != 2 {
		t.Errorf("events after redelivery = %v, want order.held twice", got)
	}
}
