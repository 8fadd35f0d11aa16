package mail

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// DevMailMax is how many messages the development outbox keeps.
const DevMailMax = 100

// DevMail is a message kept by the development outbox.
type DevMail struct {
	ID        string    `json:"id"`
	MessageID string    `json:"message_id"`
	Time      time.Time `json:"time"`
	To        string    `json:"to"`
	Subject   string    `json:"subject"`
	Text      string    `json:"text"`
	HTML      string    `json:"html"`
}

// DevOutbox is the Sender of embedded mode (no smtp.url): it keeps the
// DevMailMax newest messages in Redis, where GET /api/v1/dev/mail lists
// them, and prints each in the log, so that a person trying the gateway
// out can follow a verification link. Mail still goes through the Outbox,
// so embedded mode runs the same queue as production.
type DevOutbox struct {
	rdb    redis.UniversalClient
	key    string
	domain string
	logger *slog.Logger
	now    func() time.Time
}

// NewDevOutbox keeps mail under prefix (the Outbox's Options.Prefix).
func NewDevOutbox(rdb redis.UniversalClient, prefix string, cfg Config, logger *slog.Logger) *DevOutbox {
	return &DevOutbox{rdb: rdb, key: prefix + "{outbox}:dev", domain: fromDomain(cfg.From), logger: logger, now: time.Now}
}

// Send keeps m and logs it.
func (d *DevOutbox) Send(ctx context.Context, m Message, accepted func() error) error {
	dm := DevMail{ID: m.ID, MessageID: MessageID(m.ID, d.domain), Time: d.now().UTC(), To: m.To, Subject: m.Subject, Text: m.Text, HTML: m.HTML}
	b, err := json.Marshal(dm)
	if err != nil {
		return fmt.Errorf("encoding development mail: %w", err)
	}
	pipe := d.rdb.TxPipeline()
	pipe.LPush(ctx, d.key, b)
	pipe.LTrim(ctx, d.key, 0, DevMailMax-1)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("keeping development mail: %w", err)
	}
	d.logger.Info("development mail (not sent: no smtp.url; see GET /api/v1/dev/mail)",
		"to", m.To, "subject", m.Subject, "mail", m.ID, "text", m.Text)
	return accepted()
}

// List returns up to limit kept messages, newest first.
func (d *DevOutbox) List(ctx context.Context, limit int) ([]DevMail, error) {
	limit = min(max(limit, 1), DevMailMax)
	raw, err := d.rdb.LRange(ctx, d.key, 0, int64(limit)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("listing development mail: %w", err)
	}
	out := make([]DevMail, 0, len(raw))
	for _, r := range raw {
		var m DevMail
		if err := json.Unmarshal([]byte(r), &m); err != nil {
			return nil, fmt.Errorf("decoding development mail: %w", err)
		}
		out = append(out, m)
	}
	return out, nil
}
