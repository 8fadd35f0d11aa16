package kyc

import (
	"errors"
	"time"

	"github.com/vpsgate/gateway/internal/configerr"
)

// Config is the `kyc` section: the customer's upload, the officers' case
// workflow and the documents' retention.
type Config struct {
	// MaxFileBytes bounds one document (front, back or selfie): larger is
	// 413. Default 10 MiB.
	MaxFileBytes int64 `yaml:"max_file_bytes"`
	// MaxParts bounds the parts of one upload (fields and files). Default 8.
	MaxParts int `yaml:"max_parts"`
	// MaxFieldBytes bounds one text field (legal_name, document_type).
	// Default 1024.
	MaxFieldBytes int `yaml:"max_field_bytes"`
	// Uploads is how many documents are sent to S3 at once by one process
	// (each holds a 5 MiB buffer; others wait). Default 4.
	Uploads int `yaml:"uploads"`
	// LinkTTL is how long a KYC link works. Default 168h (7 days, the
	// default hold).
	LinkTTL time.Duration `yaml:"link_ttl"`
	// ClaimTTL is how long an officer's claim on a case lasts unless
	// renewed. Default 15m.
	ClaimTTL time.Duration `yaml:"claim_ttl"`
	// Retention is how long documents are kept after a decision; then
	// they are deleted and the case is marked redacted. Default 720h.
	Retention time.Duration `yaml:"retention"`
	// OrphanGrace is how old an object must be, with no case naming it,
	// before the worker removes it (a failed upload's leftovers). Default 1h.
	OrphanGrace time.Duration `yaml:"orphan_grace"`
	// WorkerInterval is how often the retention worker runs. Default 1m.
	WorkerInterval time.Duration `yaml:"worker_interval"`
}

// Defaults.
const (
	defaultMaxFileBytes   = 10 << 20
	defaultMaxParts       = 8
	defaultMaxFieldBytes  = 1024
	defaultLinkTTL        = 7 * 24 * time.Hour
	defaultClaimTTL       = 15 * time.Minute
	defaultRetention      = 30 * 24 * time.Hour
	defaultOrphanGrace    = time.Hour
	defaultWorkerInterval = time.Minute
)

// SetDefaults fills unset values.
func (c *Config) SetDefaults() {
	if c.MaxFileBytes == 0 {
		c.MaxFileBytes = defaultMaxFileBytes
	}
	if c.MaxParts == 0 {
		c.MaxParts = defaultMaxParts
	}
	if c.MaxFieldBytes == 0 {
		c.MaxFieldBytes = defaultMaxFieldBytes
	}
	if c.Uploads == 0 {
		c.Uploads = DefaultUploads
	}
	if c.LinkTTL == 0 {
		c.LinkTTL = defaultLinkTTL
	}
	if c.ClaimTTL == 0 {
		c.ClaimTTL = defaultClaimTTL
	}
	if c.Retention == 0 {
		c.Retention = defaultRetention
	}
	if c.OrphanGrace == 0 {
		c.OrphanGrace = defaultOrphanGrace
	}
	if c.WorkerInterval == 0 {
		c.WorkerInterval = defaultWorkerInterval
	}
}

// Validate reports every bad value.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxFileBytes < 1024 || c.MaxFileBytes > 100<<20 {
		errs = append(errs, configerr.Field("max_file_bytes", c.MaxFileBytes, "must be between 1024 and 104857600"))
	}
	if c.MaxParts < 3 || c.MaxParts > 32 {
		errs = append(errs, configerr.Field("max_parts", c.MaxParts, "must be between 3 and 32"))
	}
	if c.MaxFieldBytes < 64 || c.MaxFieldBytes > 64<<10 {
		errs = append(errs, configerr.Field("max_field_bytes", c.MaxFieldBytes, "must be between 64 and 65536"))
	}
	if c.Uploads < 1 || c.Uploads > 256 {
		errs = append(errs, configerr.Field("uploads", c.Uploads, "must be between 1 and 256"))
	}
	if c.LinkTTL < time.Minute || c.LinkTTL > 30*24*time.Hour {
		errs = append(errs, configerr.Field("link_ttl", c.LinkTTL, "must be between 1m and 720h"))
	}
	if c.ClaimTTL < 10*time.Second || c.ClaimTTL > 24*time.Hour {
		errs = append(errs, configerr.Field("claim_ttl", c.ClaimTTL, "must be between 10s and 24h"))
	}
	if c.Retention < time.Second {
		errs = append(errs, configerr.Field("retention", c.Retention, "must be at least 1s"))
	}
	if c.OrphanGrace < time.Minute {
		errs = append(errs, configerr.Field("orphan_grace", c.OrphanGrace, "must be at least 1m (an upload in progress is not an orphan)"))
	}
	if c.WorkerInterval < time.Second {
		errs = append(errs, configerr.Field("worker_interval", c.WorkerInterval, "must be at least 1s"))
	}
	return errors.Join(errs...)
}

// maxBody bounds a whole upload: every file at its limit plus the fields
// and multipart framing. A larger Content-Length is refused unread.
func (c *Config) maxBody() int64 {
	return 3*c.MaxFileBytes + int64(c.MaxParts)*(int64(c.MaxFieldBytes)+4096)
}
