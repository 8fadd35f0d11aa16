package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7"
)

func (e *env) objects(t *testing.T) []string {
	t.Helper()
	var names []string
	for o := range e.s3.ListObjects(t.Context(), e.cfg.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		names = append(names, strings.TrimPrefix(o.Key, e.cfg.ArchivePrefix))
	}
	return names
}

func TestArchiveWritesJSONLinesInBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	want := e.appendN(t, 10)
	if err := e.arch.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantNames := []string{
		"00000000000000000001-00000000000000000004.jsonl",
		"00000000000000000005-00000000000000000008.jsonl",
		"00000000000000000009-00000000000000000010.jsonl",
	}
	if diff := cmp.Diff(wantNames, e.objects(t)); diff != "" {
		t.Errorf("archive objects (-want +got):\n%s", diff)
	}
	body, err := readObject(t.Context(), e.s3, e.cfg.Bucket, e.cfg.ArchivePrefix+wantNames[1])
	if err != nil {
		t.Fatal(err)
	}
	var got []Entry
	for _, l := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		en, err := parseLine([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, en)
	}
	if diff := cmp.Diff(want[4:8], got); diff != "" {
		t.Errorf("object 5-8 (-appended +archived):\n%s", diff)
	}
	if head, _ := e.log.Head(t.Context()); head.Archived != 10 {
		t.Errorf("archived mark = %d, want 10", head.Archived)
	}
	// Nothing new: nothing written.
	if n, err := e.arch.ArchiveOnce(t.Context()); n != 0 || err != nil {
		t.Errorf("ArchiveOnce with nothing new = %d, %v", n, err)
	}
}

// A process that died after writing an object and before moving the mark:
// the next run adopts the object instead of writing an overlapping one.
func TestArchiveAdoptsAnObjectLeftByACrash(t *testing.T) {
	t.Parallel()
	onBackends(t, 4, func(t *testing.T, e *env) {
		e.appendN(t, 3)
		e.archiveAll(t)
		e.appendN2(t, 4, 6)
		// The crashed run: object 4-6 written, mark still at 3.
		if _, err := e.arch.ArchiveOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := e.rdb.HSet(t.Context(), e.log.headKey(), "archived", 3).Err(); err != nil {
			t.Fatal(err)
		}
		e.appendN2(t, 7, 8) // the head moves on meanwhile
		e.archiveAll(t)
		want := []string{
			"00000000000000000001-00000000000000000003.jsonl",
			"00000000000000000004-00000000000000000006.jsonl",
			"00000000000000000007-00000000000000000008.jsonl",
		}
		if diff := cmp.Diff(want, e.objects(t)); diff != "" {
			t.Errorf("archive objects (-want +got):\n%s", diff)
		}
		if _, err := e.verify(t); err != nil {
			t.Errorf("Verify: %v", err)
		}
	})
}

func (e *env) appendN2(t *testing.T, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if _, err := e.log.Append(t.Context(), entry(i, e.now)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTrimKeepsTheChainVerifiable(t *testing.T) {
	t.Parallel()
	onBackends(t, 3, func(t *testing.T, e *env) {
		e.appendN(t, 8)
		e.archiveAll(t)
		e.appendN2(t, 9, 10) // not archived: never trimmed, however old
		// Entries are n minutes after e.now; move the clock so that 1-5 are
		// older than the retention.
		e.now = e.now.Add(e.cfg.Retention + 5*time.Minute + 30*time.Second)
		n, err := e.arch.Trim(t.Context())
		if err != nil || n != 5 {
			t.Fatalf("Trim = %d, %v; want 5", n, err)
		}
		head, _ := e.log.Head(t.Context())
		if head.Trimmed != 5 || head.Archived != 8 || head.Seq != 10 {
			t.Errorf("head = %+v, want trimmed 5, archived 8, seq 10", head)
		}
		sum, err := e.verify(t)
		if err != nil {
			t.Fatalf("Verify after trimming: %v", err)
		}
		if sum.RedisFirst != 6 || sum.CheckedBoth != 3 {
			t.Errorf("Summary = %+v, want Redis from 6, 3 compared", sum)
		}
		// What is trimmed is gone from Redis's indexes and ids, not from reads
		// of what remains.
		p, err := e.log.Query(t.Context(), Query{Oldest: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := seqs(p.Entries); !slices.Equal(got, []int64{6, 7, 8, 9, 10}) {
			t.Errorf("Query after trim = %v, want 6..10", got)
		}
		for i := range 4 {
			k := e.log.indexKey("order", fmt.Sprintf("o-%d", i))
			if n, err := e.rdb.ZCount(t.Context(), k, "-inf", "5").Result(); err != nil || n != 0 {
				t.Errorf("index %s still holds %d trimmed seqs (%v)", k, n, err)
			}
		}
		if n, _ := e.rdb.HLen(t.Context(), e.log.idsKey()).Result(); n != 5 {
			t.Errorf("ids hash holds %d ids, want 5", n)
		}
		// Trimming stops at what is archived, and again at nothing.
		e.now = e.now.Add(365 * 24 * time.Hour)
		if n, err := e.arch.Trim(t.Context()); n != 3 || err != nil {
			t.Errorf("second Trim = %d, %v; want 3 (up to the archived mark)", n, err)
		}
		if _, err := e.verify(t); err != nil {
			t.Errorf("Verify after trimming to the mark: %v", err)
		}
		// The anchor is checked against the archive.
		if err := e.rdb.HSet(t.Context(), e.log.headKey(), "trimmed_hash", strings.Repeat("a", 64)).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := e.verify(t); err == nil || !strings.Contains(err.Error(), "trim anchor") {
			t.Errorf("Verify with a forged anchor = %v, want the trim anchor named", err)
		}
	})
}

// Redis loses everything: the chain goes on from the archive.
func TestRedisDataLossContinuesFromTheArchive(t *testing.T) {
	t.Parallel()
	onBackends(t, 4, func(t *testing.T, e *env) {
		archived := e.appendN(t, 6)
		e.archiveAll(t)
		e.appendN2(t, 7, 7) // lost with Redis
		// Every key of the log (one slot, so one DEL), as a restart of a
		// Redis without persistence leaves it.
		keys := []string{e.log.headKey(), e.log.entriesKey(), e.log.idsKey(), e.log.leaseKey()}
		for i := 1; i <= 7; i++ {
			keys = append(keys, e.log.indexKeys(entry(i, e.now))...)
		}
		if err := e.rdb.Del(t.Context(), keys...).Err(); err != nil {
			t.Fatal(err)
		}
		if n, err := e.rdb.Exists(t.Context(), e.log.allKey()).Result(); err != nil || n != 0 {
			t.Fatalf("log keys left after deleting them: %d (%v)", n, err)
		}
		if _, err := e.log.Append(t.Context(), entry(8, e.now)); err == nil {
			t.Fatal("Append on an empty Redis before Init succeeded: a second chain would start at 1")
		}
		if err := e.arch.Tick(t.Context()); err != nil {
			t.Fatal(err)
		}
		got, err := e.log.Append(t.Context(), entry(8, e.now))
		if err != nil {
			t.Fatal(err)
		}
		if got.Seq != 7 || got.Prev != archived[5].Hash {
			t.Errorf("first entry after the loss: seq %d prev %s, want seq 7 prev %s", got.Seq, got.Prev, archived[5].Hash)
		}
		e.archiveAll(t)
		sum, err := e.verify(t)
		if err != nil {
			t.Fatalf("Verify after the loss: %v", err)
		}
		if sum.S3Last != 7 || sum.Head.Trimmed != 6 {
			t.Errorf("Summary = %+v, want archive to 7, anchor 6", sum)
		}
	})
}

func TestArchiveLease(t *testing.T) {
	t.Parallel()
	onBackends(t, 100, func(t *testing.T, e *env) {
		e.appendN(t, 2)
		other := NewArchiver(e.log, e.s3, e.cfg, time.Now, discard())
		if err := e.arch.Tick(t.Context()); err != nil {
			t.Fatal(err)
		}
		e.appendN2(t, 3, 3)
		// The lease is held: the other process's tick does nothing.
		if err := other.Tick(t.Context()); err != nil {
			t.Fatal(err)
		}
		if head, _ := e.log.Head(t.Context()); head.Archived != 2 {
			t.Errorf("archived = %d after a tick without the lease, want 2", head.Archived)
		}
		if err := e.rdb.Del(t.Context(), e.log.leaseKey()).Err(); err != nil { // the holder died and its lease ran out
			t.Fatal(err)
		}
		if err := other.Tick(t.Context()); err != nil {
			t.Fatal(err)
		}
		if head, _ := e.log.Head(t.Context()); head.Archived != 3 {
			t.Errorf("archived = %d after the other took the lease, want 3", head.Archived)
		}
	})
}

func seqs(es []Entry) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

// Run archives what is appended while it runs and gives the lease up when
// it stops, so that another process need not wait for it to expire.
func TestRunArchivesAndReleasesTheLease(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 100)
	e.arch.cfg.ArchiveInterval = 10 * time.Millisecond
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); e.arch.Run(ctx) }()
	e.appendN(t, 3)
	deadline := time.Now().Add(30 * time.Second)
	for {
		head, err := e.log.Head(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if head.Archived == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("archived mark still %d after 30s", head.Archived)
		}
		if err := sleep(t.Context(), 10*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	<-done
	if n, err := e.rdb.Exists(t.Context(), e.log.leaseKey()).Result(); err != nil || n != 0 {
		t.Errorf("lease left after Run returned: %d (%v)", n, err)
	}
}
