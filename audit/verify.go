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
func Verify(ctx context.Context, l *Log, s3 *minio.Client, cfg Config) (Summary, error) {
	head, err := l.Head(ctx)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Head: head, HeadHash: head.Hash}
	// Hashes the archive holds for seqs Redis holds too (and the anchor),
	// to compare; bounded by what Redis keeps.
	archived := map[int64]string{}
	var broken []*BrokenError
	s3Broken, err := verifyArchive(ctx, s3, cfg, head, &sum, archived)
	if err != nil {
		return sum, err
	}
	broken = append(broken, s3Broken)
	redisBroken, err := verifyRedis(ctx, l, head, &sum, archived)
	if err != nil {
		return sum, err
	}
	broken = append(broken, redisBroken)
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

// verifyRedis walks the chain kept in Redis, from the trim anchor to the
// head.
func verifyRedis(ctx context.Context, l *Log, head Head, sum *Summary, archived map[int64]string) (*BrokenError, error) {
	bad := func(seq int64, id, problem string) *BrokenError {
		return &BrokenError{Where: "redis", Seq: seq, ID: id, Problem: problem}
	}
	if head.Trimmed > 0 {
		if h, ok := archived[head.Trimmed]; !ok || h != head.TrimmedHash {
			return bad(head.Trimmed, "", fmt.Sprintf("the trim anchor %q does not match the archive's entry %d (%q)", head.TrimmedHash, head.Trimmed, h)), nil
		}
	}
	if head.Seq > head.Trimmed {
		sum.RedisFirst = head.Trimmed + 1
	}
	prev := head.TrimmedHash
	const batch = 500
	for first := head.Trimmed + 1; first <= head.Seq; first += batch {
		last := min(head.Seq, first+batch-1)
		seqs := make([]int64, 0, last-first+1)
		for s := first; s <= last; s++ {
			seqs = append(seqs, s)
		}
		lines, err := l.lines(ctx, seqs)
		if err != nil {
			return nil, fmt.Errorf("verifying redis %d-%d: %w", first, last, err)
		}
		ids := make([]string, 0, len(lines))
		for i, raw := range lines {
			seq := seqs[i]
			if raw == nil {
				return bad(seq, "", "missing: the entry was deleted"), nil
			}
			e, problem := link(raw, seq, prev)
			if problem != "" {
				return bad(seq, e.ID, problem), nil
			}
			ids = append(ids, e.ID)
			if h, ok := archived[seq]; ok {
				sum.CheckedBoth++
				if h != e.Hash {
					return bad(seq, e.ID, fmt.Sprintf("Redis has hash %s, the archive %s", e.Hash, h)), nil
				}
			}
			prev = e.Hash
		}
		// The id index decides what Append treats as already logged: an
		// id pointing elsewhere would swallow a future entry.
		got, err := l.rdb.HMGet(ctx, l.idsKey(), ids...).Result()
		if err != nil {
			return nil, fmt.Errorf("verifying redis %d-%d: reading ids: %w", first, last, classify(err))
		}
		for i, v := range got {
			if s, _ := v.(string); s != strconv.FormatInt(seqs[i], 10) {
				return bad(seqs[i], ids[i], fmt.Sprintf("the id index maps this id to %v, not to its seq", v)), nil
			}
		}
	}
	if prev != head.Hash {
		return bad(head.Seq, "", fmt.Sprintf("the head's hash %q is not the last entry's (%q)", head.Hash, prev)), nil
	}
	n, err := l.rdb.HLen(ctx, l.entriesKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("verifying redis: counting entries: %w", classify(err))
	}
	if want := head.Seq - head.Trimmed; n != want {
		return bad(head.Seq, "", fmt.Sprintf("Redis holds %d entries, the head says %d: entries outside the chain", n, want)), nil
	}
	n, err = l.rdb.HLen(ctx, l.idsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("verifying redis: counting ids: %w", classify(err))
	}
	if want := head.Seq - head.Trimmed; n != want {
		return bad(head.Seq, "", fmt.Sprintf("the id index holds %d ids for %d entries: ids of no entry would make Append drop entries", n, want)), nil
	}
	return nil, nil
}

// verifyArchive walks the chain in the S3 objects, in name order.
func verifyArchive(ctx context.Context, s3 *minio.Client, cfg Config, head Head, sum *Summary, archived map[int64]string) (*BrokenError, error) {
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
			if seq >= head.Trimmed {
				archived[seq] = e.Hash
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
	if sum.S3Last > head.Seq {
		return &BrokenError{Where: "redis", Seq: head.Seq + 1,
			Problem: fmt.Sprintf("the archive goes on to seq %d, past Redis's head %d: Redis lost entries", sum.S3Last, head.Seq)}, nil
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
