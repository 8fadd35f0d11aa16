package audit

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"
)

// BrokenError names the first broken link Verify found.
type BrokenError struct {
	Where   string // "redis" or "s3 <bucket>/<object>"
	Seq     int64  // the seq (position) where the chain breaks
	ID      string // the entry's ID there, when it could be read
	Problem string
}

func (e *BrokenError) Error() string {
	id := ""
	if e.ID != "" {
		id = fmt.Sprintf(" (id %q)", e.ID)
	}
	return fmt.Sprintf("audit chain broken at seq %d%s in %s: %s", e.Seq, id, e.Where, e.Problem)
}

// Summary describes a sound log.
type Summary struct {
	Head        Head   // Redis's head
	RedisFirst  int64  // first seq in Redis (0: none)
	S3Objects   int    // archive objects
	S3Last      int64  // last seq in the archive (0: none)
	HeadHash    string // hash of the last entry
	CheckedBoth int64  // entries found in both and compared
}

// Verify checks the whole log: every entry in Redis and in the S3 archive
// (hash recomputed, link to the previous entry, seqs without gaps or
// repeats, canonical form), the archive objects' names against their
// contents, the archive against Redis where both hold an entry, and the
// anchor Redis keeps for what it trimmed. The error is a *BrokenError for
// the lowest seq found broken, or a failure to read.
//
// It may run while gateways append, archive and trim: Redis is walked
// first (an entry trimmed meanwhile moves the walk to the new anchor), the
// archive after it (so it holds at least what Redis had archived), and
// counts and the final head are read atomically.
func Verify(ctx context.Context, l *Log, s3 *minio.Client, cfg Config) (Summary, error) {
	head, err := l.Head(ctx)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Head: head, HeadHash: head.Hash}
	// What the Redis walk read, for the archive walk to compare: entry
	// hashes by seq (bounded by what Redis keeps) and trim anchors.
	w := redisWalk{hashes: map[int64]string{}, anchors: map[int64]string{}}
	var broken []*BrokenError
	b, err := w.verify(ctx, l, head, &sum)
	if err != nil {
		return sum, err
	}
	broken = append(broken, b)
	if b, err = verifyArchive(ctx, l, s3, cfg, head, &sum, &w); err != nil {
		return sum, err
	}
	broken = append(broken, b)
	broken = slices.DeleteFunc(broken, func(b *BrokenError) bool { return b == nil })
	if len(broken) > 0 {
		return sum, slices.MinFunc(broken, func(a, b *BrokenError) int { return cmp.Compare(a.Seq, b.Seq) })
	}
	return sum, nil
}

// link checks one stored entry at position seq after an entry whose hash
// is prev, returning the entry and what is wrong ("" when sound).
func link(raw []byte, seq int64, prev string) (Entry, string) {
	e, err := parseLine(raw)
	if err != nil {
		return Entry{}, "not a readable entry: " + err.Error()
	}
	if e.Seq != seq {
		return e, fmt.Sprintf("position %d holds seq %d (entries reordered, deleted or duplicated)", seq, e.Seq)
	}
	h, err := e.ComputeHash()
	if err != nil {
		return e, err.Error()
	}
	if h != e.Hash {
		return e, fmt.Sprintf("hash %s does not match the content (recomputed %s): the entry was edited", e.Hash, h)
	}
	if e.Prev != prev {
		return e, fmt.Sprintf("prev %q is not the hash of seq %d (%q): an entry before it was edited or removed", e.Prev, seq-1, prev)
	}
	if line, err := e.line(); err != nil || !bytes.Equal(line, raw) {
		return e, "not in canonical form: the stored bytes were rewritten"
	}
	return e, ""
}

// redisWalk is what the walk of Redis found.
type redisWalk struct {
	hashes  map[int64]string // seq -> hash of the entries read
	anchors map[int64]string // trim anchors met: seq -> hash
}

// countsScript reads the head and the sizes of the entry and id hashes at
// one instant. KEYS: head, entries, ids.
var countsScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'seq', 'trimmed')
return {h[1] or '0', h[2] or '0', redis.call('HLEN', KEYS[2]), redis.call('HLEN', KEYS[3])}
`)

// verify walks the chain kept in Redis, from the trim anchor to head.
func (w *redisWalk) verify(ctx context.Context, l *Log, head Head, sum *Summary) (*BrokenError, error) {
	bad := func(seq int64, id, problem string) *BrokenError {
		return &BrokenError{Where: "redis", Seq: seq, ID: id, Problem: problem}
	}
	// trimmedSince reports whether seq was trimmed after the walk began
	// and, if so, the new anchor the walk goes on from.
	trimmedSince := func(seq int64) (Head, bool, error) {
		h, err := l.head(ctx)
		if err != nil {
			return Head{}, false, fmt.Errorf("verifying redis: re-reading the head: %w", err)
		}
		if h.Trimmed < seq {
			return Head{}, false, nil
		}
		w.anchors[h.Trimmed] = h.TrimmedHash
		return h, true, nil
	}
	if head.Trimmed > 0 {
		w.anchors[head.Trimmed] = head.TrimmedHash
	}
	if head.Seq > head.Trimmed {
		sum.RedisFirst = head.Trimmed + 1
	}
	prev := head.TrimmedHash
	const batch = 500
	next, lastRead := head.Trimmed+1, int64(0)
batches:
	for next <= head.Seq {
		last := min(head.Seq, next+batch-1)
		seqs := make([]int64, 0, last-next+1)
		for s := next; s <= last; s++ {
			seqs = append(seqs, s)
		}
		lines, err := l.lines(ctx, seqs)
		if err != nil {
			return nil, fmt.Errorf("verifying redis %d-%d: %w", next, last, err)
		}
		ids := make([]string, 0, len(lines))
		for i, raw := range lines {
			seq := seqs[i]
			if raw == nil {
				h, moved, err := trimmedSince(seq)
				if err != nil {
					return nil, err
				}
				if !moved {
					return bad(seq, "", "missing: the entry was deleted"), nil
				}
				next, prev = h.Trimmed+1, h.TrimmedHash
				continue batches
			}
			e, problem := link(raw, seq, prev)
			if problem != "" {
				return bad(seq, e.ID, problem), nil
			}
			ids = append(ids, e.ID)
			w.hashes[seq] = e.Hash
			prev, lastRead = e.Hash, seq
		}
		// The id index decides what Append treats as already logged: an
		// id pointing elsewhere would swallow a future entry.
		got, err := l.rdb.HMGet(ctx, l.idsKey(), ids...).Result()
		if err != nil {
			return nil, fmt.Errorf("verifying redis %d-%d: reading ids: %w", next, last, classify(err))
		}
		for i, v := range got {
			if s, _ := v.(string); s != strconv.FormatInt(seqs[i], 10) {
				_, moved, err := trimmedSince(seqs[i])
				if err != nil {
					return nil, err
				}
				if moved && v == nil {
					continue // trimmed between the two reads; the archive holds it
				}
				return bad(seqs[i], ids[i], fmt.Sprintf("the id index maps this id to %v, not to its seq", v)), nil
			}
		}
		next = last + 1
	}
	if lastRead == head.Seq && prev != head.Hash {
		return bad(head.Seq, "", fmt.Sprintf("the head's hash %q is not the last entry's (%q)", head.Hash, prev)), nil
	}
	c, err := countsScript.Run(ctx, l.rdb, []string{l.headKey(), l.entriesKey(), l.idsKey()}).Slice()
	if err != nil {
		return nil, fmt.Errorf("verifying redis: counting entries: %w", classify(err))
	}
	num := func(v any) int64 {
		switch x := v.(type) {
		case int64:
			return x
		case string:
			n, _ := strconv.ParseInt(x, 10, 64)
			return n
		}
		return -1
	}
	seq, trimmed, entries, idn := num(c[0]), num(c[1]), num(c[2]), num(c[3])
	if want := seq - trimmed; entries != want {
		return bad(seq, "", fmt.Sprintf("Redis holds %d entries, the head says %d: entries outside the chain", entries, want)), nil
	} else if idn != want {
		return bad(seq, "", fmt.Sprintf("the id index holds %d ids for %d entries: ids of no entry would make Append drop entries", idn, want)), nil
	}
	return nil, nil
}

// verifyArchive walks the chain in the S3 objects, in name order.
func verifyArchive(ctx context.Context, l *Log, s3 *minio.Client, cfg Config, head Head, sum *Summary, w *redisWalk) (*BrokenError, error) {
	next, prev := int64(1), ""
	// Hashes of the last seqs read. Two archivers can both write an
	// object from the same first seq when one stalled past its lease;
	// such overlaps are benign when they repeat the same entries, which
	// these let Verify check.
	recent := map[int64]string{}
	window := 2 * int64(max(cfg.ArchiveBatch, 1))
	for obj := range s3.ListObjects(ctx, cfg.Bucket, minio.ListObjectsOptions{Prefix: cfg.ArchivePrefix, Recursive: true}) {
		if obj.Err != nil {
			if minio.ToErrorResponse(obj.Err).Code == "NoSuchBucket" {
				break // no archive yet; checked against the archived mark below
			}
			return nil, fmt.Errorf("verifying archive: listing %s/%s: %w", cfg.Bucket, cfg.ArchivePrefix, obj.Err)
		}
		where := "s3 " + cfg.Bucket + "/" + obj.Key
		bad := func(seq int64, id, problem string) *BrokenError {
			return &BrokenError{Where: where, Seq: seq, ID: id, Problem: problem}
		}
		first, last, ok := parseObjectName(cfg.ArchivePrefix, obj.Key)
		if !ok {
			return bad(next, "", "an object that is not an archive object sits among them"), nil
		}
		switch {
		case first > next:
			return bad(next, "", fmt.Sprintf("entries %d-%d are missing from the archive (the next object starts at %d)", next, first-1, first)), nil
		case first < next && (next-first > window || (first > 1 && recent[first-1] == "")):
			return bad(first, "", fmt.Sprintf("the object overlaps the ones before (which end at %d) further back than an archiver could repeat", next-1)), nil
		}
		body, err := readObject(ctx, s3, cfg.Bucket, obj.Key)
		if err != nil {
			return nil, err
		}
		lines := bytes.SplitAfter(body, []byte("\n"))
		if n := len(lines); n > 0 && len(lines[n-1]) == 0 {
			lines = lines[:n-1]
		}
		if want := last - first + 1; int64(len(lines)) != want {
			return bad(first+min(int64(len(lines)), want), "", fmt.Sprintf("the object holds %d lines, its name says %d: it was truncated or padded", len(lines), want)), nil
		}
		for i, l := range lines {
			seq := first + int64(i)
			raw, ok := bytes.CutSuffix(l, []byte("\n"))
			if !ok {
				return bad(seq, "", "the last line has no newline: the object was truncated"), nil
			}
			if seq < next {
				// A repeat: it must be the entry already read.
				e, problem := link(raw, seq, recent[seq-1])
				if problem == "" && e.Hash != recent[seq] {
					problem = fmt.Sprintf("the object overlaps the ones before and differs from them here (hash %s, before %s)", e.Hash, recent[seq])
				}
				if problem != "" {
					return bad(seq, e.ID, problem), nil
				}
				continue
			}
			e, problem := link(raw, seq, prev)
			if problem != "" {
				return bad(seq, e.ID, problem), nil
			}
			if h, ok := w.hashes[seq]; ok {
				sum.CheckedBoth++
				if h != e.Hash {
					return bad(seq, e.ID, fmt.Sprintf("the archive has hash %s, Redis %s: one of them was rewritten", e.Hash, h)), nil
				}
			}
			if h, ok := w.anchors[seq]; ok && h != e.Hash {
				return bad(seq, e.ID, fmt.Sprintf("Redis's trim anchor %q does not match the archive's entry (%q)", h, e.Hash)), nil
			}
			recent[seq] = e.Hash
			prev = e.Hash
		}
		next = max(next, last+1)
		for seq := range recent {
			if seq < next-window {
				delete(recent, seq)
			}
		}
		sum.S3Objects++
		sum.S3Last = max(sum.S3Last, last)
	}
	if sum.S3Last < head.Archived {
		return &BrokenError{Where: "s3 " + cfg.Bucket + "/" + cfg.ArchivePrefix, Seq: sum.S3Last + 1,
			Problem: fmt.Sprintf("the archive ends at seq %d, but Redis says %d were archived: archive objects were removed", sum.S3Last, head.Archived)}, nil
	}
	for seq, h := range w.anchors {
		if seq > sum.S3Last {
			return &BrokenError{Where: "redis", Seq: seq,
				Problem: fmt.Sprintf("the trim anchor %q is for seq %d, which the archive (to %d) does not hold", h, seq, sum.S3Last)}, nil
		}
	}
	// Appends and archiving may have gone on during the walk: compare
	// with the head as it is now.
	now, err := l.head(ctx)
	if err != nil {
		return nil, fmt.Errorf("verifying archive: re-reading the head: %w", err)
	}
	if sum.S3Last > now.Seq {
		return &BrokenError{Where: "redis", Seq: now.Seq + 1,
			Problem: fmt.Sprintf("the archive goes on to seq %d, past Redis's head %d: Redis lost entries", sum.S3Last, now.Seq)}, nil
	}
	return nil, nil
}

// maxObject bounds an archive object Verify reads into memory.
const maxObject = 1 << 30

func readObject(ctx context.Context, s3 *minio.Client, bucket, key string) ([]byte, error) {
	o, err := s3.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("verifying archive: reading %s: %w", key, err)
	}
	defer o.Close()
	b, err := io.ReadAll(io.LimitReader(o, maxObject+1))
	if err != nil {
		return nil, fmt.Errorf("verifying archive: reading %s: %w", key, err)
	}
	if len(b) > maxObject {
		return nil, fmt.Errorf("verifying archive: %s is larger than %d bytes", key, maxObject)
	}
	return b, nil
}
