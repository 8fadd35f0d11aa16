package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	mrand "math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/redis/go-redis/v9"
)

// Environment variables read by this package. scripts/test.sh sets all of
// them.
const (
	// EnvRedisURL is the URL of a Redis server shared by all tests,
	// e.g. redis://127.0.0.1:PORT/0.
	EnvRedisURL = "GATEWAY_TEST_REDIS_URL"
	// EnvRedisServer is the path of a redis-server binary, for tests that
	// start and stop their own server (StartRedis).
	EnvRedisServer = "GATEWAY_TEST_REDIS_SERVER"
	// EnvS3Endpoint is the host:port of a MinIO server shared by all tests,
	// spoken to over plain HTTP.
	EnvS3Endpoint = "GATEWAY_TEST_S3_ENDPOINT"
	// EnvS3AccessKey is the access key of EnvS3Endpoint.
	EnvS3AccessKey = "GATEWAY_TEST_S3_ACCESS_KEY"
	// EnvS3SecretKey is the secret key of EnvS3Endpoint.
	EnvS3SecretKey = "GATEWAY_TEST_S3_SECRET_KEY"
	// EnvMinIOServer is the path of a minio binary, for tests that run
	// their own MinIO server.
	EnvMinIOServer = "GATEWAY_TEST_MINIO_SERVER"
	// EnvSharedTestdata is the shared/testdata directory that holds the
	// large real-world files only benchmarks read. Unset: the
	// shared/testdata beside the repository (../shared/testdata from the
	// module root), when there is one.
	EnvSharedTestdata = "GATEWAY_TEST_SHARED_TESTDATA"
	// EnvPHP is the path of a php CLI binary (Debian's php-cli), for
	// tests that run PHP's built-in web server as the storefront.
	EnvPHP = "GATEWAY_TEST_PHP"
)

// opTimeout bounds every call this package makes to a server, so that a
// wedged server fails the test with a clear message instead of hanging until
// go test's global timeout.
const opTimeout = 10 * time.Second

// cleanupTimeout bounds the removal of a test's keys or bucket.
const cleanupTimeout = time.Minute

// require returns the value of the environment variable name. When it is
// empty the test is skipped with a loud message, or fails when CI is set:
// CI must never pass by skipping the tests that need real servers.
func require(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	msg := fmt.Sprintf("\n\n"+
		"    !!! %s is not set: this test needs a real server.\n"+
		"    !!! Run `make test` (scripts/test.sh): it installs and starts the\n"+
		"    !!! servers on loopback and sets the GATEWAY_TEST_* variables.\n", name)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "    !!! CI is set, so this is a failure, not a skip.\n")
	}
	t.Skip(msg)
	return ""
}

// RedisURL returns the URL of the shared test Redis server
// (GATEWAY_TEST_REDIS_URL). Tests sharing it must keep to their KeyPrefix.
func RedisURL(t testing.TB) string {
	t.Helper()
	return require(t, EnvRedisURL)
}

// RedisClient returns a client of the shared test Redis server, checked with a
// PING and closed when the test ends.
func RedisClient(t testing.TB) *redis.Client {
	t.Helper()
	return newRedisClient(t, RedisURL(t))
}

func newRedisClient(t testing.TB, rawURL string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		t.Fatalf("testenv: parsing Redis URL %q: %v", rawURL, err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("testenv: pinging Redis at %s: %v", opts.Addr, err)
	}
	return c
}

// KeyPrefix returns a Redis key prefix that belongs to this test alone:
// "test:" + t.Name() made safe + ":" + a random suffix + ":". The random part
// keeps reruns and -count=N runs apart. When the test ends, every key of the
// shared test Redis server that starts with the prefix is deleted.
func KeyPrefix(t testing.TB) string {
	t.Helper()
	c := RedisClient(t)
	prefix := keyPrefix(t.Name(), randomHex(4))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := deleteKeys(ctx, c, prefix); err != nil {
			t.Errorf("testenv: deleting keys %s*: %v", prefix, err)
		}
	})
	return prefix
}

// maxNameInKey keeps prefixes short when subtest names are long.
const maxNameInKey = 100

func keyPrefix(testName, suffix string) string {
	// Only characters that are neither glob metacharacters (for SCAN MATCH)
	// nor the ':' separator survive.
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '_', r == '-', r == '.', r == '/':
			return r
		}
		return '_'
	}, testName)
	if len(name) > maxNameInKey {
		name = name[:maxNameInKey]
	}
	return "test:" + name + ":" + suffix + ":"
}

func deleteKeys(ctx context.Context, c *redis.Client, prefix string) error {
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, prefix+"*", 1000).Result()
		if err != nil {
			return fmt.Errorf("scanning: %w", err)
		}
		if len(keys) > 0 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				return fmt.Errorf("unlinking %d keys: %w", len(keys), err)
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// S3Env is how to reach the shared test MinIO server.
type S3Env struct {
	Endpoint  string // host:port, plain HTTP
	AccessKey string
	SecretKey string
}

// S3 returns the address and credentials of the shared test MinIO server
// (GATEWAY_TEST_S3_*).
func S3(t testing.TB) S3Env {
	t.Helper()
	return S3Env{
		Endpoint:  require(t, EnvS3Endpoint),
		AccessKey: require(t, EnvS3AccessKey),
		SecretKey: require(t, EnvS3SecretKey),
	}
}

// S3Client returns a client of the shared test MinIO server, checked with a
// ListBuckets call. Its idle connections are closed when the test ends.
func S3Client(t testing.TB) *minio.Client {
	t.Helper()
	env := S3(t)
	tr, err := minio.DefaultTransport(false)
	if err != nil {
		t.Fatalf("testenv: building S3 transport: %v", err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := minio.New(env.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(env.AccessKey, env.SecretKey, ""),
		Secure:    false,
		Transport: tr,
	})
	if err != nil {
		t.Fatalf("testenv: creating S3 client for %s: %v", env.Endpoint, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := c.ListBuckets(ctx); err != nil {
		t.Fatalf("testenv: listing buckets at %s: %v", env.Endpoint, err)
	}
	return c
}

// Bucket creates a bucket of its own for this test on the shared test MinIO
// server and returns it with a client. The name is derived from t.Name() plus
// a random suffix. When the test ends the bucket is emptied (objects, object
// versions, incomplete multipart uploads) and removed.
func Bucket(t testing.TB) (client *minio.Client, bucket string) {
	t.Helper()
	c := S3Client(t)
	name := bucketName(t.Name(), randomHex(4))
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("testenv: creating bucket %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := removeBucket(ctx, c, name); err != nil {
			t.Errorf("testenv: removing bucket %s: %v", name, err)
		}
	})
	return c, name
}

// bucketName makes an S3 bucket name (3 to 63 characters: lower case letters,
// digits and hyphens, starting and ending with a letter or digit) from a
// test name and a suffix of lower case hex digits.
func bucketName(testName, suffix string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(testName) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			hyphen = false
			continue
		}
		// Runs of anything else become one hyphen, for readability.
		if !hyphen && b.Len() > 0 {
			b.WriteByte('-')
			hyphen = true
		}
	}
	name := b.String()
	// Prefixes S3 reserves ("xn--" cannot occur: hyphens were collapsed).
	if name == "" || strings.HasPrefix(name, "sthree-") || strings.HasPrefix(name, "amzn-s3-demo-") {
		name = "t-" + name
	}
	if maxLen := 63 - 1 - len(suffix); len(name) > maxLen {
		name = name[:maxLen]
	}
	return strings.TrimRight(name, "-") + "-" + suffix
}

func removeBucket(ctx context.Context, c *minio.Client, bucket string) error {
	var errs []error
	for u := range c.ListIncompleteUploads(ctx, bucket, "", true) {
		if u.Err != nil {
			errs = append(errs, fmt.Errorf("listing incomplete uploads: %w", u.Err))
			break
		}
		if err := c.RemoveIncompleteUpload(ctx, bucket, u.Key); err != nil {
			errs = append(errs, fmt.Errorf("aborting upload of %s: %w", u.Key, err))
		}
	}

	var listErr error
	objects := func(yield func(minio.ObjectInfo) bool) {
		// WithVersions also lists delete markers, so buckets where a test
		// turned versioning on are emptied too.
		for o := range c.ListObjectsIter(ctx, bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
			if o.Err != nil {
				listErr = o.Err
				return
			}
			if !yield(o) {
				return
			}
		}
	}
	results, err := c.RemoveObjectsWithIter(ctx, bucket, iter.Seq[minio.ObjectInfo](objects), minio.RemoveObjectsOptions{GovernanceBypass: true})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("removing objects: %w", err))...)
	}
	for r := range results {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("removing %s (version %q): %w", r.ObjectName, r.ObjectVersionID, r.Err))
		}
	}
	if listErr != nil {
		errs = append(errs, fmt.Errorf("listing objects: %w", listErr))
	}
	if err := c.RemoveBucket(ctx, bucket); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. It
// is drawn from below the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range), so that no socket bound to
// port 0 in the meantime (a server the code under test starts on :0, the
// local end of a client's connection) can be handed the same port before
// the caller binds it: that happened, a gateway's demo storefront took the
// public port a test had chosen. Where the range cannot be read, the
// kernel picks (port 0). Another process may still take the port; that is
// rare enough for tests.
func FreePort(t testing.TB) int {
	t.Helper()
	if lo := ephemeralLow(); lo > minTestPort {
		for range 100 {
			p := minTestPort + mrand.IntN(lo-minTestPort)
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err == nil {
				l.Close()
				return p
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// minTestPort keeps FreePort above the well-known and registered ports
// services on a development machine use.
const minTestPort = 10000

// ephemeralLow is the first port of the kernel's ephemeral range, or 0.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return lo
}

// FreeAddr returns "127.0.0.1:PORT" for a FreePort.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(FreePort(t)))
}

// MinIOServer returns the path of a minio binary (GATEWAY_TEST_MINIO_SERVER),
// for a test that runs a MinIO server of its own.
func MinIOServer(t testing.TB) string {
	t.Helper()
	return require(t, EnvMinIOServer)
}

// randomHex returns 2n random lower case hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails since Go 1.24; it crashes the program instead
	return hex.EncodeToString(b)
}
