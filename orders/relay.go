package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
)

// EventAppender is the shared outbox stream (internal/events's *Outbox).
type EventAppender interface {
	Append(ctx context.Context, e events.Event) (string, error)
}

// verificationMailer queues the verification mail (part V of issue 8): a
// durable outbox, at least once, never twice after success for one ref.
type verificationMailer interface {
	SendVerification(ctx context.Context, owner, accountID, email, ref string) error
}

// RelayDeps are the relay's sinks.
type RelayDeps struct {
	// Outbox is required. An outbox with Key, MaxLen and Fields
	// (*events.Outbox) must be on the orders service's Redis: the relay
	// pipelines its appends there.
	Outbox EventAppender
	// Audit is the audit log; nil writes each entry to the log as an
	// "audit" line (until the audit log is wired).
	Audit AuditLog
	// Mailer requests verification mails; nil: none is sent (the
	// answer's verify_email link still works).
	Mailer verificationMailer
	// KYCMailer queues the kyc_request mail of a new order waiting on
	// KYC (firstorder.go); nil: none is sent (links.kyc still works).
	KYCMailer kycMailer
	Logger    *slog.Logger
	// Consumer names this process in the consumer group (unique per
	// process: host and pid).
	Consumer string
	// ClaimAfter is how long an entry a consumer read stays its own
	// before another process takes it over (the first consumer died):
	// default 30s.
	ClaimAfter time.Duration
}

// Relay moves the pending work of every shard (events, audit entries,
// verification mail requests, account marks) to where it goes. Every
// gateway process runs one; they share each shard's stream through a Redis
// consumer group, so each entry is handled by one process at a time, and
// an entry is deleted only after it was delivered: a process killed
// between the two leaves the entry pending, and another process (or the
// same one, restarted) takes it over after ClaimAfter. Delivery is at
// least once; the audit log and the mail outbox are idempotent by the
// entry's id and ref, and event consumers de-duplicate by order and type.
type Relay struct {
	s   *Service
	d   RelayDeps
	log *slog.Logger
	// grouped marks the shards whose consumer group this relay has
	// made sure of; each shard's goroutine touches its own element only,
	// and one RunOnce runs at a time.
	grouped [Shards]bool
	// batch is set when the outbox takes a pipeline of appends.
	batch batchOutbox
	// busy says the last RunOnce read a full batch from some shard.
	busy bool
	// maintained is when RunOnce last took over idle entries and re-read
	// its own undelivered ones: every ClaimAfter/2, not every pass, so
	// that a busy relay's passes cost one read per shard.
	maintained time.Time
}

// relayGroup is the consumer group of the pending streams.
const relayGroup = "relay"

// relayBatch bounds the entries one read takes from one shard.
const relayBatch = 100

// NewRelay returns the relay of s's pending streams.
func (s *Service) NewRelay(d RelayDeps) (*Relay, error) {
	if d.Outbox == nil {
		return nil, errors.New("building the relay: no event outbox")
	}
	if d.Consumer == "" {
		return nil, errors.New("building the relay: no consumer name")
	}
	if d.ClaimAfter <= 0 {
		d.ClaimAfter = 30 * time.Second
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if d.Mailer == nil {
		log.Warn("no verification mailer: held orders get their verify_email link, but no mail is sent")
	}
	rl := &Relay{s: s, d: d, log: log}
	if b, ok := d.Outbox.(batchOutbox); ok {
		rl.batch = b
	}
	return rl, nil
}

// Run relays until ctx ends: at once again while there is work, else
// after interval.
func (r *Relay) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		_, err := r.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.LogAttrs(ctx, slog.LevelError, "relaying pending order work", slog.String("error", err.Error()))
		}
		if r.busy && err == nil && ctx.Err() == nil {
			continue // a shard had a full batch: do not let the streams grow
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce relays what is pending now in every shard, the shards in
// parallel: this consumer's own unacknowledged entries, entries of
// consumers idle for ClaimAfter, and new entries. It returns how many it
// delivered.
func (r *Relay) RunOnce(ctx context.Context) (int, error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		n    int
		busy bool
		errs []error
	)
	maintain := time.Since(r.maintained) >= r.d.ClaimAfter/2
	if maintain {
		r.maintained = time.Now()
	}
	for sh := range Shards {
		wg.Go(func() {
			m, full, err := r.shard(ctx, sh, maintain)
			mu.Lock()
			defer mu.Unlock()
			n += m
			busy = busy || full
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	r.busy = busy
	return n, errors.Join(errs...)
}

// shard relays one shard's entries: new ones, and with maintain this
// consumer's undelivered ones and those a dead consumer left idle. full
// says it read a full batch of new entries.
func (r *Relay) shard(ctx context.Context, sh int, maintain bool) (n int, full bool, err error) {
	rdb := r.s.rdb
	key := r.s.pendingKey(sh)
	if !r.grouped[sh] {
		err := rdb.XGroupCreateMkStream(ctx, key, relayGroup, "0").Err()
		if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			return 0, false, fmt.Errorf("creating relay group on %s: %w", key, err)
		}
		r.grouped[sh] = true
	}
	var msgs []redis.XMessage
	if maintain {
		// Own entries read before and not delivered (a failed sink).
		own, err := r.read(ctx, key, "0")
		if err != nil {
			if strings.Contains(err.Error(), "NOGROUP") {
				// The stream was deleted (by hand, or a flush): make
				// the group again on the next pass.
				r.grouped[sh] = false
			}
			return 0, false, err
		}
		msgs = append(msgs, own...)
		// Entries of a consumer that died holding them.
		claimed, _, err := rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: key, Group: relayGroup, Consumer: r.d.Consumer, MinIdle: r.d.ClaimAfter, Start: "0-0", Count: relayBatch,
		}).Result()
		if err != nil {
			return 0, false, fmt.Errorf("claiming idle entries of %s: %w", key, err)
		}
		msgs = append(msgs, claimed...)
	}
	fresh, err := r.read(ctx, key, ">")
	if err != nil {
		if strings.Contains(err.Error(), "NOGROUP") {
			r.grouped[sh] = false
		}
		return 0, false, err
	}
	full = len(fresh) == relayBatch
	msgs = append(msgs, fresh...)

	done, errs := r.publishBatch(ctx, msgs)
	audited, batched := r.auditBatch(ctx, msgs)
	done = append(done, audited...)
	indexed, ierrs := r.accountBatch(ctx, key, msgs)
	done = append(done, indexed...)
	errs = append(errs, ierrs...)
	for _, m := range msgs {
		if len(m.Values) == 0 {
			continue // deleted meanwhile
		}
		switch k, _ := m.Values["kind"].(string); {
		case k == kindEvent && r.batch != nil:
			continue // published by publishBatch
		case k == kindAudit && batched:
			continue // appended by auditBatch
		case k == kindAccount || k == kindAccountIndex:
			continue // delivered by accountBatch
		}
		if err := r.deliver(ctx, m); err != nil {
			// Stays pending: retried on the next pass.
			errs = append(errs, fmt.Errorf("entry %s of %s: %w", m.ID, key, err))
			continue
		}
		done = append(done, m.ID)
	}
	if len(done) == 0 {
		return 0, full, errors.Join(errs...)
	}
	// Acknowledged and deleted together, in one round trip for the batch;
	// a failure here redelivers the batch (at least once).
	pipe := rdb.TxPipeline()
	pipe.XAck(ctx, key, relayGroup, done...)
	pipe.XDel(ctx, key, done...)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, full, errors.Join(append(errs, fmt.Errorf("acknowledging %d entries of %s: %w", len(done), key, err))...)
	}
	return len(done), full, errors.Join(errs...)
}

func (r *Relay) read(ctx context.Context, key, from string) ([]redis.XMessage, error) {
	res, err := r.s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: relayGroup, Consumer: r.d.Consumer, Streams: []string{key, from}, Count: relayBatch, Block: -1,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	var out []redis.XMessage
	for _, st := range res {
		out = append(out, st.Messages...)
	}
	return out, nil
}

// deliver hands one pending entry to its sink.
func (r *Relay) deliver(ctx context.Context, m redis.XMessage) error {
	kind, _ := m.Values["kind"].(string)
	body, _ := m.Values["body"].(string)
	switch kind {
	case kindEvent:
		var e pendingEvent
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			return r.poison(ctx, m, err)
		}
		if _, err := r.d.Outbox.Append(ctx, events.Event{Type: e.Type, Time: e.Time, Data: e.Data}); err != nil {
			return fmt.Errorf("publishing %s: %w", e.Type, err)
		}
	case kindAudit:
		var e AuditEntry
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			return r.poison(ctx, m, err)
		}
		if r.d.Audit == nil {
			r.log.LogAttrs(ctx, slog.LevelInfo, "audit", slog.String("id", e.ID), slog.String("actor", e.Actor),
				slog.String("action", e.Action), slog.String("order", e.Order), slog.String("account", e.Account),
				slog.String("after", string(e.After)))
			return nil
		}
		if err := r.d.Audit.Append(ctx, e); err != nil {
			return fmt.Errorf("appending audit entry %s: %w", e.ID, err)
		}
	case kindMail:
		var pm pendingMail
		if err := json.Unmarshal([]byte(body), &pm); err != nil {
			return r.poison(ctx, m, err)
		}
		if r.d.Mailer == nil {
			return nil // said once, by NewRelay
		}
		if err := r.d.Mailer.SendVerification(ctx, string(pm.Owner), pm.Account, pm.Email, pm.Ref); err != nil {
			return fmt.Errorf("requesting the verification mail of %s: %w", pm.Ref, err)
		}
	case kindKYCMail:
		var pm pendingKYCMail
		if err := json.Unmarshal([]byte(body), &pm); err != nil {
			return r.poison(ctx, m, err)
		}
		return r.deliverKYCMail(ctx, pm)
	default:
		return r.poison(ctx, m, fmt.Errorf("unknown kind %q", kind))
	}
	return nil
}

// accountBatch delivers the batch's account entries (kindAccount,
// kindAccountIndex) in one round trip (deliverAccounts) and returns the ids
// delivered; an entry that failed stays pending and is retried.
func (r *Relay) accountBatch(ctx context.Context, key string, msgs []redis.XMessage) ([]string, []error) {
	var ids []string
	var ps []pendingAccount
	var done []string
	for _, m := range msgs {
		kind, _ := m.Values["kind"].(string)
		if kind != kindAccount && kind != kindAccountIndex {
			continue
		}
		body, _ := m.Values["body"].(string)
		var pa pendingAccount
		if err := json.Unmarshal([]byte(body), &pa); err != nil {
			_ = r.poison(ctx, m, err)
			done = append(done, m.ID) // dropped: retrying cannot help
			continue
		}
		pa.Rejected = kind == kindAccountIndex
		ids = append(ids, m.ID)
		ps = append(ps, pa)
	}
	var errs []error
	for i, err := range r.s.deliverAccounts(ctx, ps) {
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %s of %s: %w", ids[i], key, err))
			continue
		}
		done = append(done, ids[i])
	}
	return done, errs
}

// poison logs an entry nobody can deliver (not written by this code) and
// lets it go: retrying cannot help, and it would block nothing else.
func (r *Relay) poison(ctx context.Context, m redis.XMessage, err error) error {
	r.log.LogAttrs(ctx, slog.LevelError, "dropping undeliverable pending entry",
		slog.String("id", m.ID), slog.Any("values", m.Values), slog.String("error", err.Error()))
	return nil
}

// batchOutbox is an outbox whose appends the relay can pipeline
// (internal/events's *Outbox): one round trip for a batch of events
// rather than one per event.
type batchOutbox interface {
	Key() string
	MaxLen() int64
	Fields(e events.Event) ([]string, error)
}

// publishBatch appends the event entries of msgs to the outbox in one
// pipeline, when the outbox allows it, and returns the ids of those
// published.
func (r *Relay) publishBatch(ctx context.Context, msgs []redis.XMessage) ([]string, []error) {
	if r.batch == nil {
		return nil, nil
	}
	var (
		ids  []string
		cmds []*redis.StringCmd
		errs []error
		done []string
	)
	pipe := r.s.rdb.Pipeline()
	for _, m := range msgs {
		if k, _ := m.Values["kind"].(string); k != kindEvent {
			continue
		}
		body, _ := m.Values["body"].(string)
		var e pendingEvent
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			done = append(done, m.ID) // r.poison logs it: never deliverable
			_ = r.poison(ctx, m, err)
			continue
		}
		fields, err := r.batch.Fields(events.Event{Type: e.Type, Time: e.Time, Data: e.Data})
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %s: %w", m.ID, err))
			continue
		}
		values := make([]any, len(fields))
		for i, f := range fields {
			values[i] = f
		}
		args := &redis.XAddArgs{Stream: r.batch.Key(), Values: values}
		if n := r.batch.MaxLen(); n > 0 {
			args.MaxLen, args.Approx = n, true
		}
		ids = append(ids, m.ID)
		cmds = append(cmds, pipe.XAdd(ctx, args))
	}
	if len(cmds) == 0 {
		return done, errs
	}
	// Each command's error is read below: one failure leaves only its
	// entry pending.
	_, _ = pipe.Exec(ctx)
	for i, c := range cmds {
		if err := c.Err(); err != nil {
			errs = append(errs, fmt.Errorf("publishing entry %s: %w", ids[i], err))
			continue
		}
		done = append(done, ids[i])
	}
	return done, errs
}

// auditBatch appends the audit entries of msgs to the audit log in one
// batch, when the log takes batches, and returns the ids of those
// appended (with any undecodable ones, which r.poison logs) and whether
// it did. When the batch fails, for example on one entry the log refuses,
// it appends nothing and says so: deliver then appends the entries one by
// one, so that only a bad entry stays pending.
func (r *Relay) auditBatch(ctx context.Context, msgs []redis.XMessage) ([]string, bool) {
	batcher, ok := r.d.Audit.(auditBatcher)
	if !ok {
		return nil, false
	}
	var (
		ids []string
		es  []AuditEntry
	)
	for _, m := range msgs {
		if k, _ := m.Values["kind"].(string); k != kindAudit {
			continue
		}
		body, _ := m.Values["body"].(string)
		var e AuditEntry
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			_ = r.poison(ctx, m, err) // never deliverable
		} else {
			es = append(es, e)
		}
		ids = append(ids, m.ID)
	}
	if len(es) == 0 {
		return ids, true
	}
	if err := batcher.AppendBatch(ctx, es); err != nil {
		r.log.LogAttrs(ctx, slog.LevelWarn, "audit batch failed; appending its entries one by one",
			slog.Int("entries", len(es)), slog.String("error", err.Error()))
		return nil, false
	}
	return ids, true
}
