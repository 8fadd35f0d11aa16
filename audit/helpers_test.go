package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/testenv"
)

// env is one test's log on a test Redis (standalone or Cluster) and its
// own MinIO bucket.
type env struct {
	rdb    redis.UniversalClient
	client func() redis.UniversalClient // another connection pool, as another process has
	prefix string
	log    *Log
	arch   *Archiver
	s3     *minio.Client
	cfg    Config
	now    time.Time // the archiver's clock
}

// backend is a Redis deployment the tests run on.
type backend struct {
	name string
	open func(t *testing.T) (rdb redis.UniversalClient, client func() redis.UniversalClient, prefix string)
}

var (
	standalone = backend{"standalone", func(t *testing.T) (redis.UniversalClient, func() redis.UniversalClient, string) {
		rdb := testenv.RedisClient(t)
		return rdb, func() redis.UniversalClient {
			c := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr})
			t.Cleanup(func() { c.Close() })
			return c
		}, testenv.KeyPrefix(t)
	}}
	cluster = backend{"cluster", func(t *testing.T) (redis.UniversalClient, func() redis.UniversalClient, string) {
		rdb, prefix := testenv.RedisClusterClient(t)
		return rdb, func() redis.UniversalClient {
			c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.RedisClusterAddrs(t)})
			t.Cleanup(func() { c.Close() })
			return c
		}, prefix
	}}
	backends = []backend{standalone, cluster}
)

func newEnv(t *testing.T, batch int) *env { return newEnvOn(t, standalone, batch) }

func newEnvOn(t *testing.T, b backend, batch int) *env {
	t.Helper()
	s3, bucket := testenv.Bucket(t)
	e := &env{s3: s3, now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	e.rdb, e.client, e.prefix = b.open(t)
	e.cfg = Config{Bucket: bucket, ArchiveBatch: batch}
	e.cfg.SetDefaults()
	e.log = e.newLog(t, e.rdb)
	e.arch = NewArchiver(e.log, s3, e.cfg, func() time.Time { return e.now }, discard())
	if err := e.arch.Init(t.Context()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return e
}

// newLog opens the same log through another client (as another process
// would).
func (e *env) newLog(t *testing.T, rdb redis.UniversalClient) *Log {
	t.Helper()
	l, err := New(rdb, e.prefix, discard())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// entry makes the n-th test entry; its time is n minutes after base.
func entry(n int, base time.Time) Entry {
	return Entry{
		ID:      fmt.Sprintf("e-%d", n),
		Time:    base.Add(time.Duration(n) * time.Minute),
		Actor:   []string{"officer:ann", "admin:bob", "system"}[n%3],
		Action:  []string{"blocklist.added", "order.reviewed"}[n%2],
		Order:   fmt.Sprintf("o-%d", n%4),
		Account: "key:shop/acct-" + fmt.Sprint(n%5),
		Addr:    "192.0.2.0/24",
		Before:  json.RawMessage(`{"state": "held"}`),
		After:   json.RawMessage(fmt.Sprintf(`{"state":"cleared","n":%d}`, n)),
	}
}

// appendN appends entries 1..n.
func (e *env) appendN(t *testing.T, n int) []Entry {
	t.Helper()
	var out []Entry
	for i := 1; i <= n; i++ {
		got, err := e.log.Append(t.Context(), entry(i, e.now))
		if err != nil {
			t.Fatalf("Append(%d): %v", i, err)
		}
		out = append(out, got)
	}
	return out
}

func (e *env) verify(t *testing.T) (Summary, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	return Verify(ctx, e.log, e.s3, e.cfg)
}

func (e *env) archiveAll(t *testing.T) {
	t.Helper()
	for {
		n, err := e.arch.ArchiveOnce(t.Context())
		if err != nil {
			t.Fatalf("ArchiveOnce: %v", err)
		}
		if n == 0 {
			return
		}
	}
}

// onBackends runs test on a fresh env on each backend, in parallel.
func onBackends(t *testing.T, batch int, test func(t *testing.T, e *env)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			test(t, newEnvOn(t, b, batch))
		})
	}
}
