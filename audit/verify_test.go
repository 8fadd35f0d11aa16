package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// tamperEnv is a log of 12 entries: 1-10 archived in objects 1-4, 5-8,
// 9-10; 11 and 12 only in Redis.
func tamperEnv(t *testing.T, b backend) *env {
	t.Helper()
	e := newEnvOn(t, b, 4)
	e.appendN(t, 10)
	e.archiveAll(t)
	for i := 11; i <= 12; i++ {
		if _, err := e.log.Append(t.Context(), entry(i, e.now)); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *env) redisLine(t *testing.T, seq int) string {
	t.Helper()
	s, err := e.rdb.HGet(t.Context(), e.log.entriesKey(), strconv.Itoa(seq)).Result()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) setRedisLine(t *testing.T, seq int, line string) {
	t.Helper()
	if err := e.rdb.HSet(t.Context(), e.log.entriesKey(), strconv.Itoa(seq), line).Err(); err != nil {
		t.Fatal(err)
	}
}

func (e *env) editObject(t *testing.T, first, last int64, edit func([]byte) []byte) {
	t.Helper()
	name := objectName(e.cfg.ArchivePrefix, first, last)
	body, err := readObject(t.Context(), e.s3, e.cfg.Bucket, name)
	if err != nil {
		t.Fatal(err)
	}
	body = edit(body)
	if _, err := e.s3.PutObject(t.Context(), e.cfg.Bucket, name, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

// mustReplace replaces the first old in s, failing when there is none, so
// that a tampering case cannot silently tamper with nothing.
func mustReplace(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("%q not in %s", old, s)
	}
	return strings.Replace(s, old, new, 1)
}

// resealed returns line with its actor changed and its hash recomputed,
// as an attacker who knows the format would write it.
func resealed(t *testing.T, line string) string {
	t.Helper()
	en, err := parseLine([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	en.Actor = "officer:mallory"
	if en.Hash, err = en.ComputeHash(); err != nil {
		t.Fatal(err)
	}
	out, err := en.line()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestVerifyNamesTheFirstBrokenLink(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		tamper  func(t *testing.T, e *env)
		seq     int64
		where   string // substring of BrokenError.Where
		problem string // substring of BrokenError.Problem
	}{
		{
			name: "edited entry in redis",
			tamper: func(t *testing.T, e *env) {
				e.setRedisLine(t, 6, mustReplace(t, e.redisLine(t, 6), `"addr":"192.0.2.0/24"`, `"addr":"198.51.100.0/24"`))
			},
			seq: 6, where: "redis", problem: "edited",
		},
		{
			name: "edited unarchived entry in redis",
			tamper: func(t *testing.T, e *env) {
				e.setRedisLine(t, 11, mustReplace(t, e.redisLine(t, 11), `"n":11`, `"n":0`))
			},
			seq: 11, where: "redis", problem: "edited",
		},
		{
			name: "edited and resealed entry in redis",
			tamper: func(t *testing.T, e *env) {
				e.setRedisLine(t, 11, resealed(t, e.redisLine(t, 11)))
			},
			seq: 12, where: "redis", problem: "prev",
		},
		{
			name: "deleted entry in redis",
			tamper: func(t *testing.T, e *env) {
				if err := e.rdb.HDel(t.Context(), e.log.entriesKey(), "7").Err(); err != nil {
					t.Fatal(err)
				}
			},
			seq: 7, where: "redis", problem: "missing",
		},
		{
			name: "reordered pair in redis",
			tamper: func(t *testing.T, e *env) {
				a, b := e.redisLine(t, 3), e.redisLine(t, 4)
				e.setRedisLine(t, 3, b)
				e.setRedisLine(t, 4, a)
			},
			seq: 3, where: "redis", problem: "holds seq 4",
		},
		{
			name: "entry outside the chain in redis",
			tamper: func(t *testing.T, e *env) {
				e.setRedisLine(t, 99, e.redisLine(t, 12))
			},
			seq: 12, where: "redis", problem: "outside the chain",
		},
		{
			name: "planted id in redis",
			tamper: func(t *testing.T, e *env) {
				if err := e.rdb.HSet(t.Context(), e.log.idsKey(), "order.cleared:o-9", "3").Err(); err != nil {
					t.Fatal(err)
				}
			},
			seq: 12, where: "redis", problem: "id index holds 13 ids",
		},
		{
			name: "redirected id in redis",
			tamper: func(t *testing.T, e *env) {
				if err := e.rdb.HSet(t.Context(), e.log.idsKey(), "e-4", "9").Err(); err != nil {
					t.Fatal(err)
				}
			},
			seq: 4, where: "redis", problem: "maps this id to 9",
		},
		{
			name: "head moved in redis",
			tamper: func(t *testing.T, e *env) {
				if err := e.rdb.HSet(t.Context(), e.log.headKey(), "hash", strings.Repeat("0", 64)).Err(); err != nil {
					t.Fatal(err)
				}
			},
			seq: 12, where: "redis", problem: "head's hash",
		},
		{
			name: "edited s3 object",
			tamper: func(t *testing.T, e *env) {
				e.editObject(t, 5, 8, func(b []byte) []byte {
					return []byte(mustReplace(t, string(b), `"action":"order.reviewed"`, `"action":"order.created"`))
				})
			},
			seq: 5, where: "s3 ", problem: "edited",
		},
		{
			name: "edited and resealed s3 entry",
			tamper: func(t *testing.T, e *env) {
				e.editObject(t, 5, 8, func(b []byte) []byte {
					lines := strings.SplitAfter(string(b), "\n")
					lines[0] = resealed(t, strings.TrimSuffix(lines[0], "\n")) + "\n"
					return []byte(strings.Join(lines, ""))
				})
			},
			// Redis still has the original seq 5.
			seq: 5, where: "00000000000000000005-00000000000000000008.jsonl", problem: "Redis",
		},
		{
			name: "truncated s3 object",
			tamper: func(t *testing.T, e *env) {
				e.editObject(t, 5, 8, func(b []byte) []byte {
					i := bytes.LastIndexByte(b[:len(b)-1], '\n')
					return b[:i+1]
				})
			},
			seq: 8, where: "00000000000000000005-00000000000000000008.jsonl", problem: "holds 3 lines",
		},
		{
			name: "s3 object cut mid-line",
			tamper: func(t *testing.T, e *env) {
				e.editObject(t, 9, 10, func(b []byte) []byte { return b[:len(b)-20] })
			},
			seq: 10, where: "s3 ", problem: "truncated",
		},
		{
			name: "last s3 object removed",
			tamper: func(t *testing.T, e *env) {
				if err := e.s3.RemoveObject(t.Context(), e.cfg.Bucket, objectName(e.cfg.ArchivePrefix, 9, 10), minio.RemoveObjectOptions{}); err != nil {
					t.Fatal(err)
				}
			},
			seq: 9, where: "s3 ", problem: "archive objects were removed",
		},
		{
			name: "overlapping s3 object that differs",
			tamper: func(t *testing.T, e *env) {
				// A second archiver's object 5-6 as it should be, and the
				// first's 5-8 with seq 6 resealed: the repeat differs.
				body, err := readObject(t.Context(), e.s3, e.cfg.Bucket, objectName(e.cfg.ArchivePrefix, 5, 8))
				if err != nil {
					t.Fatal(err)
				}
				lines := strings.SplitAfter(string(body), "\n")
				repeat := lines[0] + lines[1]
				if _, err := e.s3.PutObject(t.Context(), e.cfg.Bucket, objectName(e.cfg.ArchivePrefix, 5, 6), strings.NewReader(repeat), int64(len(repeat)), minio.PutObjectOptions{}); err != nil {
					t.Fatal(err)
				}
				e.editObject(t, 5, 8, func(b []byte) []byte {
					lines[1] = resealed(t, strings.TrimSuffix(lines[1], "\n")) + "\n"
					return []byte(strings.Join(lines, ""))
				})
			},
			seq: 6, where: "00000000000000000005-00000000000000000008.jsonl", problem: "differs",
		},
		{
			name: "middle s3 object removed",
			tamper: func(t *testing.T, e *env) {
				if err := e.s3.RemoveObject(t.Context(), e.cfg.Bucket, objectName(e.cfg.ArchivePrefix, 5, 8), minio.RemoveObjectOptions{}); err != nil {
					t.Fatal(err)
				}
			},
			seq: 5, where: "s3 ", problem: "missing from the archive",
		},
	}
	for _, tt := range tests {
		for _, b := range backends {
			t.Run(tt.name+"/"+b.name, func(t *testing.T) {
				t.Parallel()
				e := tamperEnv(t, b)
				if _, err := e.verify(t); err != nil {
					t.Fatalf("Verify before tampering: %v", err)
				}
				tt.tamper(t, e)
				_, err := e.verify(t)
				be, ok := errors.AsType[*BrokenError](err)
				if !ok {
					t.Fatalf("Verify = %v, want a *BrokenError", err)
				}
				if be.Seq != tt.seq || !strings.Contains(be.Where, tt.where) || !strings.Contains(be.Problem, tt.problem) {
					t.Errorf("Verify = %v\nwant seq %d, where ~ %q, problem ~ %q", be, tt.seq, tt.where, tt.problem)
				}
			})
		}
	}
}

func TestVerifySummary(t *testing.T) {
	t.Parallel()
	e := tamperEnv(t, standalone)
	sum, err := e.verify(t)
	if err != nil {
		t.Fatal(err)
	}
	if sum.S3Objects != 3 || sum.S3Last != 10 || sum.Head.Seq != 12 || sum.RedisFirst != 1 || sum.CheckedBoth != 10 {
		t.Errorf("Summary = %+v, want 3 objects to 10, head 12, Redis from 1, 10 compared", sum)
	}
	// Failing to read is not a verdict.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Verify(ctx, e.log, e.s3, e.cfg); err == nil || errors.As(err, new(*BrokenError)) {
		t.Errorf("Verify with a cancelled context = %v, want a read error", err)
	}
}

// Two archivers that both wrote from the same seq (one stalled past its
// lease) leave overlapping objects with the same entries: not tampering.
func TestVerifyAcceptsRepeatedArchiveObjects(t *testing.T) {
	t.Parallel()
	e := tamperEnv(t, standalone)
	body, err := readObject(t.Context(), e.s3, e.cfg.Bucket, objectName(e.cfg.ArchivePrefix, 5, 8))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(body), "\n")
	for _, o := range []struct {
		first, last int64
		body        string
	}{
		{5, 6, lines[0] + lines[1]},
		{5, 7, lines[0] + lines[1] + lines[2]},
	} {
		if _, err := e.s3.PutObject(t.Context(), e.cfg.Bucket, objectName(e.cfg.ArchivePrefix, o.first, o.last), strings.NewReader(o.body), int64(len(o.body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := e.verify(t)
	if err != nil {
		t.Fatalf("Verify with repeated objects: %v", err)
	}
	if sum.S3Objects != 5 || sum.S3Last != 10 {
		t.Errorf("Summary = %+v, want 5 objects to 10", sum)
	}
}

// Verify runs against a live log: appends, archiving and trimming going on
// meanwhile must never read as a broken chain.
func TestVerifyWhileTheLogIsBusy(t *testing.T) {
	t.Parallel()
	onBackends(t, 5, func(t *testing.T, e *env) {
		// Every archived entry is past the retention: trimmed at once.
		e.arch.now = func() time.Time { return e.now.Add(100 * 365 * 24 * time.Hour) }
		ctx, stop := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		errs := make(chan error, 3)
		var appenders sync.WaitGroup
		for w := range 2 {
			l := e.newLog(t, e.client())
			appenders.Go(func() {
				for i := 0; i < 300 && ctx.Err() == nil; i++ {
					en := entry(i, e.now)
					en.ID = fmt.Sprintf("w%d-%d", w, i)
					if _, err := l.Append(ctx, en); err != nil && ctx.Err() == nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := e.arch.Tick(ctx); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
			}
		})
		appending := make(chan struct{})
		go func() { appenders.Wait(); close(appending) }()
		for busy := true; busy; {
			select {
			case <-appending:
				busy = false
			default:
			}
			if _, err := e.verify(t); err != nil {
				t.Errorf("Verify of a busy log: %v", err)
				break
			}
		}
		stop()
		<-appending
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if head, _ := e.log.Head(t.Context()); head.Trimmed == 0 {
			t.Errorf("nothing was trimmed during the test (head %+v): it did not test trimming", head)
		}
	})
}
