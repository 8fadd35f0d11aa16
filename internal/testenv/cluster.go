package testenv

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// EnvRedisClusterAddrs lists the nodes of a three-node Redis Cluster shared
// by all tests (host:port, comma-separated), started by scripts/test.sh.
const EnvRedisClusterAddrs = "GATEWAY_TEST_REDIS_CLUSTER_ADDRS"

// RedisClusterAddrs returns the nodes of the shared test Redis Cluster.
func RedisClusterAddrs(t testing.TB) []string {
	t.Helper()
	return strings.Split(require(t, EnvRedisClusterAddrs), ",")
}

// RedisClusterClient returns a client of the shared test Redis Cluster,
// checked with a PING and closed when the test ends, and a key prefix of
// the test's own (as KeyPrefix): every key under it is deleted, on every
// primary, when the test ends.
func RedisClusterClient(t testing.TB) (*redis.ClusterClient, string) {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: RedisClusterAddrs(t)})
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		t.Fatalf("testenv: pinging the Redis Cluster: %v", err)
	}
	prefix := keyPrefix(t.Name(), randomHex(4))
	t.Cleanup(func() {
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		err := c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			return deleteKeysOneByOne(ctx, node, prefix)
		})
		if err != nil {
			t.Errorf("testenv: deleting cluster keys %s*: %v", prefix, err)
		}
	})
	return c, prefix
}

// deleteKeysOneByOne is deleteKeys for a Cluster node, where one UNLINK
// may not name keys of several slots.
func deleteKeysOneByOne(ctx context.Context, c *redis.Client, prefix string) error {
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, prefix+"*", 1000).Result()
		if err != nil {
			return fmt.Errorf("scanning: %w", err)
		}
		for _, k := range keys {
			if err := c.Unlink(ctx, k).Err(); err != nil {
				return fmt.Errorf("unlinking %s: %w", k, err)
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}
