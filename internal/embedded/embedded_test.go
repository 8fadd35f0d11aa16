package embedded

import (
	"bytes"
	"io"
	"net/http"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/redis/go-redis/v9"
)

// TestZeroConfigSmoke starts everything the zero-config mode runs and talks
// to it with the same client code the product uses against real servers.
func TestZeroConfigSmoke(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	logger := discardLogger()
	dataDir := t.TempDir()

	// Redis: redis.url -> ParseURL -> UniversalClient, no special options.
	rs, err := StartRedis(ctx, logger)
	if err != nil {
		t.Fatalf("StartRedis: %v", err)
	}
	defer rs.Close()
	opt, err := redis.ParseURL(rs.URL())
	if err != nil {
		t.Fatalf("redis.ParseURL: %v", err)
	}
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:        []string{opt.Addr},
		Username:     opt.Username,
		Password:     opt.Password,
		DB:           opt.DB,
		DialTimeout:  time.Second,
		ReadTimeout:  time.Second,
		WriteTimeout: time.Second,
	})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis Ping: %v", err)
	}
	if err := rdb.Set(ctx, "smoke", "ok", time.Minute).Err(); err != nil {
		t.Fatalf("redis SET: %v", err)
	}
	if v, err := rdb.Get(ctx, "smoke").Result(); err != nil || v != "ok" {
		t.Fatalf("redis GET = %q, %v; want ok", v, err)
	}

	// S3: s3.endpoint/access_key/secret_key -> minio.New, plain HTTP.
	s3, err := StartS3(ctx, filepath.Join(dataDir, "s3"), logger)
	if err != nil {
		t.Fatalf("StartS3: %v", err)
	}
	defer s3.Close()
	mc, err := minio.New(s3.Endpoint(), &minio.Options{
		Creds:  credentials.NewStaticV4(s3.AccessKey(), s3.SecretKey(), ""),
		Secure: false,
	})
	if err != nil {
		t.Fatalf("minio.New: %v", err)
	}
	const bucket = "gateway"
	if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket: %v", err)
	}
	if ok, err := mc.BucketExists(ctx, bucket); err != nil || !ok {
		t.Fatalf("BucketExists = %v, %v; want true (the startup check)", ok, err)
	}
	doc := []byte("%PDF-1.7 smoke")
	if _, err := mc.PutObject(ctx, bucket, "kyc/1/front", bytes.NewReader(doc), int64(len(doc)),
		minio.PutObjectOptions{ContentType: "application/pdf"}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	o, err := mc.GetObject(ctx, bucket, "kyc/1/front", minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	got, err := io.ReadAll(o)
	o.Close()
	if err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("GetObject = %q, %v; want %q", got, err, doc)
	}

	// GeoIP: the bundled database opens like a MaxMind one.
	db, err := maxminddb.OpenBytes(GeoIPCountryDB())
	if err != nil {
		t.Fatalf("maxminddb.OpenBytes: %v", err)
	}
	defer db.Close()
	var rec struct {
		Country struct {
			ISOCode string `maxminddb:"iso_code"`
		} `maxminddb:"country"`
	}
	if err := db.Lookup(netip.MustParseAddr("198.51.100.7")).Decode(&rec); err != nil || rec.Country.ISOCode != "DE" {
		t.Fatalf("GeoIP lookup 198.51.100.7 = %q, %v; want DE", rec.Country.ISOCode, err)
	}

	// Storefront: the upstream on a loopback port.
	srv, ln, err := ListenStorefront(ctx, "127.0.0.1:0", logger)
	if err != nil {
		t.Fatalf("ListenStorefront: %v", err)
	}
	defer srv.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatalf("GET storefront: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET storefront / = %d, want 200", resp.StatusCode)
	}
}
