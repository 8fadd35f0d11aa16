package audit

import (
	"errors"
	"strings"
	"time"

	"github.com/vpsgate/gateway/internal/configerr"
)

// Config is the `audit` section: where and how often the log is archived,
// and how long archived entries stay in Redis.
type Config struct {
	// Bucket is the S3 bucket (on the s3 section's server) the archive
	// objects go to. A bucket of its own, so that an operator can give it
	// object lock or versioning without touching KYC documents.
	Bucket string `yaml:"bucket"`
	// ArchivePrefix starts every archive object's name.
	ArchivePrefix string `yaml:"archive_prefix"`
	// ArchiveInterval is how often the archiver (one process at a time,
	// under a Redis lease) copies new entries to S3.
	ArchiveInterval time.Duration `yaml:"archive_interval"`
	// ArchiveBatch is the most entries one archive object holds.
	ArchiveBatch int `yaml:"archive_batch"`
	// Retention is how long an archived entry stays in Redis (where
	// GET /api/v1/audit reads) before it is trimmed; it stays in S3.
	Retention time.Duration `yaml:"retention"`
}

// Defaults.
const (
	DefaultBucket          = "audit-log"
	DefaultArchivePrefix   = "audit/"
	DefaultArchiveInterval = time.Minute
	DefaultArchiveBatch    = 1000
	DefaultRetention       = 90 * 24 * time.Hour
)

// SetDefaults fills unset values.
func (c *Config) SetDefaults() {
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.ArchivePrefix == "" {
		c.ArchivePrefix = DefaultArchivePrefix
	}
	if c.ArchiveInterval == 0 {
		c.ArchiveInterval = DefaultArchiveInterval
	}
	if c.ArchiveBatch == 0 {
		c.ArchiveBatch = DefaultArchiveBatch
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
}

// Validate reports every bad value.
func (c *Config) Validate() error {
	var errs []error
	if n := len(c.Bucket); n < 3 || n > 63 || strings.ToLower(c.Bucket) != c.Bucket || strings.ContainsAny(c.Bucket, "_ /") {
		errs = append(errs, configerr.Field("bucket", c.Bucket, "must be a valid S3 bucket name: 3-63 lower-case letters, digits, dots or hyphens"))
	}
	if c.ArchivePrefix != "" && (strings.HasPrefix(c.ArchivePrefix, "/") || !strings.HasSuffix(c.ArchivePrefix, "/")) {
		errs = append(errs, configerr.Field("archive_prefix", c.ArchivePrefix, `must end with "/" and not start with one`))
	}
	if c.ArchiveInterval < time.Second {
		errs = append(errs, configerr.Field("archive_interval", c.ArchiveInterval, "must be at least 1s"))
	}
	if c.ArchiveBatch < 1 || c.ArchiveBatch > 100000 {
		errs = append(errs, configerr.Field("archive_batch", c.ArchiveBatch, "must be from 1 to 100000"))
	}
	if c.Retention < time.Hour {
		errs = append(errs, configerr.Field("retention", c.Retention, "must be at least 1h"))
	}
	return errors.Join(errs...)
}
