package kyc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/vpsgate/gateway/internal/configerr"
)

// StoreConfig is the `s3` section: any S3-compatible server (MinIO, AWS S3,
// Ceph RGW, ...). An empty endpoint selects the embedded in-process server.
type StoreConfig struct {
	Endpoint  string `yaml:"endpoint"` // host:port, no scheme
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
	Bucket    string `yaml:"bucket"`
	Secure    bool   `yaml:"secure"` // HTTPS to the endpoint
	Region    string `yaml:"region"`
}

// SetDefaults fills unset values.
func (c *StoreConfig) SetDefaults() {
	if c.Bucket == "" {
		c.Bucket = "kyc-documents"
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
}

// Validate reports every bad value.
func (c *StoreConfig) Validate() error {
	var errs []error
	if c.Endpoint != "" {
		if strings.Contains(c.Endpoint, "://") {
			errs = append(errs, configerr.Field("endpoint", c.Endpoint, "must be host:port without a scheme; use s3.secure for HTTPS"))
		} else if _, _, err := net.SplitHostPort(c.Endpoint); err != nil && strings.Contains(c.Endpoint, "/") {
			errs = append(errs, configerr.Field("endpoint", c.Endpoint, "must be host or host:port"))
		}
		if c.AccessKey == "" {
			errs = append(errs, configerr.Field("access_key", nil, "is required when endpoint is set"))
		}
		if c.SecretKey == "" {
			errs = append(errs, configerr.Field("secret_key", nil, "is required when endpoint is set"))
		}
	}
	if n := len(c.Bucket); n < 3 || n > 63 || strings.ToLower(c.Bucket) != c.Bucket || strings.ContainsAny(c.Bucket, "_ /") {
		errs = append(errs, configerr.Field("bucket", c.Bucket, "must be a valid S3 bucket name: 3-63 lower-case letters, digits, dots or hyphens"))
	}
	return errors.Join(errs...)
}

// Store keeps KYC documents in one private bucket.
type Store struct {
	client *minio.Client
	bucket string
	region string
	logger *slog.Logger
	// sse is whether the server offers SSE-S3 (objects.go).
	sse atomic.Int32
	// http sends the SSE probe (objects.go).
	http *http.Client
	// bufs holds the chunk buffers of uploads (objects.go): its capacity
	// bounds the documents being sent at once, and their memory.
	bufs chan []byte
}

// DefaultUploads is how many documents a Store sends to S3 at once unless
// SetUploads says otherwise.
const DefaultUploads = 4

// SetUploads sets how many documents are sent to S3 at once (each holds
// one 5 MiB buffer); call it before the first Put.
func (s *Store) SetUploads(n int) {
	if n < 1 {
		n = 1
	}
	s.bufs = make(chan []byte, n)
	for range n {
		s.bufs <- nil
	}
}

// startCheckTimeout bounds OpenStore's check of the bucket.
const startCheckTimeout = 5 * time.Second

// OpenStore connects to the S3 server and makes sure the bucket exists. A
// server that is down at start is not fatal: the gateway must keep
// geo-blocking and proxying, and Ready reports the problem (and creates the
// bucket) until the server answers.
func OpenStore(ctx context.Context, cfg StoreConfig, logger *slog.Logger) (*Store, error) {
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.Secure,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("creating S3 client for %s: %w", cfg.Endpoint, err)
	}
	s := &Store{client: client, bucket: cfg.Bucket, region: cfg.Region, logger: logger, http: &http.Client{Timeout: startCheckTimeout}}
	s.SetUploads(DefaultUploads)
	// Bounded: the S3 client retries for minutes against a server that
	// accepts connections but does not answer, and start-up (binding the
	// listeners, geo-blocking) must not wait for it.
	cctx, cancel := context.WithTimeout(ctx, startCheckTimeout)
	defer cancel()
	if err := s.Ready(cctx); err != nil {
		logger.WarnContext(ctx, "s3 not ready at start; will retry", "endpoint", cfg.Endpoint, "bucket", cfg.Bucket, "error", err)
	}
	return s, nil
}

// Client is the underlying S3 client, for the audit archive (which writes
// its own objects); documents go through Put, Open, Presign, Delete, List.
func (s *Store) Client() *minio.Client { return s.client }

// Bucket is the bucket the documents live in.
func (s *Store) Bucket() string { return s.bucket }

// Ready reports whether the bucket can be used, creating it the first time
// the server answers without it.
func (s *Store) Ready(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("checking bucket %s: %w", s.bucket, err)
	}
	if ok {
		return s.probeSSE(ctx)
	}
	if err := s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: s.region}); err != nil {
		// Another gateway process may have created it meanwhile.
		if resp := minio.ToErrorResponse(err); resp.Code == "BucketAlreadyOwnedByYou" || resp.Code == "BucketAlreadyExists" {
			return nil
		}
		return fmt.Errorf("creating bucket %s: %w", s.bucket, err)
	}
	s.logger.InfoContext(ctx, "s3 bucket created", "bucket", s.bucket)
	return s.probeSSE(ctx)
}
