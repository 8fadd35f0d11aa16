package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/audit"
	"github.com/vpsgate/gateway/internal/testenv"
)

// auditFixture is a log of 5 entries on the test Redis and MinIO, 1-4
// archived in objects of 2, and a config file that points at it.
type auditFixture struct {
	rdb     *redis.Client
	s3      *minio.Client
	bucket  string
	entries string // the Redis hash of stored entries
	file    string
}

func newAuditFixture(t *testing.T) *auditFixture {
	t.Helper()
	f := &auditFixture{rdb: testenv.RedisClient(t)}
	s3env := testenv.S3(t)
	f.s3, f.bucket = testenv.Bucket(t)
	prefix := testenv.KeyPrefix(t)
	f.entries = prefix + "{audit}:entries"
	logger := slog.New(slog.DiscardHandler)
	l, err := audit.New(f.rdb, prefix, logger)
	if err != nil {
		t.Fatal(err)
	}
	cfg := audit.Config{Bucket: f.bucket, ArchiveBatch: 2}
	cfg.SetDefaults()
	arch := audit.NewArchiver(l, f.s3, cfg, time.Now, logger)
	if err := arch.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		if i == 5 {
			if err := arch.Tick(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := l.Append(t.Context(), audit.Entry{ID: fmt.Sprint("cmd-", i), Time: time.Now(), Actor: "system", Action: fmt.Sprint("test.step", i)}); err != nil {
			t.Fatal(err)
		}
	}
	f.file = filepath.Join(t.TempDir(), "gateway.yaml")
	yaml := fmt.Sprintf("redis:\n  url: %s\ns3:\n  endpoint: %s\n  access_key: %s\n  secret_key: %s\n"+
		"screening:\n  hash_key: %s\n  key_prefix: %q\naudit:\n  bucket: %s\n  archive_batch: 2\n",
		testenv.RedisURL(t), s3env.Endpoint, s3env.AccessKey, s3env.SecretKey, strings.Repeat("k", 32), prefix, f.bucket)
	if err := os.WriteFile(f.file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *auditFixture) object(first, last int) string {
	return fmt.Sprintf("audit/%020d-%020d.jsonl", first, last)
}

func (f *auditFixture) editObject(t *testing.T, name string, edit func(string) string) {
	t.Helper()
	o, err := f.s3.GetObject(t.Context(), f.bucket, name, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(o)
	o.Close()
	if err != nil {
		t.Fatal(err)
	}
	body := edit(string(b))
	if _, err := f.s3.PutObject(t.Context(), f.bucket, name, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (f *auditFixture) verify() (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"audit", "verify", "-config", f.file}, strings.NewReader(""), &out, &errb, nil)
	return code, out.String(), errb.String()
}

// TestAuditVerifyCommand runs `gateway audit verify` on a sound log and on
// logs tampered with in each way the issue names: exit 1 naming the seq.
func TestAuditVerifyCommand(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, f *auditFixture)
		want   string // in stderr
	}{
		{"edited entry", func(t *testing.T, f *auditFixture) {
			line := f.rdb.HGet(t.Context(), f.entries, "5").Val()
			f.rdb.HSet(t.Context(), f.entries, "5", strings.Replace(line, "test.step5", "test.stepX", 1))
		}, `broken at seq 5 (id "cmd-5") in redis: hash`},
		{"deleted entry", func(t *testing.T, f *auditFixture) {
			f.rdb.HDel(t.Context(), f.entries, "2")
		}, "broken at seq 2 in redis: missing"},
		{"reordered pair", func(t *testing.T, f *auditFixture) {
			a, b := f.rdb.HGet(t.Context(), f.entries, "3").Val(), f.rdb.HGet(t.Context(), f.entries, "4").Val()
			f.rdb.HSet(t.Context(), f.entries, "3", b, "4", a)
		}, `broken at seq 3 (id "cmd-4") in redis: position 3 holds seq 4`},
		{"edited s3 object", func(t *testing.T, f *auditFixture) {
			f.editObject(t, f.object(3, 4), func(s string) string { return strings.Replace(s, "test.step4", "test.stepX", 1) })
		}, `broken at seq 4 (id "cmd-4") in s3 ` + "BUCKET/" + "audit/00000000000000000003-00000000000000000004.jsonl: hash"},
		{"truncated archive", func(t *testing.T, f *auditFixture) {
			f.editObject(t, f.object(3, 4), func(s string) string { return s[:strings.IndexByte(s, '\n')+1] })
		}, "broken at seq 4 in s3 BUCKET/audit/00000000000000000003-00000000000000000004.jsonl: the object holds 1 lines, its name says 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAuditFixture(t)
			if code, out, errs := f.verify(); code != 0 || !strings.Contains(out, "audit chain OK: 5 entries") || !strings.Contains(out, "2 objects") {
				t.Fatalf("sound log: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
			}
			tt.tamper(t, f)
			want := strings.ReplaceAll(tt.want, "BUCKET", f.bucket)
			if code, out, errs := f.verify(); code != exitFailed || !strings.Contains(errs, want) {
				t.Errorf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", code, exitFailed, want, out, errs)
			}
		})
	}
}

func TestAuditCommandUsage(t *testing.T) {
	for _, args := range [][]string{{"audit"}, {"audit", "check"}, {"audit", "verify", "extra"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader(""), &out, &errb, nil); code != exitUsage {
			t.Errorf("gateway %s: exit %d, want %d (%s)", strings.Join(args, " "), code, exitUsage, errb.String())
		}
	}
	// Embedded mode has no log outside the serving process to check.
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"audit", "verify"}, strings.NewReader(""), &out, &errb, nil); code != exitUsage || !strings.Contains(errb.String(), "needs redis.url and s3.endpoint") {
		t.Errorf("audit verify without redis.url: exit %d, %s", code, errb.String())
	}
}
