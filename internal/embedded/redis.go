package embedded

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/alicebob/miniredis/v2"
)

// RedisServer is an in-process Redis-protocol server (miniredis) listening
// on a random loopback port. It keeps its data in memory only: everything in
// it (velocity counters, sessions, queues) is lost when the process stops.
//
// It asks for a password generated at start (carried in URL), so that other
// local users of the machine cannot read or change it.
type RedisServer struct {
	mr       *miniredis.Miniredis
	password string
	logger   *slog.Logger
}

// StartRedis starts an in-process Redis-protocol server on 127.0.0.1 with a
// random port and a random password. Close it when done.
//
// Key expiry follows the wall clock (miniredis's ClockTTL): without it,
// miniredis only expires keys when told to, and EXPIRE'd keys would live for
// ever. Expiry is checked on each command, over every key with a TTL, which
// is fine for the demo volumes this mode is for.
//
// go-redis v9 connects with its defaults (RESP3 via HELLO 3 with AUTH,
// CLIENT SETINFO); no special client option is needed.
func StartRedis(ctx context.Context, logger *slog.Logger) (*RedisServer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("starting embedded redis: %w", err)
	}
	mr := miniredis.NewMiniRedis()
	mr.ClockTTL(true)
	password := rand.Text()
	mr.RequireAuth(password)
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("starting embedded redis: %w", err)
	}
	logger.Info("embedded redis started", "addr", mr.Addr(), "persistence", "none (memory only)")
	return &RedisServer{mr: mr, password: password, logger: logger}, nil
}

// Addr returns the host:port the server listens on.
func (s *RedisServer) Addr() string { return s.mr.Addr() }

// Password returns the password clients must send (AUTH or HELLO AUTH).
func (s *RedisServer) Password() string { return s.password }

// URL returns a redis:// URL for the server, with its password and database
// 0, suitable for redis.ParseURL and for the redis.url key. It contains the
// password: redact it before logging.
func (s *RedisServer) URL() string {
	u := url.URL{
		Scheme: "redis",
		User:   url.UserPassword("", s.password),
		Host:   s.mr.Addr(),
		Path:   "/0",
	}
	return u.String()
}

// Close stops the server and drops its data. Open client connections are
// closed.
func (s *RedisServer) Close() {
	s.mr.Close()
	s.logger.Info("embedded redis stopped")
}
