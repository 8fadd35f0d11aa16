package embedded

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func startRedis(t *testing.T) *RedisServer {
	t.Helper()
	srv, err := StartRedis(t.Context(), discardLogger())
	if err != nil {
		t.Fatalf("StartRedis: %v", err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// clientFromURL builds a client the way the gateway does: parse redis.url,
// then a UniversalClient with the parsed address, password and database.
func clientFromURL(t *testing.T, rawURL string, protocol int) redis.UniversalClient {
	t.Helper()
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		t.Fatalf("ParseURL(%q): %v", rawURL, err)
	}
	c := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:    []string{opt.Addr},
		Username: opt.Username,
		Password: opt.Password,
		DB:       opt.DB,
		Protocol: protocol,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRedisURL(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatalf("url.Parse(URL()): %v", err)
	}
	pw, _ := u.User.Password()
	got := []string{u.Scheme, u.Host, u.Path, pw}
	want := []string{"redis", srv.Addr(), "/0", srv.Password()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("URL() parts mismatch (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(srv.Addr(), "127.0.0.1:") {
		t.Errorf("Addr() = %q, want a 127.0.0.1 address", srv.Addr())
	}
	if len(srv.Password()) < 20 {
		t.Errorf("Password() = %d chars, want a random password of at least 20", len(srv.Password()))
	}
}

func TestRedisRequiresPassword(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	for _, pw := range []string{"", "wrong"} {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: pw})
		err := c.Ping(t.Context()).Err()
		c.Close()
		if err == nil {
			t.Errorf("Ping with password %q succeeded, want an authentication error", pw)
		}
	}
}

// TestRedisCommands runs what the product needs from Redis through go-redis
// v9, with its default protocol (RESP3) and with RESP2.
func TestRedisCommands(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	for _, protocol := range []int{0, 2, 3} {
		t.Run(map[int]string{0: "default", 2: "resp2", 3: "resp3"}[protocol], func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			c := clientFromURL(t, srv.URL(), protocol)
			p := t.Name() + ":" // key prefix per test, as against a shared server

			if err := c.Ping(ctx).Err(); err != nil {
				t.Fatalf("Ping: %v", err)
			}

			t.Run("strings and expiry", func(t *testing.T) {
				if err := c.Set(ctx, p+"s", "v1", 0).Err(); err != nil {
					t.Fatalf("SET: %v", err)
				}
				if got, err := c.Get(ctx, p+"s").Result(); err != nil || got != "v1" {
					t.Fatalf("GET = %q, %v; want v1", got, err)
				}
				if _, err := c.Get(ctx, p+"missing").Result(); !errors.Is(err, redis.Nil) {
					t.Fatalf("GET missing: err = %v, want redis.Nil", err)
				}
				if ok, err := c.SetNX(ctx, p+"s", "v2", time.Minute).Result(); err != nil || ok {
					t.Fatalf("SETNX existing = %v, %v; want false", ok, err)
				}
				if ok, err := c.Expire(ctx, p+"s", time.Hour).Result(); err != nil || !ok {
					t.Fatalf("EXPIRE = %v, %v; want true", ok, err)
				}
				ttl, err := c.TTL(ctx, p+"s").Result()
				if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
					t.Fatalf("TTL = %v, %v; want about 1h", ttl, err)
				}
				if n, err := c.IncrBy(ctx, p+"n", 5).Result(); err != nil || n != 5 {
					t.Fatalf("INCRBY = %d, %v; want 5", n, err)
				}
			})

			t.Run("hashes", func(t *testing.T) {
				if err := c.HSet(ctx, p+"h", "status", "review", "score", "12.5").Err(); err != nil {
					t.Fatalf("HSET: %v", err)
				}
				if n, err := c.HIncrBy(ctx, p+"h", "hits", 2).Result(); err != nil || n != 2 {
					t.Fatalf("HINCRBY = %d, %v; want 2", n, err)
				}
				got, err := c.HGetAll(ctx, p+"h").Result()
				if err != nil {
					t.Fatalf("HGETALL: %v", err)
				}
				want := map[string]string{"status": "review", "score": "12.5", "hits": "2"}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("HGETALL mismatch (-want +got):\n%s", diff)
				}
			})

			t.Run("sorted sets", func(t *testing.T) {
				k := p + "z"
				for i, m := range []string{"a", "b", "c", "d"} {
					if err := c.ZAdd(ctx, k, redis.Z{Score: float64(100 + i), Member: m}).Err(); err != nil {
						t.Fatalf("ZADD: %v", err)
					}
				}
				if n, err := c.ZRemRangeByScore(ctx, k, "-inf", "(102").Result(); err != nil || n != 2 {
					t.Fatalf("ZREMRANGEBYSCORE = %d, %v; want 2", n, err)
				}
				got, err := c.ZRangeByScore(ctx, k, &redis.ZRangeBy{Min: "-inf", Max: "+inf"}).Result()
				if err != nil {
					t.Fatalf("ZRANGEBYSCORE: %v", err)
				}
				if diff := cmp.Diff([]string{"c", "d"}, got); diff != "" {
					t.Errorf("ZRANGEBYSCORE mismatch (-want +got):\n%s", diff)
				}
			})

			t.Run("lua script", func(t *testing.T) {
				// A sliding-window counter of the kind screening/velocity
				// runs: the caller passes now, the script trims, adds,
				// counts and sets the key's expiry.
				script := redis.NewScript(`
local key, now, window, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
redis.call('ZADD', key, now, member)
redis.call('PEXPIRE', key, window)
return {redis.call('ZCARD', key), redis.call('PTTL', key) > 0 and 1 or 0}`)
				k := p + "velocity"
				var last []any
				for i, now := range []int64{1000, 2000, 3000, 70000} {
					// Run tries EVALSHA and falls back to EVAL on NOSCRIPT.
					res, err := script.Run(ctx, c, []string{k}, now, 60000, "order-"+string(rune('a'+i))).Slice()
					if err != nil {
						t.Fatalf("script run %d: %v", i, err)
					}
					last = res
				}
				// At 70000 the window (10000, 70000] holds only the last one.
				if diff := cmp.Diff([]any{int64(1), int64(1)}, last); diff != "" {
					t.Errorf("script result mismatch (-want +got):\n%s", diff)
				}
				if ok, err := script.Exists(ctx, c).Result(); err != nil || len(ok) != 1 || !ok[0] {
					t.Errorf("SCRIPT EXISTS = %v, %v; want [true]", ok, err)
				}
				if err := script.EvalSha(ctx, c, []string{k}, 71000, 60000, "order-z").Err(); err != nil {
					t.Errorf("EVALSHA: %v", err)
				}
			})

			t.Run("pipelines", func(t *testing.T) {
				var incr *redis.IntCmd
				_, err := c.Pipelined(ctx, func(pipe redis.Pipeliner) error {
					incr = pipe.Incr(ctx, p+"pipe")
					pipe.Expire(ctx, p+"pipe", time.Minute)
					pipe.Incr(ctx, p+"pipe")
					return nil
				})
				if err != nil || incr.Val() != 1 {
					t.Fatalf("Pipelined: first INCR = %d, err %v; want 1, nil", incr.Val(), err)
				}
				var get *redis.StringCmd
				if _, err := c.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
					pipe.Incr(ctx, p+"pipe")
					get = pipe.Get(ctx, p+"pipe")
					return nil
				}); err != nil {
					t.Fatalf("TxPipelined (MULTI/EXEC): %v", err)
				}
				if get.Val() != "3" {
					t.Errorf("GET in transaction = %q, want 3", get.Val())
				}
			})

			t.Run("hyperloglog", func(t *testing.T) {
				if err := c.PFAdd(ctx, p+"hll", "1.1.1.1", "2.2.2.2", "1.1.1.1").Err(); err != nil {
					t.Fatalf("PFADD: %v", err)
				}
				if n, err := c.PFCount(ctx, p+"hll").Result(); err != nil || n != 2 {
					t.Fatalf("PFCOUNT = %d, %v; want 2", n, err)
				}
			})

			t.Run("time", func(t *testing.T) {
				before := time.Now().Add(-time.Second)
				got, err := c.Time(ctx).Result()
				if err != nil {
					t.Fatalf("TIME: %v", err)
				}
				if got.Before(before) || got.After(time.Now().Add(time.Second)) {
					t.Errorf("TIME = %v, want about now (%v)", got, time.Now())
				}
			})

			t.Run("streams", func(t *testing.T) {
				for i := range 3 {
					if err := c.XAdd(ctx, &redis.XAddArgs{Stream: p + "events", MaxLen: 2, Approx: false,
						Values: map[string]any{"n": i}}).Err(); err != nil {
						t.Fatalf("XADD: %v", err)
					}
				}
				msgs, err := c.XRange(ctx, p+"events", "-", "+").Result()
				if err != nil {
					t.Fatalf("XRANGE: %v", err)
				}
				var got []any
				for _, m := range msgs {
					got = append(got, m.Values["n"])
				}
				if diff := cmp.Diff([]any{"1", "2"}, got); diff != "" {
					t.Errorf("XRANGE after MAXLEN 2 mismatch (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// TestRedisKeysExpire proves keys expire by the wall clock, not only when
// someone calls miniredis's FastForward. It waits for a 30ms TTL by polling
// with a deadline: the server's clock is the real one, there is nothing to
// inject.
func TestRedisKeysExpire(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := clientFromURL(t, srv.URL(), 0)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.Set(ctx, "k", "v", 30*time.Millisecond).Err(); err != nil {
		t.Fatalf("SET PX: %v", err)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := c.Exists(ctx, "k").Result()
		if err != nil {
			t.Fatalf("EXISTS: %v", err)
		}
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("key with a 30ms TTL still exists after 10s: TTLs do not follow the clock")
		case <-tick.C:
		}
	}
}

func TestRedisClose(t *testing.T) {
	t.Parallel()
	srv, err := StartRedis(t.Context(), discardLogger())
	if err != nil {
		t.Fatalf("StartRedis: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: srv.Password(), MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	if err := c.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	srv.Close()
	if err := c.Get(t.Context(), "k").Err(); err == nil {
		t.Fatal("GET after Close succeeded, want a connection error")
	}
}

func TestStartRedisCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := StartRedis(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))); !errors.Is(err, context.Canceled) {
		t.Fatalf("StartRedis(canceled ctx) error = %v, want context.Canceled", err)
	}
}
