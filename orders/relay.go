package orders

import (
	"context"
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
	// legacyGrouped is grouped for the shards' legacy streams.
	legacyGrouped [Shards]bool
	// batch is set when the outbox takes a pipeline of appends.
	batch batchOutbox
	// busy says the last RunOnce read a full batch from some shard.
	busy bool
	// maintained is when RunOnce last took over idle entries and re-read
	// its own undelivered ones: every ClaimAfter/2, not every pass, so
	// that a busy relay's passes cost one read per shard.
	maintained time.Time
	// idle says the last RunOnce delivered nothing and failed nowhere:
	// the next one glances at every shard in one read first.
	idle bool
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
	if r.idle && !maintain {
		if n, ok, err := r.glance(ctx); ok {
			r.idle = n == 0 && err == nil
			return n, err
		}
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
	r.idle = n == 0 && len(errs) == 0
	return n, errors.Join(errs...)
}

// glance reads the new entries of every shard in one XREADGROUP and
// relays them, so that an idle relay costs one command a pass rather than
// one per shard. ok is false when it cannot (on Cluster, where the shards
// are in different slots; before every shard's group is made; when the
// read fails, for example on a stream deleted by hand): RunOnce then reads
// shard by shard.
func (r *Relay) glance(ctx context.Context) (n int, ok bool, err error) {
	if _, cluster := r.s.rdb.(*redis.ClusterClient); cluster {
		return 0, false, nil
	}
	streams := make([]string, 2*Shards)
	for sh := range Shards {
		if !r.grouped[sh] {
			return 0, false, nil
		}
		streams[sh], streams[Shards+sh] = r.s.pendingKey(sh), ">"
	}
	res, err := r.s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: relayGroup, Consumer: r.d.Consumer, Streams: streams, Count: relayBatch, Block: -1,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return 0, true, nil
	}
	if err != nil {
		return 0, false, nil
	}
	var errs []error
	busy := false
	for _, st := range res {
		busy = busy || len(st.Messages) == relayBatch
		m, err := r.relay(ctx, st.Stream, st.Messages)
		n += m
		if err != nil {
			errs = append(errs, err)
		}
	}
	r.busy = busy
	return n, true, errors.Join(errs...)
}

// shard relays one shard's entries: new ones, and with maintain this
// consumer's undelivered ones and those a dead consumer left idle, and
// what older gateways left in the shard's legacy stream. full says it read
// a full batch of new entries.
func (r *Relay) shard(ctx context.Context, sh int, maintain bool) (n int, full bool, err error) {
	n, full, err = r.stream(ctx, r.s.pendingKey(sh), &r.grouped[sh], true, maintain)
	if maintain {
		m, lerr := r.legacy(ctx, sh)
		n += m
		err = errors.Join(err, lerr)
	}
	return n, full, err
}

// legacyBatches bounds the batches one maintenance pass takes from a
// shard's legacy stream: a backlog left by older gateways drains at up to
// legacyBatches*relayBatch entries a shard every ClaimAfter/2.
const legacyBatches = 10

// legacy relays the entries older gateways (before the one-entry format)
// appended to shard sh's legacy stream: they are still being written while
// a rolling upgrade runs, and older relays read them too (the consumer
// group is shared). Reading it only in maintenance passes keeps the busy
// path at one stream a shard; an entry waits there for ClaimAfter/2 at
// most. Once no older gateway runs, the stream stays empty.
func (r *Relay) legacy(ctx context.Context, sh int) (int, error) {
	key := r.s.legacyPendingKey(sh)
	total := 0
	for i := range legacyBatches {
		n, full, err := r.stream(ctx, key, &r.legacyGrouped[sh], false, i == 0)
		total += n
		if err != nil || !full {
			return total, err
		}
	}
	return total, nil
}

// stream relays the entries of one stream: new ones, and with maintain
// this consumer's undelivered ones and those a dead consumer left idle.
// *grouped says the consumer group was made; mkstream makes the stream
// too, else a stream that does not exist has nothing to relay. full says
// it read a full batch of new entries.
func (r *Relay) stream(ctx context.Context, key string, grouped *bool, mkstream, maintain bool) (n int, full bool, err error) {
	rdb := r.s.rdb
	if !*grouped {
		var err error
		if mkstream {
			err = rdb.XGroupCreateMkStream(ctx, key, relayGroup, "0").Err()
		} else {
			err = rdb.XGroupCreate(ctx, key, relayGroup, "0").Err()
			if err != nil && strings.Contains(err.Error(), "requires the key to exist") {
				return 0, false, nil
			}
		}
		if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			return 0, false, fmt.Errorf("creating relay group on %s: %w", key, err)
		}
		*grouped = true
	}
	var msgs []redis.XMessage
	if maintain {
		// Own entries read before and not delivered (a failed sink).
		own, err := r.read(ctx, key, "0")
		if err != nil {
			if strings.Contains(err.Error(), "NOGROUP") {
				// The stream was deleted (by hand, or a flush): make
				// the group again on the next pass.
				*grouped = false
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
			*grouped = false
		}
		return 0, false, err
	}
	full = len(fresh) == relayBatch
	msgs = append(msgs, fresh...)
	n, err = r.relay(ctx, key, msgs)
	return n, full, err
}

// relay delivers msgs, read from the pending stream key, and acknowledges
// and deletes those delivered; it returns how many.
func (r *Relay) relay(ctx context.Context, key string, msgs []redis.XMessage) (int, error) {
	done, errs := r.deliverBatch(ctx, key, r.decode(ctx, msgs))
	if len(done) == 0 {
		return 0, errors.Join(errs...)
	}
	// Acknowledged and deleted together, in one round trip for the batch;
	// a failure here redelivers the batch (at least once).
	pipe := r.s.rdb.TxPipeline()
	pipe.XAck(ctx, key, relayGroup, done...)
	pipe.XDel(ctx, key, done...)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, errors.Join(append(errs, fmt.Errorf("acknowledging %d entries of %s: %w", len(done), key, err))...)
	}
	return len(done), errors.Join(errs...)
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
	if len(res) == 0 {
		return nil, nil
	}
	return res[0].Messages, nil // one stream asked, one answered
}

// decoded is a pending entry's id and its body, decoded.
type decoded[T any] struct {
	id string
	v  T
}

// shardBatch is one read of a shard, every entry decoded once and its
// work sorted by sink.
type shardBatch struct {
	// ids are the entries decoded, in the order read; an entry's work may
	// go to several sinks (kindWork).
	ids      []string
	events   []decoded[pendingEvent]
	audits   []decoded[AuditEntry]
	accounts []decoded[pendingAccount]
	mails    []decoded[pendingMail]
	kycMails []decoded[pendingKYCMail]
	// dropped are the entries nobody can deliver (see poison): they are
	// acknowledged with the delivered ones.
	dropped []string
}

// decode sorts the work of msgs by sink, decoding each entry once.
func (r *Relay) decode(ctx context.Context, msgs []redis.XMessage) shardBatch {
	var b shardBatch
	for _, m := range msgs {
		if len(m.Values) == 0 {
			continue // deleted meanwhile
		}
		kind, _ := m.Values[fieldKind].(string)
		var err error
		if kind == kindWork {
			err = b.decodeWork(m.ID, m.Values)
		} else {
			body, _ := m.Values["body"].(string)
			err = b.decodeOld(m.ID, kind, body)
		}
		if err != nil {
			r.poison(ctx, m, err)
			b.dropped = append(b.dropped, m.ID) // retrying cannot help
			continue
		}
		b.ids = append(b.ids, m.ID)
	}
	return b
}

// deliverBatch hands b's work to its sinks, each sink's in one round trip
// where it takes batches, and returns the ids of the entries delivered
// (with the dropped ones). An entry is delivered when all its work is: if
// one sink fails, the entry stays pending and all its work is delivered
// again, to the sinks that took it too. That is safe because every sink
// is idempotent: the audit log by entry id, the mailers by ref, the
// account script (an index and a mark set again), and event consumers
// de-duplicate by order and type (at least once, as ever).
func (r *Relay) deliverBatch(ctx context.Context, key string, b shardBatch) ([]string, []error) {
	var (
		errs   []error
		failed map[string]bool
	)
	fail := func(id string, err error) {
		errs = append(errs, fmt.Errorf("entry %s of %s: %w", id, key, err))
		if failed == nil {
			failed = make(map[string]bool)
		}
		failed[id] = true
	}

	if r.batch != nil {
		r.publishBatch(ctx, b.events, fail)
	} else {
		for _, e := range b.events {
			if _, err := r.d.Outbox.Append(ctx, outboxEvent(e.v)); err != nil {
				fail(e.id, fmt.Errorf("publishing %s: %w", e.v.Type, err))
			}
		}
	}

	if !r.auditBatch(ctx, b.audits) {
		for _, e := range b.audits {
			if err := r.appendAudit(ctx, e.v); err != nil {
				fail(e.id, err)
			}
		}
	}

	ps := make([]pendingAccount, len(b.accounts))
	for i, a := range b.accounts {
		ps[i] = a.v
	}
	for i, err := range r.s.deliverAccounts(ctx, ps) {
		if err != nil {
			fail(b.accounts[i].id, err)
		}
	}

	for _, m := range b.mails {
		if r.d.Mailer == nil {
			continue // said once, by NewRelay
		}
		if err := r.d.Mailer.SendVerification(ctx, string(m.v.Owner), m.v.Account, m.v.Email, m.v.Ref); err != nil {
			fail(m.id, fmt.Errorf("requesting the verification mail of %s: %w", m.v.Ref, err))
		}
	}
	for _, m := range b.kycMails {
		if err := r.deliverKYCMail(ctx, m.v); err != nil {
			fail(m.id, err)
		}
	}

	done := append(make([]string, 0, len(b.dropped)+len(b.ids)), b.dropped...)
	for _, id := range b.ids {
		if !failed[id] {
			done = append(done, id)
		}
	}
	return done, errs
}

// appendAudit appends one audit entry, or logs it as an "audit" line when
// no audit log is wired.
func (r *Relay) appendAudit(ctx context.Context, e AuditEntry) error {
	if r.d.Audit == nil {
		r.log.LogAttrs(ctx, slog.LevelInfo, "audit", slog.String("id", e.ID), slog.String("actor", e.Actor),
			slog.String("action", e.Action), slog.String("order", e.Order), slog.String("account", e.Account),
			slog.String("after", string(e.After)))
		return nil
	}
	if err := r.d.Audit.Append(ctx, e); err != nil {
		return fmt.Errorf("appending audit entry %s: %w", e.ID, err)
	}
	return nil
}

// poison logs an entry nobody can deliver (not written by this code); the
// relay lets it go: retrying cannot help, and it would block nothing else.
func (r *Relay) poison(ctx context.Context, m redis.XMessage, err error) {
	r.log.LogAttrs(ctx, slog.LevelError, "dropping undeliverable pending entry",
		slog.String("id", m.ID), slog.Any("values", m.Values), slog.String("error", err.Error()))
}

// batchOutbox is an outbox whose appends the relay can pipeline
// (internal/events's *Outbox): one round trip for a batch of events
// rather than one per event.
type batchOutbox interface {
	Key() string
	MaxLen() int64
	Fields(e events.Event) ([]string, error)
}

// outboxEvent is e for the outbox. Its data is json.Marshal's output,
// byte for byte (the commit encoded it, the pending stream carried it),
// so the outbox need not scan it again (events.Marshaled).
func outboxEvent(e pendingEvent) events.Event {
	return events.Event{Type: e.Type, Time: e.Time, Data: events.Marshaled(e.Data)}
}

// publishBatch appends evs to the outbox in one pipeline; fail gets
// those not published.
func (r *Relay) publishBatch(ctx context.Context, evs []decoded[pendingEvent], fail func(string, error)) {
	if len(evs) == 0 {
		return
	}
	ids := make([]string, 0, len(evs))
	cmds := make([]*redis.StringCmd, 0, len(evs))
	pipe := r.s.rdb.Pipeline()
	for _, e := range evs {
		fields, err := r.batch.Fields(outboxEvent(e.v))
		if err != nil {
			fail(e.id, err)
			continue
		}
		// go-redis takes the []string as it is: no []any copy.
		args := &redis.XAddArgs{Stream: r.batch.Key(), Values: fields}
		if n := r.batch.MaxLen(); n > 0 {
			args.MaxLen, args.Approx = n, true
		}
		ids = append(ids, e.id)
		cmds = append(cmds, pipe.XAdd(ctx, args))
	}
	if len(cmds) == 0 {
		return
	}
	// Each command's error is read below: one failure leaves only its
	// entry pending.
	_, _ = pipe.Exec(ctx)
	for i, c := range cmds {
		if err := c.Err(); err != nil {
			fail(ids[i], fmt.Errorf("publishing: %w", err))
		}
	}
}

// auditBatch appends es to the audit log in one batch, when the log takes
// batches, and says whether it did. When the batch fails, for example on
// one entry the log refuses, it appends nothing and says so: the caller
// then appends the entries one by one, so that only a bad entry stays
// pending.
func (r *Relay) auditBatch(ctx context.Context, es []decoded[AuditEntry]) bool {
	batcher, ok := r.d.Audit.(auditBatcher)
	if !ok {
		return false
	}
	if len(es) == 0 {
		return true
	}
	batch := make([]AuditEntry, len(es))
	for i, e := range es {
		batch[i] = e.v
	}
	if err := batcher.AppendBatch(ctx, batch); err != nil {
		r.log.LogAttrs(ctx, slog.LevelWarn, "audit batch failed; appending its entries one by one",
			slog.Int("entries", len(batch)), slog.String("error", err.Error()))
		return false
	}
	return true
}
