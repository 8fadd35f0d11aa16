package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"
)

// Archiver copies the log to S3 as JSON Lines objects and trims archived
// entries from Redis after the retention. Every gateway process runs one;
// a lease in Redis lets one of them work at a time.
type Archiver struct {
	log    *Log
	s3     *minio.Client
	cfg    Config
	now    func() time.Time
	logger *slog.Logger
	token  string // this archiver's lease value
}

// NewArchiver returns an archiver of log into cfg.Bucket (created when
// missing) on the S3 server of client.
func NewArchiver(log *Log, client *minio.Client, cfg Config, now func() time.Time, logger *slog.Logger) *Archiver {
	return &Archiver{log: log, s3: client, cfg: cfg, now: now, logger: logger, token: rand.Text()}
}

// objectName names the archive object of seqs first..last. Zero padding
// makes the lexical order of a listing the order of the chain.
func objectName(prefix string, first, last int64) string {
	return fmt.Sprintf("%s%020d-%020d.jsonl", prefix, first, last)
}

// parseObjectName is objectName's inverse.
func parseObjectName(prefix, name string) (first, last int64, ok bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, 0, false
	}
	rest, ok = strings.CutSuffix(rest, ".jsonl")
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(rest, "-")
	if !ok || len(a) != 20 || len(b) != 20 {
		return 0, 0, false
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first < 1 || last < first {
		return 0, 0, false
	}
	return first, last, true
}

// Ready reports whether the archive bucket can be used, creating it the
// first time the server answers without it.
func (a *Archiver) Ready(ctx context.Context) error {
	ok, err := a.s3.BucketExists(ctx, a.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("checking bucket %s: %w", a.cfg.Bucket, err)
	}
	if ok {
		return nil
	}
	if err := a.s3.MakeBucket(ctx, a.cfg.Bucket, minio.MakeBucketOptions{}); err != nil {
		if c := minio.ToErrorResponse(err).Code; c == "BucketAlreadyOwnedByYou" || c == "BucketAlreadyExists" {
			return nil
		}
		return fmt.Errorf("creating bucket %s: %w", a.cfg.Bucket, err)
	}
	return nil
}

// initScript seeds an empty head, once: from the archive's last entry, or
// from nothing. KEYS: head. ARGV: seq, hash.
var initScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'init') == 1 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('audit head exists without init mark') end
redis.call('HSET', KEYS[1], 'init', '1', 'seq', ARGV[1], 'hash', ARGV[2],
  'archived', ARGV[1], 'trimmed', ARGV[1], 'trimmed_hash', ARGV[2])
return 1
`)

// Init makes the log ready for Append. On a Redis that holds no head (a
// new installation, or one that lost its data) it continues the chain
// from the last archived entry, so that a data loss never starts a second
// chain at seq 1 that would collide with the archive. Entries appended
// after the last archiving and before the loss are gone; the chain the
// archive and Redis hold stays verifiable. Every process calls it at start
// and the archiver on every tick; only the first call on an empty head
// does anything.
func (a *Archiver) Init(ctx context.Context) error {
	n, err := a.log.rdb.Exists(ctx, a.log.headKey()).Result()
	if err != nil {
		return fmt.Errorf("initializing audit head: %w", classify(err))
	}
	if n == 1 {
		return nil
	}
	if err := a.Ready(ctx); err != nil {
		return fmt.Errorf("initializing audit head: %w", err)
	}
	var lastKey string
	for obj := range a.s3.ListObjects(ctx, a.cfg.Bucket, minio.ListObjectsOptions{Prefix: a.cfg.ArchivePrefix, Recursive: true}) {
		if obj.Err != nil {
			return fmt.Errorf("initializing audit head: listing the archive: %w", obj.Err)
		}
		if _, _, ok := parseObjectName(a.cfg.ArchivePrefix, obj.Key); ok {
			lastKey = obj.Key // listings are in name order, which is seq order
		}
	}
	var seq int64
	var hash string
	if lastKey != "" {
		body, err := readObject(ctx, a.s3, a.cfg.Bucket, lastKey)
		if err != nil {
			return fmt.Errorf("initializing audit head: %w", err)
		}
		lines := bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
		e, err := parseLine(lines[len(lines)-1])
		if err != nil {
			return fmt.Errorf("initializing audit head from %s: %w", lastKey, err)
		}
		seq, hash = e.Seq, e.Hash
	}
	done, err := initScript.Run(ctx, a.log.rdb, []string{a.log.headKey()}, seq, hash).Bool()
	if err != nil {
		return fmt.Errorf("initializing audit head: %w", classify(err))
	}
	if done && seq > 0 {
		a.logger.WarnContext(ctx, "audit chain continued from the archive: Redis held no audit head", "seq", seq, "object", lastKey)
	}
	return nil
}

// leaseScript takes the lease or renews this archiver's own.
// KEYS: lease. ARGV: token, ttl in ms.
var leaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// releaseScript gives the lease up if it is still this archiver's.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// retryAfterFailure is how soon Run tries again after a failed tick.
const retryAfterFailure = 5 * time.Second

// Run archives and trims every cfg.ArchiveInterval until ctx ends,
// whenever this process holds the lease. A process killed while holding it
// stalls the work for one lease time at most.
func (a *Archiver) Run(ctx context.Context) {
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = releaseScript.Run(ctx, a.log.rdb, []string{a.log.leaseKey()}, a.token).Err()
	}()
	for {
		wait := a.cfg.ArchiveInterval
		if err := a.Tick(ctx); err != nil && ctx.Err() == nil {
			a.logger.WarnContext(ctx, "audit archiving failed; will retry", "error", err)
			// Sooner than the interval: until Init has run, appends
			// (and so audited admin actions) are refused.
			wait = min(wait, retryAfterFailure)
		}
		if sleep(ctx, wait) != nil {
			return
		}
	}
}

// Tick takes (or renews) the lease and, holding it, archives every new
// entry and trims what the retention allows. Without the lease it does
// nothing.
func (a *Archiver) Tick(ctx context.Context) error {
	if err := a.Init(ctx); err != nil {
		return err
	}
	// What was there when the tick began, so that a steady stream of
	// appends cannot keep a tick from ever reaching Trim.
	head, err := a.log.head(ctx)
	if err != nil {
		return fmt.Errorf("archiving: %w", err)
	}
	for todo := head.Seq - head.Archived; todo > 0; {
		// Renewed before every object, so that a process that stalled
		// past the lease (and lost it to another) writes nothing more.
		ok, err := a.lease(ctx)
		if err != nil || !ok {
			return err
		}
		n, err := a.ArchiveOnce(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		todo -= int64(n)
	}
	if ok, err := a.lease(ctx); err != nil || !ok {
		return err
	}
	_, err = a.Trim(ctx)
	return err
}

// lease takes or renews the archiver's lease, reporting whether this
// archiver holds it.
func (a *Archiver) lease(ctx context.Context) (bool, error) {
	ttl := 2*a.cfg.ArchiveInterval + 30*time.Second
	ok, err := leaseScript.Run(ctx, a.log.rdb, []string{a.log.leaseKey()}, a.token, ttl.Milliseconds()).Bool()
	if err != nil {
		return false, fmt.Errorf("taking the archive lease: %w", classify(err))
	}
	return ok, nil
}

// advanceScript moves the archived mark, compare-and-set.
// KEYS: head. ARGV: expected archived, new archived.
var advanceScript = redis.NewScript(`
if (redis.call('HGET', KEYS[1], 'archived') or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'archived', ARGV[2])
return 1
`)

// ArchiveOnce writes the next archive object (up to cfg.ArchiveBatch
// entries after the archived mark) and moves the mark. It returns how many
// entries it archived: 0 when S3 is up to date. Callers hold the lease;
// running it without is still safe for the chain, at worst it writes an
// object twice.
func (a *Archiver) ArchiveOnce(ctx context.Context) (int, error) {
	head, err := a.log.head(ctx)
	if err != nil {
		return 0, fmt.Errorf("archiving: %w", err)
	}
	if head.Archived >= head.Seq {
		return 0, nil
	}
	first := head.Archived + 1
	// A process that died between writing the object and moving the mark
	// left the object behind: adopt it rather than write an overlapping
	// one.
	last, found, err := a.existing(ctx, first)
	if err != nil {
		return 0, err
	}
	if !found {
		last = min(head.Seq, first+int64(a.cfg.ArchiveBatch)-1)
		seqs := make([]int64, 0, last-first+1)
		for s := first; s <= last; s++ {
			seqs = append(seqs, s)
		}
		lines, err := a.log.lines(ctx, seqs)
		if err != nil {
			return 0, fmt.Errorf("archiving %d-%d: %w", first, last, err)
		}
		var body bytes.Buffer
		for i, l := range lines {
			if l == nil {
				return 0, fmt.Errorf("archiving %d-%d: entry %d is missing from Redis", first, last, seqs[i])
			}
			body.Write(l)
			body.WriteByte('\n')
		}
		name := objectName(a.cfg.ArchivePrefix, first, last)
		if _, err := a.s3.PutObject(ctx, a.cfg.Bucket, name, &body, int64(body.Len()),
			minio.PutObjectOptions{ContentType: "application/x-ndjson"}); err != nil {
			return 0, fmt.Errorf("archiving %d-%d: writing %s: %w", first, last, name, err)
		}
	}
	ok, err := advanceScript.Run(ctx, a.log.rdb, []string{a.log.headKey()}, head.Archived, last).Bool()
	if err != nil {
		return 0, fmt.Errorf("archiving %d-%d: moving the mark: %w", first, last, classify(err))
	}
	if !ok {
		return 0, nil // another archiver moved it; the next tick goes on
	}
	a.logger.InfoContext(ctx, "audit entries archived", "first_seq", first, "last_seq", last, "bucket", a.cfg.Bucket)
	return int(last - first + 1), nil
}

// existing finds an archive object that starts at first.
func (a *Archiver) existing(ctx context.Context, first int64) (last int64, found bool, err error) {
	prefix := fmt.Sprintf("%s%020d-", a.cfg.ArchivePrefix, first)
	for obj := range a.s3.ListObjects(ctx, a.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix}) {
		if obj.Err != nil {
			return 0, false, fmt.Errorf("archiving: listing %s: %w", prefix, obj.Err)
		}
		if _, l, ok := parseObjectName(a.cfg.ArchivePrefix, obj.Key); ok && l > last {
			last, found = l, true
		}
	}
	return last, found, nil
}

// trimScript removes archived entries up to a seq from Redis and records
// the last one removed as the anchor, compare-and-set on the trimmed mark.
// KEYS: head, ids, entries, then every index the entries are in.
// ARGV: expected trimmed, new trimmed, its hash, n, n seqs, n ids.
var trimScript = redis.NewScript(`
if (redis.call('HGET', KEYS[1], 'trimmed') or '0') ~= ARGV[1] then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'archived') or '0') < tonumber(ARGV[2]) then return 0 end
local n = tonumber(ARGV[4])
for i = 1, n do
  redis.call('HDEL', KEYS[3], ARGV[4 + i])
  redis.call('HDEL', KEYS[2], ARGV[4 + n + i])
end
for i = 4, #KEYS do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[2]) end
redis.call('HSET', KEYS[1], 'trimmed', ARGV[2], 'trimmed_hash', ARGV[3])
return 1
`)

// trimBatch is the most entries one trim script removes.
const trimBatch = 500

// Trim removes from Redis the archived entries older than the retention,
// oldest first, stopping at the first one that is not. The hash of the
// last one removed stays in the head, so the chain left in Redis can still
// be checked against the archive. Their IDs go too: an at-least-once
// producer redelivering an entry older than the retention would append it
// again. It returns how many it removed.
func (a *Archiver) Trim(ctx context.Context) (int, error) {
	head, err := a.log.head(ctx)
	if err != nil {
		return 0, fmt.Errorf("trimming: %w", err)
	}
	cutoff := a.now().Add(-a.cfg.Retention)
	total := 0
	for head.Trimmed < head.Archived {
		first := head.Trimmed + 1
		last := min(head.Archived, first+trimBatch-1)
		seqs := make([]int64, 0, last-first+1)
		for s := first; s <= last; s++ {
			seqs = append(seqs, s)
		}
		lines, err := a.log.lines(ctx, seqs)
		if err != nil {
			return total, fmt.Errorf("trimming: %w", err)
		}
		var old []Entry
		for i, raw := range lines {
			if raw == nil {
				return total, fmt.Errorf("trimming: entry %d is missing from Redis", seqs[i])
			}
			e, err := parseLine(raw)
			if err != nil {
				return total, fmt.Errorf("trimming: entry %d: %w", seqs[i], err)
			}
			if !e.Time.Before(cutoff) {
				break
			}
			old = append(old, e)
		}
		if len(old) == 0 {
			break
		}
		keys := []string{a.log.headKey(), a.log.idsKey(), a.log.entriesKey()}
		seen := map[string]bool{}
		args := []any{head.Trimmed, old[len(old)-1].Seq, old[len(old)-1].Hash, len(old)}
		for _, e := range old {
			for _, k := range a.log.indexKeys(e) {
				if !seen[k] {
					seen[k] = true
					keys = append(keys, k)
				}
			}
			args = append(args, e.Seq)
		}
		for _, e := range old {
			args = append(args, e.ID)
		}
		ok, err := trimScript.Run(ctx, a.log.rdb, keys, args...).Bool()
		if err != nil {
			return total, fmt.Errorf("trimming %d-%d: %w", first, old[len(old)-1].Seq, classify(err))
		}
		if !ok {
			return total, nil // another archiver trimmed meanwhile
		}
		total += len(old)
		head.Trimmed = old[len(old)-1].Seq
		if len(old) < len(seqs) {
			break
		}
	}
	if total > 0 {
		a.logger.InfoContext(ctx, "archived audit entries trimmed from redis", "count", total, "last_seq", head.Trimmed)
	}
	return total, nil
}
