package testenv

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

func TestTestenvParseCommandStats(t *testing.T) {
	t.Parallel()
	info := "# Commandstats\r\n" +
		"cmdstat_evalsha:calls=12,usec=600,usec_per_call=50.00,rejected_calls=0,failed_calls=1\r\n" +
		"cmdstat_hmget:calls=3,usec=4,usec_per_call=1.33,rejected_calls=0,failed_calls=0\r\n" +
		"\r\n"
	got, err := ParseCommandStats(info)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]CommandStat{"evalsha": {Calls: 12, Usec: 600}, "hmget": {Calls: 3, Usec: 4}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseCommandStats (-want +got):\n%s", diff)
	}
	if _, err := ParseCommandStats("cmdstat_get:calls=x,usec=1\r\n"); err == nil {
		t.Error("ParseCommandStats(calls=x) = nil error, want one")
	}
}

// TestTestenvCountingHook checks the hook against the server's own count:
// single commands, a pipeline and a transaction on a private server.
func TestTestenvCountingHook(t *testing.T) {
	srv := StartRedis(t, "--appendonly", "no")
	hook := &CountingHook{}
	rdb := newRedisClient(t, srv.URL())
	stats := newRedisClient(t, srv.URL())
	ctx := context.Background()
	// go-redis may open a second connection for the first pipeline, and
	// the connection set-up (HELLO, CLIENT SETINFO) passes through hooks:
	// warm up before counting, as tests of round trips must.
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error { p.Ping(ctx); return nil }); err != nil {
		t.Fatal(err)
	}
	rdb.AddHook(hook)

	before := CommandStats(t, stats)
	if err := rdb.Set(ctx, "k", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	pipe := rdb.Pipeline()
	pipe.Incr(ctx, "k")
	pipe.Get(ctx, "k")
	pipe.Get(ctx, "other")
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "k")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	after := CommandStats(t, stats)

	got := map[string]int64{"cmds": hook.Cmds.Load(), "pipelines": hook.Pipelines.Load(),
		"pipelined": hook.PipelinedCmds.Load(), "dials": hook.Dials.Load(), "round trips": hook.RoundTrips()}
	// The transaction is one pipeline of MULTI, INCR, EXEC.
	want := map[string]int64{"cmds": 1, "pipelines": 2, "pipelined": 6, "dials": 0, "round trips": 3}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hook counts (-want +got):\n%s", diff)
	}
	if d := after["incr"].Calls - before["incr"].Calls; d != 2 {
		t.Errorf("server INCR calls = %d, want 2", d)
	}
	if d := after["get"].Calls - before["get"].Calls; d != 2 {
		t.Errorf("server GET calls = %d, want 2", d)
	}
	if d := after["exec"].Calls - before["exec"].Calls; d != 1 {
		t.Errorf("server EXEC calls = %d, want 1", d)
	}

	hook.Reset()
	if hook.RoundTrips() != 0 || hook.PipelinedCmds.Load() != 0 || hook.Dials.Load() != 0 {
		t.Errorf("after Reset: %d round trips, %d pipelined, %d dials", hook.RoundTrips(), hook.PipelinedCmds.Load(), hook.Dials.Load())
	}
}
