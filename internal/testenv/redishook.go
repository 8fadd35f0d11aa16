package testenv

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// CountingHook is a go-redis hook (client.AddHook) that counts what a client
// sends: dials, commands sent alone, pipelines and the commands in them.
// Against one server, a command sent alone is one network round trip and so
// is a pipeline (one write, one read on one connection); go-redis sends a
// MULTI/EXEC transaction as a pipeline too. Tests use it to prove how many
// round trips an operation costs. It is safe for concurrent use.
type CountingHook struct {
	Dials         atomic.Int64
	Cmds          atomic.Int64 // commands sent alone
	Pipelines     atomic.Int64 // pipelines and transactions
	PipelinedCmds atomic.Int64 // commands inside them
}

var _ redis.Hook = (*CountingHook)(nil)

// DialHook counts new connections.
func (h *CountingHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		h.Dials.Add(1)
		return next(ctx, network, addr)
	}
}

// ProcessHook counts commands sent alone.
func (h *CountingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.Cmds.Add(1)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook counts pipelines and the commands in them.
func (h *CountingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.Pipelines.Add(1)
		h.PipelinedCmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// RoundTrips returns Cmds + Pipelines: the network round trips to a
// standalone server.
func (h *CountingHook) RoundTrips() int64 { return h.Cmds.Load() + h.Pipelines.Load() }

// Reset sets every counter to zero.
func (h *CountingHook) Reset() {
	h.Dials.Store(0)
	h.Cmds.Store(0)
	h.Pipelines.Store(0)
	h.PipelinedCmds.Store(0)
}

// CommandStat is one line of INFO commandstats.
type CommandStat struct {
	Calls int64
	Usec  int64 // server time, including the commands a script calls
}

// CommandStats returns INFO commandstats of rdb's server by lower case
// command name ("evalsha", "hmget"). Commands that scripts call are counted
// too, under their own names. The INFO call itself is counted by the server
// (as "info"), and by any hook of rdb: read the statistics with a client that
// is not the one being measured.
func CommandStats(t testing.TB, rdb redis.UniversalClient) map[string]CommandStat {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatalf("testenv: INFO commandstats: %v", err)
	}
	stats, err := ParseCommandStats(info)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return stats
}

// ParseCommandStats parses the text of INFO commandstats.
func ParseCommandStats(info string) (map[string]CommandStat, error) {
	out := make(map[string]CommandStat)
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var st CommandStat
		for kv := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			var dst *int64
			switch k {
			case "calls":
				dst = &st.Calls
			case "usec":
				dst = &st.Usec
			default:
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("parsing INFO commandstats line %q: %w", strings.TrimSpace(line), err)
			}
			*dst = n
		}
		out[strings.TrimPrefix(name, "cmdstat_")] = st
	}
	return out, nil
}
