package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/audit"
	"github.com/vpsgate/gateway/internal/config"
)

// auditCmd is `gateway audit verify`: it checks the audit log's hash chain
// in Redis and in the S3 archive, exits 0 with a short summary when it is
// sound, and 1 naming the first broken link otherwise.
func auditCmd(ctx context.Context, e *cmdEnv) error {
	if len(e.args) == 0 || e.args[0] != "verify" {
		if len(e.args) > 0 && (e.args[0] == "-h" || e.args[0] == "-help" || e.args[0] == "--help") {
			return e.parse()
		}
		return usageError{"usage: gateway audit verify -config FILE"}
	}
	e.args = e.args[1:]
	if err := e.parse(); err != nil {
		return err
	}
	cfg, err := config.Load(*e.configPath, e.env)
	if err != nil {
		return err
	}
	if emb := cfg.Embedded(); emb.Redis || emb.S3 {
		return usageError{"audit verify needs redis.url and s3.endpoint: in embedded mode the log lives inside the serving process"}
	}
	ropts, err := cfg.Redis.UniversalOptions()
	if err != nil {
		return fmt.Errorf("redis options: %w", err)
	}
	rdb := redis.NewUniversalClient(ropts)
	defer rdb.Close()
	s3, err := minio.New(cfg.S3.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.S3.AccessKey, cfg.S3.SecretKey, ""),
		Secure: cfg.S3.Secure,
		Region: cfg.S3.Region,
	})
	if err != nil {
		return fmt.Errorf("creating S3 client for %s: %w", cfg.S3.Endpoint, err)
	}
	log, err := audit.New(rdb, cfg.Screening.KeyPrefix, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	sum, err := audit.Verify(ctx, log, s3, cfg.Audit)
	if err != nil {
		return err
	}
	h := sum.Head
	fmt.Fprintf(e.stdout, "audit chain OK: %d entries, head hash %s\n", h.Seq, emptyAs(h.Hash, "(none)"))
	if sum.RedisFirst > 0 {
		fmt.Fprintf(e.stdout, "  redis: seq %d-%d (archived up to %d, trimmed up to %d)\n", sum.RedisFirst, h.Seq, h.Archived, h.Trimmed)
	} else {
		fmt.Fprintf(e.stdout, "  redis: no entries (archived up to %d, trimmed up to %d)\n", h.Archived, h.Trimmed)
	}
	fmt.Fprintf(e.stdout, "  s3:    %d objects in %s/%s, seq 1-%d; %d entries compared with redis\n",
		sum.S3Objects, cfg.Audit.Bucket, cfg.Audit.ArchivePrefix, sum.S3Last, sum.CheckedBoth)
	return nil
}

func emptyAs(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
