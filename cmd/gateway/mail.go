package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/config"
	"github.com/vpsgate/gateway/internal/mail"
)

// mailParts is the gateway's mail: the outbox every process delivers from,
// the templates, and in embedded mode (no smtp.url) the development
// outbox that keeps mail for GET /api/v1/dev/mail.
type mailParts struct {
	Outbox *mail.Outbox
	// Templates render the mail; email verification (issue 8, part V)
	// renders "verify_email" with them and queues the result in Outbox.
	Templates *mail.Templates
	Dev       *mail.DevOutbox // nil with smtp.url
}

func openMail(cfg *config.Config, rdb redis.UniversalClient, logger *slog.Logger, reg prometheus.Registerer) (*mailParts, error) {
	prefix := cfg.Screening.KeyPrefix + "mail:"
	tpl, err := mail.NewTemplates(cfg.Mail.ShopName)
	if err != nil {
		return nil, fmt.Errorf("mail templates: %w", err)
	}
	parts := &mailParts{Templates: tpl}
	var sender mail.Sender
	if cfg.SMTP.URL == "" {
		parts.Dev = mail.NewDevOutbox(rdb, prefix, cfg.Mail, logger)
		sender = parts.Dev
	} else if sender, err = mail.NewSMTPSender(cfg.SMTP, cfg.Mail); err != nil {
		return nil, err
	}
	parts.Outbox, err = mail.NewOutbox(rdb, sender, mail.Options{
		Prefix:    prefix,
		Lease:     mail.LeaseFor(cfg.SMTP.Timeout),
		Poll:      2 * time.Second, // how long an idle worker blocks on Redis (and shutdown waits)
		RetryMin:  cfg.Mail.RetryMin,
		RetryMax:  cfg.Mail.RetryMax,
		DeadAfter: cfg.Mail.DeadAfter,
		Retention: mail.DefaultRetention,
	}, logger, reg)
	if err != nil {
		return nil, fmt.Errorf("building the mail outbox: %w", err)
	}
	return parts, nil
}
