package kyc

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
	"github.com/vpsgate/gateway/internal/mail"
)

// The relay moves the case workflow's pending work (events, audit
// entries, order changes, mails) to where it goes. Every process runs
// one; they share the stream through a consumer group, an entry is
// deleted only after delivery, and entries a dead process held are taken
// over after claimAfter: at least once, and every sink is idempotent
// (audit entry ids, mail ids, the orders' transitions; events carry the
// case and its version for consumers to de-duplicate).

const (
	relayGroup = "relay"
	relayBatch = 100
	claimAfter = 30 * time.Second
)

// MailTemplate is the resubmission mail's template.
const MailTemplate = "kyc_resubmission"

// RelayOnce delivers what is pending now and says how many entries it
// delivered.
func (s *Service) RelayOnce(ctx context.Context) (int, error) {
	rdb, key := s.d.Redis, s.pendingKey()
	if err := rdb.XGroupCreateMkStream(ctx, key, relayGroup, "0").Err(); err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return 0, fmt.Errorf("creating the kyc relay group: %w", err)
	}
	var msgs []redis.XMessage
	own, err := s.readGroup(ctx, "0")
	if err != nil {
		return 0, err
	}
	msgs = append(msgs, own...)
	claimed, _, err := rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: key, Group: relayGroup, Consumer: s.d.Consumer, MinIdle: s.claimIdle, Start: "0-0", Count: relayBatch,
	}).Result()
	if err != nil {
		return 0, fmt.Errorf("claiming idle kyc entries: %w", err)
	}
	msgs = append(msgs, claimed...)
	fresh, err := s.readGroup(ctx, ">")
	if err != nil {
		return 0, err
	}
	msgs = append(msgs, fresh...)
	var (
		done []string
		errs []error
	)
	for _, m := range msgs {
		if len(m.Values) == 0 {
			done = append(done, m.ID)
			continue
		}
		if err := s.deliver(ctx, m); err != nil {
			errs = append(errs, fmt.Errorf("kyc entry %s: %w", m.ID, err))
			continue
		}
		done = append(done, m.ID)
	}
	if len(done) > 0 {
		pipe := rdb.TxPipeline()
		pipe.XAck(ctx, key, relayGroup, done...)
		pipe.XDel(ctx, key, done...)
		if _, err := pipe.Exec(ctx); err != nil {
			errs = append(errs, fmt.Errorf("acknowledging kyc entries: %w", err))
		}
	}
	return len(done), errors.Join(errs...)
}

func (s *Service) readGroup(ctx context.Context, from string) ([]redis.XMessage, error) {
	res, err := s.d.Redis.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: relayGroup, Consumer: s.d.Consumer, Streams: []string{s.pendingKey(), from}, Count: relayBatch, Block: -1,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading kyc entries: %w", err)
	}
	var out []redis.XMessage
	for _, st := range res {
		out = append(out, st.Messages...)
	}
	return out, nil
}

func (s *Service) deliver(ctx context.Context, m redis.XMessage) error {
	kind, _ := m.Values["kind"].(string)
	body, _ := m.Values["body"].(string)
	poison := func(err error) error {
		s.d.Logger.ErrorContext(ctx, "dropping undeliverable kyc entry", "id", m.ID, "kind", kind, "error", err)
		return nil
	}
	switch kind {
	case kindEvent:
		var e eventWork
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			return poison(err)
		}
		if _, err := s.d.Events.Append(ctx, events.Event{Type: e.Type, Time: e.Time, Data: e.Data}); err != nil {
			return fmt.Errorf("publishing %s: %w", e.Type, err)
		}
	case kindAudit:
		var e AuditEntry
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			return poison(err)
		}
		if err := s.d.Audit.Append(ctx, e); err != nil {
			return fmt.Errorf("appending audit entry %s: %w", e.ID, err)
		}
	case kindSync:
		var op syncOp
		if err := json.Unmarshal([]byte(body), &op); err != nil {
			return poison(err)
		}
		return s.deliverSync(ctx, op)
	case kindMail:
		var mw mailWork
		if err := json.Unmarshal([]byte(body), &mw); err != nil {
			return poison(err)
		}
		if s.d.Mail == nil || s.d.Templates == nil {
			s.d.Logger.WarnContext(ctx, "kyc: no mail configured; the resubmission link was returned to the officer only")
			return nil
		}
		subject, text, html, err := s.d.Templates.Render(MailTemplate, mail.KYCResubmission{Link: mw.Link, Reason: mw.Reason, Expires: mw.TTL})
		if err != nil {
			return poison(err)
		}
		if err := s.d.Mail.Enqueue(ctx, mail.Message{ID: mw.ID, To: mw.To, Subject: subject, Text: text, HTML: html}); err != nil {
			return fmt.Errorf("queueing the resubmission mail: %w", err)
		}
	default:
		return poison(fmt.Errorf("unknown kind %q", kind))
	}
	return nil
}

// RunRelay relays until ctx ends, every interval.
func (s *Service) RunRelay(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.RelayOnce(ctx); err != nil && ctx.Err() == nil {
			s.d.Logger.LogAttrs(ctx, slog.LevelError, "relaying kyc work", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
