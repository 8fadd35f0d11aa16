package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpsgate/gateway/audit"
	"github.com/vpsgate/gateway/internal/testenv"
)

// TestAuditVerifyCommand runs `gateway audit verify` against a log on the
// test Redis and MinIO: sound, then with an entry deleted from Redis.
func TestAuditVerifyCommand(t *testing.T) {
	rdb := testenv.RedisClient(t)
	s3env := testenv.S3(t)
	s3, bucket := testenv.Bucket(t)
	prefix := testenv.KeyPrefix(t)
	logger := slog.New(slog.DiscardHandler)
	l, err := audit.New(rdb, prefix, logger)
	if err != nil {
		t.Fatal(err)
	}
	cfg := audit.Config{Bucket: bucket, ArchiveBatch: 2}
	cfg.SetDefaults()
	arch := audit.NewArchiver(l, s3, cfg, time.Now, logger)
	if err := arch.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := l.Append(t.Context(), audit.Entry{ID: fmt.Sprint("cmd-", i), Time: time.Now(), Actor: "system", Action: "test.step"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := arch.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	yaml := fmt.Sprintf("redis:\n  url: %s\ns3:\n  endpoint: %s\n  access_key: %s\n  secret_key: %s\n"+
		"screening:\n  hash_key: %s\n  key_prefix: %q\naudit:\n  bucket: %s\n  archive_batch: 2\n",
		testenv.RedisURL(t), s3env.Endpoint, s3env.AccessKey, s3env.SecretKey, strings.Repeat("k", 32), prefix, bucket)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	verify := func() (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"audit", "verify", "-config", file}, strings.NewReader(""), &out, &errb, nil)
		return code, out.String(), errb.String()
	}
	if code, out, errs := verify(); code != 0 || !strings.Contains(out, "audit chain OK: 3 entries") || !strings.Contains(out, "2 objects") {
		t.Fatalf("sound log: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if err := rdb.HDel(t.Context(), prefix+"{audit}:entries", "2").Err(); err != nil {
		t.Fatal(err)
	}
	code, out, errs := verify()
	if code != exitFailed || !strings.Contains(errs, `broken at seq 2 (id "cmd-1") in redis`) && !strings.Contains(errs, "broken at seq 2 in redis: missing") {
		t.Errorf("deleted entry: exit %d, want %d naming seq 2\nstdout: %s\nstderr: %s", code, exitFailed, out, errs)
	}

	for _, args := range [][]string{{"audit"}, {"audit", "check"}, {"audit", "verify", "extra"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader(""), &out, &errb, nil); code != exitUsage {
			t.Errorf("gateway %s: exit %d, want %d (%s)", strings.Join(args, " "), code, exitUsage, errb.String())
		}
	}
}
