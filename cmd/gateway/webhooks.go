package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/config"
	"github.com/vpsgate/gateway/webhooks"
)

// eventsKey is the event outbox stream: the order relay (and the other
// event sources) append to it, webhook delivery reads it.
func eventsKey(cfg *config.Config) string { return cfg.Screening.KeyPrefix + "events" }

// outboxLen is the event outbox's blind trim: none when webhook delivery
// reads the stream (it trims what every consumer group has acknowledged),
// else outboxMaxLen.
func outboxLen(cfg *config.Config) int64 {
	if len(cfg.Webhooks) > 0 {
		return 0
	}
	return outboxMaxLen
}

// buildWebhooks builds webhook delivery, or nil when no endpoint is
// configured. Its consumer group on the event outbox is made before the
// order relay starts, so that every event from this start on is
// delivered (when Redis is not reachable yet, Run makes it later).
func buildWebhooks(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, logger *slog.Logger, reg prometheus.Registerer) (*webhooks.Service, error) {
	if len(cfg.Webhooks) == 0 {
		return nil, nil
	}
	svc, err := webhooks.New(cfg.WebhooksConfig(), rdb, webhooks.Options{
		Prefix:   cfg.Screening.KeyPrefix,
		Events:   eventsKey(cfg),
		Consumer: workerName(),
	}, logger, reg)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := svc.Prepare(pctx); err != nil {
		logger.Warn("webhooks: could not prepare the event consumer group yet; delivery will retry", "error", err)
	}
	return svc, nil
}
