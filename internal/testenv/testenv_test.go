package testenv

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/s3utils"
	"github.com/redis/go-redis/v9"
)

func TestTestenvKeyPrefixName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		testName string
		want     string
	}{
		{name: "plain", testName: "TestVelocity", want: "test:TestVelocity:ab12cd34:"},
		{name: "subtest", testName: "TestVelocity/per_ip/2", want: "test:TestVelocity/per_ip/2:ab12cd34:"},
		{
			name:     "glob and separator characters",
			testName: "TestX/a*b?c[d]e\\f:g h",
			want:     "test:TestX/a_b_c_d_e_f_g_h:ab12cd34:",
		},
		{name: "non-ASCII", testName: "TestÜber", want: "test:Test_ber:ab12cd34:"},
		{
			name:     "long name is cut",
			testName: "Test" + strings.Repeat("x", 200),
			want:     "test:Test" + strings.Repeat("x", maxNameInKey-4) + ":ab12cd34:",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := keyPrefix(tt.testName, "ab12cd34"); got != tt.want {
				t.Errorf("keyPrefix(%q) = %q, want %q", tt.testName, got, tt.want)
			}
		})
	}
}

func TestTestenvBucketName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		testName string
		want     string
	}{
		{name: "plain", testName: "TestStore", want: "teststore-ab12cd34"},
		{name: "subtest", testName: "TestStore/Put_and_Get/#01", want: "teststore-put-and-get-01-ab12cd34"},
		{name: "only punctuation", testName: "/_/", want: "t-ab12cd34"},
		{name: "xn-- loses a hyphen", testName: "xn--Test", want: "xn-test-ab12cd34"},
		{name: "reserved sthree- prefix", testName: "sthree-Test", want: "t-sthree-test-ab12cd34"},
		{name: "reserved amzn-s3-demo- prefix", testName: "amzn_s3_demo_x", want: "t-amzn-s3-demo-x-ab12cd34"},
		{
			name:     "long name is cut without a trailing hyphen",
			testName: "Test" + strings.Repeat("a", 49) + "/b",
			want:     "test" + strings.Repeat("a", 49) + "-ab12cd34",
		},
		{
			name:     "long name is cut to 63 characters",
			testName: "Test" + strings.Repeat("y", 100),
			want:     "test" + strings.Repeat("y", 50) + "-ab12cd34",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := bucketName(tt.testName, "ab12cd34")
			if got != tt.want {
				t.Errorf("bucketName(%q) = %q, want %q", tt.testName, got, tt.want)
			}
			// minio-go's own check, with the rules MinIO enforces.
			if err := s3utils.CheckValidBucketNameStrict(got); err != nil {
				t.Errorf("bucketName(%q) = %q, not a valid bucket name: %v", tt.testName, got, err)
			}
		})
	}
}

// fakeTB records Skip and Fatal and, like testing.T, ends the goroutine.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Skip(args ...any) {
	f.skipped, f.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (f *fakeTB) Fatal(args ...any) {
	f.failed, f.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func TestTestenvRequire(t *testing.T) {
	const name = "GATEWAY_TEST_TESTENV_REQUIRE_PROBE"
	type result struct {
		Value           string
		Skipped, Failed bool
	}
	tests := []struct {
		name  string
		value string
		ci    string
		want  result
	}{
		{name: "set", value: "redis://x", want: result{Value: "redis://x"}},
		{name: "set in CI", value: "redis://x", ci: "true", want: result{Value: "redis://x"}},
		{name: "missing skips", want: result{Skipped: true}},
		{name: "missing in CI fails", ci: "true", want: result{Failed: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(name, tt.value)
			t.Setenv("CI", tt.ci)
			f := &fakeTB{TB: t}
			var got result
			done := make(chan struct{})
			go func() {
				defer close(done)
				got.Value = require(f, name)
			}()
			<-done
			got.Skipped, got.Failed = f.skipped, f.failed
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("require(%s) mismatch (-want +got):\n%s", name, diff)
			}
			if got.Skipped || got.Failed {
				for _, want := range []string{name, "make test"} {
					if !strings.Contains(f.msg, want) {
						t.Errorf("require(%s) message %q does not name %q", name, f.msg, want)
					}
				}
			}
		})
	}
}

func TestTestenvFreePort(t *testing.T) {
	t.Parallel()
	addr := FreeAddr(t)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on FreeAddr() = %s: %v", addr, err)
	}
	l.Close()
	if p := FreePort(t); p <= 0 || p > 65535 {
		t.Errorf("FreePort() = %d, want a port number", p)
	}
}

func countKeys(t *testing.T, c *redis.Client, pattern string) int {
	t.Helper()
	var n int
	iter := c.Scan(t.Context(), 0, pattern, 1000).Iterator()
	for iter.Next(t.Context()) {
		n++
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("scanning %s: %v", pattern, err)
	}
	return n
}

func TestTestenvKeyPrefixCleanup(t *testing.T) {
	t.Parallel()
	c := RedisClient(t)
	outer := KeyPrefix(t)
	if err := c.Set(t.Context(), outer+"keep", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// More keys than one SCAN page, of several types.
	const n = 2500
	var inner string
	t.Run("inner", func(t *testing.T) {
		inner = KeyPrefix(t)
		if !strings.HasPrefix(inner, "test:TestTestenvKeyPrefixCleanup/inner:") {
			t.Errorf("KeyPrefix() = %q, want it to start with the test name", inner)
		}
		pipe := c.Pipeline()
		for i := range n {
			pipe.Set(t.Context(), fmt.Sprintf("%s%d", inner, i), i, 0)
		}
		pipe.HSet(t.Context(), inner+"hash", "f", "v")
		pipe.ZAdd(t.Context(), inner+"zset", redis.Z{Score: 1, Member: "m"})
		if _, err := pipe.Exec(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := countKeys(t, c, inner+"*"); got != n+2 {
			t.Fatalf("keys under %s before cleanup = %d, want %d", inner, got, n+2)
		}
	})
	if inner == "" || inner == outer {
		t.Fatalf("inner prefix %q, outer %q: want distinct prefixes", inner, outer)
	}
	if got := countKeys(t, c, inner+"*"); got != 0 {
		t.Errorf("keys under %s after the subtest = %d, want 0", inner, got)
	}
	if got := countKeys(t, c, outer+"*"); got != 1 {
		t.Errorf("keys under the outer prefix %s = %d, want 1 (cleanup must not reach it)", outer, got)
	}
}

func TestTestenvBucketCleanup(t *testing.T) {
	t.Parallel()
	c := S3Client(t)
	var bucket string
	t.Run("inner", func(t *testing.T) {
		var client *minio.Client
		client, bucket = Bucket(t)
		if !strings.HasPrefix(bucket, "testtestenvbucketcleanup-inner-") {
			t.Errorf("Bucket() name = %q, want it derived from the test name", bucket)
		}
		ctx := t.Context()
		for _, key := range []string{"a", "dir/b", "dir/sub/c"} {
			body := strings.NewReader("data of " + key)
			if _, err := client.PutObject(ctx, bucket, key, body, body.Size(), minio.PutObjectOptions{}); err != nil {
				t.Fatalf("putting %s: %v", key, err)
			}
		}
		// An upload that is never completed also keeps a bucket from being
		// removed on some servers.
		core := minio.Core{Client: client}
		if _, err := core.NewMultipartUpload(ctx, bucket, "unfinished", minio.PutObjectOptions{}); err != nil {
			t.Fatalf("starting a multipart upload: %v", err)
		}
	})
	if bucket == "" {
		t.Fatal("the subtest did not create a bucket")
	}
	exists, err := c.BucketExists(t.Context(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("bucket %s still exists after its test ended", bucket)
	}
}

func TestTestenvStartRedis(t *testing.T) {
	t.Parallel()
	p := StartRedis(t)
	if !strings.HasPrefix(p.Addr(), "127.0.0.1:") || p.URL() != "redis://"+p.Addr()+"/0" {
		t.Errorf("Addr() = %q, URL() = %q", p.Addr(), p.URL())
	}
	opts, err := redis.ParseURL(p.URL())
	if err != nil {
		t.Fatalf("parsing URL() = %q: %v", p.URL(), err)
	}
	// One client across the outage, as the gateway keeps one.
	c := redis.NewClient(opts)
	defer c.Close()
	ctx := t.Context()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET before Stop: %v", err)
	}

	p.Stop()
	p.Stop() // stopping twice is harmless
	// A fresh connection proves the port is closed, whatever the pool holds.
	if conn, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		conn.Close()
		t.Fatalf("dialing %s after Stop succeeded, want connection refused", p.Addr())
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING after Stop succeeded, want an error")
	}

	p.Start()
	got, err := c.Get(ctx, "k").Result()
	if err != nil {
		t.Fatalf("GET after Start: %v", err)
	}
	if got != "v" {
		t.Errorf("GET k after restart = %q, want %q (the append-only file keeps it)", got, "v")
	}
}

func TestTestenvStartRedisArgs(t *testing.T) {
	t.Parallel()
	p := StartRedis(t, "--appendonly", "no", "--maxmemory-policy", "noeviction")
	c := redis.NewClient(&redis.Options{Addr: p.Addr()})
	defer c.Close()
	got, err := c.ConfigGet(t.Context(), "appendonly").Result()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"appendonly": "no"}, got); diff != "" {
		t.Errorf("CONFIG GET appendonly mismatch (-want +got):\n%s", diff)
	}
}

func TestTestenvStartRedisStoppedAtCleanup(t *testing.T) {
	t.Parallel()
	var addr string
	t.Run("inner", func(t *testing.T) {
		addr = StartRedis(t).Addr()
	})
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
		t.Fatalf("dialing %s after the test ended succeeded, want the server stopped", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dialing %s: %v, want connection refused", addr, err)
	}
}

func TestTestenvStartRedisBadArgs(t *testing.T) {
	t.Parallel()
	bin, err := redisServerPath()
	if err != nil {
		require(t, EnvRedisServer)
		t.Fatal(err)
	}
	p := &RedisProcess{t: t, bin: bin, dir: t.TempDir(), port: FreePort(t),
		args: []string{"--no-such-directive", "1"}, out: &Buffer{}}
	err = p.start()
	if err == nil {
		p.Stop()
		t.Fatal("start with a bad directive succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "no-such-directive") {
		t.Errorf("start error = %v, want it to include redis-server's output naming the directive", err)
	}
}
