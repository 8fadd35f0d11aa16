package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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
	Outbox EventAppender // required
	// Audit is the audit log; nil writes each entry to the log as an
	// "audit" line (until the audit log is wired).
	Audit AuditLog
	// Mailer requests verification mails; nil: none is sent (the
	// answer's verify_email link still works).
	Mailer verificationMailer
	Logger *slog.Logger
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
	return &Relay{s: s, d: d, log: log}, nil
}

// Run relays until ctx ends, polling every interval.
func (r *Relay) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.log.LogAttrs(ctx, slog.LevelError, "relaying pending order work", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce relays what is pending now in every shard: this consumer's own
// unacknowledged entries, entries of consumers idle for ClaimAfter, and new
// entries. It returns how many it delivered.
func (r *Relay) RunOnce(ctx context.Context) (int, error) {
	n := 0
	var errs []error
	for sh := range Shards {
		m, err := r.shard(ctx, r.s.pendingKey(sh))
		n += m
		if err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

func (r *Relay) shard(ctx context.Context, key string) (int, error) {
	rdb := r.s.rdb
	err := rdb.XGroupCreateMkStream(ctx, key, relayGroup, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return 0, fmt.Errorf("creating relay group on %s: %w", key, err)
	}
	var msgs []redis.XMessage
	// Own entries read before and not delivered (a failed sink).
	own, err := r.read(ctx, key, "0")
	if err != nil {
		return 0, err
	}
	msgs = append(msgs, own...)
	// Entries of a consumer that died holding them.
	claimed, _, err := rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: key, Group: relayGroup, Consumer: r.d.Consumer, MinIdle: r.d.ClaimAfter, Start: "0-0", Count: relayBatch,
	}).Result()
	if err != nil {
		return 0, fmt.Errorf("claiming idle entries of %s: %w", key, err)
	}
	msgs = append(msgs, claimed...)
	fresh, err := r.read(ctx, key, ">")
	if err != nil {
		return 0, err
	}
	msgs = append(msgs, fresh...)

	n := 0
	var errs []error
	for _, m := range msgs {
		if len(m.Values) == 0 {
			continue // deleted meanwhile
		}
		if err := r.deliver(ctx, m); err != nil {
			// Stays pending: retried on the next pass.
			errs = append(errs, fmt.Errorf("entry %s of %s: %w", m.ID, key, err))
			continue
		}
		pipe := rdb.TxPipeline()
		pipe.XAck(ctx, key, relayGroup, m.ID)
		pipe.XDel(ctx, key, m.ID)
		if _, err := pipe.Exec(ctx); err != nil {
			errs = append(errs, fmt.Errorf("acknowledging %s of %s: %w", m.ID, key, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
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
			r.log.LogAttrs(ctx, slog.LevelWarn, "no verification mailer: mail not sent", slog.String("order", pm.Ref))
			return nil
		}
		if err := r.d.Mailer.SendVerification(ctx, string(pm.Owner), pm.Account, pm.Email, pm.Ref); err != nil {
			return fmt.Errorf("requesting the verification mail of %s: %w", pm.Ref, err)
		}
	case kindAccount:
		var pa pendingAccount
		if err := json.Unmarshal([]byte(body), &pa); err != nil {
			return r.poison(ctx, m, err)
		}
		if err := r.s.rdb.HSet(ctx, r.s.accountKey(accountRef(pa.Owner, pa.Account)), "ordered", "1").Err(); err != nil {
			return fmt.Errorf("marking account %s: %w", pa.Account, err)
		}
	default:
		return r.poison(ctx, m, fmt.Errorf("unknown kind %q", kind))
	}
	return nil
}

// poison logs an entry nobody can deliver (not written by this code) and
// lets it go: retrying cannot help, and it would block nothing else.
func (r *Relay) poison(ctx context.Context, m redis.XMessage, err error) error {
	r.log.LogAttrs(ctx, slog.LevelError, "dropping undeliverable pending entry",
		slog.String("id", m.ID), slog.Any("values", m.Values), slog.String("error", err.Error()))
	return nil
}
