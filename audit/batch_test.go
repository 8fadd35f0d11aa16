package audit

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// batchOf makes entries from..to-1 with ids name-<n>.
func (e *env) batchOf(name string, from, to int) []Entry {
	var es []Entry
	for i := from; i < to; i++ {
		en := entry(i, e.now)
		en.ID = fmt.Sprintf("%s-%d", name, i)
		es = append(es, en)
	}
	return es
}

// checkChain archives everything and verifies the chain: want entries,
// each id once.
func (e *env) checkChain(t *testing.T, want int64) {
	t.Helper()
	e.archiveAll(t)
	sum, err := e.verify(t)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	ids, err := e.rdb.HLen(t.Context(), e.log.idsKey()).Result()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Head.Seq != want || ids != want || sum.S3Last != want {
		t.Errorf("head %d, ids %d, archive to %d; want %d entries", sum.Head.Seq, ids, sum.S3Last, want)
	}
}

// Batch appenders on two clients (as two processes), several goroutines
// each, and single appends between them: one unbroken chain, every entry
// once, each batch's entries consecutive.
func TestAppendBatchConcurrentOneChain(t *testing.T) {
	t.Parallel()
	onBackends(t, 40, func(t *testing.T, e *env) {
		const clients, perClient, batches, size = 2, 4, 10, 7
		var wg sync.WaitGroup
		errs := make(chan error, clients*perClient+1)
		for c := range clients {
			l := e.newLog(t, e.client())
			for g := range perClient {
				wg.Go(func() {
					for b := range batches {
						name := fmt.Sprintf("c%d-g%d-b%d", c, g, b)
						got, err := l.AppendBatch(t.Context(), e.batchOf(name, 0, size))
						if err != nil {
							errs <- err
							return
						}
						for i := 1; i < len(got); i++ {
							if got[i].Seq != got[i-1].Seq+1 || got[i].Prev != got[i-1].Hash {
								errs <- fmt.Errorf("batch %s: entry %d (seq %d) does not follow %d", name, i, got[i].Seq, got[i-1].Seq)
								return
							}
						}
					}
				})
			}
		}
		single := e.newLog(t, e.client())
		wg.Go(func() {
			for i := range 30 {
				en := entry(i, e.now)
				en.ID = fmt.Sprintf("single-%d", i)
				if _, err := single.Append(t.Context(), en); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		e.checkChain(t, clients*perClient*batches*size+30)
	})
}

// A batch with ids already in the log, and an id twice in the batch:
// those are not appended again, their places hold the stored entries, and
// the rest chain on without a gap.
func TestAppendBatchIdempotentByID(t *testing.T) {
	t.Parallel()
	onBackends(t, 10, func(t *testing.T, e *env) {
		old := e.appendN(t, 3) // ids e-1, e-2, e-3
		first, err := e.log.AppendBatch(t.Context(), e.batchOf("b", 0, 2))
		if err != nil {
			t.Fatal(err)
		}
		batch := []Entry{entry(2, e.now), e.batchOf("x", 0, 1)[0], first[1], entry(9, e.now), entry(3, e.now), entry(9, e.now)}
		batch[1].Time = batch[1].Time.Add(1) // not what is stored: the stored one wins
		got, err := e.log.AppendBatch(t.Context(), batch)
		if err != nil {
			t.Fatal(err)
		}
		gotSeqs := seqs(got)
		// e-2, x-0 (new: 6), b-1 (5), e-9 (new: 7), e-3, e-9 again.
		if diff := cmp.Diff([]int64{2, 6, 5, 7, 3, 7}, gotSeqs); diff != "" {
			t.Errorf("seqs (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(old[1], got[0]); diff != "" {
			t.Errorf("duplicate of e-2 (-stored +got):\n%s", diff)
		}
		if got[1].Prev != first[1].Hash || got[3].Prev != got[1].Hash {
			t.Errorf("new entries do not chain on the head: %+v", got)
		}
		again, err := e.log.AppendBatch(t.Context(), batch)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, again); diff != "" {
			t.Errorf("the same batch again (-first +again):\n%s", diff)
		}
		e.checkChain(t, 7)
	})
}

// A batch that races single Appends from another client (another process
// moving the head between the batch's read and its script): it is chained
// again from the new head, and the chain stays one.
func TestAppendBatchRacesAppend(t *testing.T) {
	t.Parallel()
	onBackends(t, 50, func(t *testing.T, e *env) {
		other := e.newLog(t, e.client())
		batcher := e.newLog(t, e.client())
		// The batcher learns the head, then the other client moves it: the
		// batcher's first script run must lose.
		if _, err := batcher.AppendBatch(t.Context(), e.batchOf("warm", 0, 1)); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Append(t.Context(), entry(1, e.now)); err != nil {
			t.Fatal(err)
		}
		got, err := batcher.AppendBatch(t.Context(), e.batchOf("b", 0, 5))
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Seq != 3 || got[0].Prev == "" {
			t.Errorf("batch after a lost race starts at seq %d; want 3", got[0].Seq)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		wg.Go(func() {
			for i := range 100 {
				if _, err := other.Append(t.Context(), entry(100+i, e.now)); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			for b := range 20 {
				if _, err := batcher.AppendBatch(t.Context(), e.batchOf(fmt.Sprintf("r%d", b), 0, 5)); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		e.checkChain(t, 1+1+5+100+20*5)
	})
}

// A batch with one bad entry appends nothing.
func TestAppendBatchRefusesBadEntries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 10)
	batch := e.batchOf("b", 0, 3)
	batch[2].Actor = ""
	if _, err := e.log.AppendBatch(t.Context(), batch); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("AppendBatch = %v; want ErrInvalidInput", err)
	}
	e.checkChain(t, 0)
}

// AppendBatchMarshaled stores what AppendBatch stores, byte for byte, and
// the chain verifies.
func TestAppendBatchMarshaledStoresTheSame(t *testing.T) {
	t.Parallel()
	checked, marshaled := newEnv(t, 10), newEnv(t, 10)
	docs := marshaledDocs(t)
	batch := checked.batchOf("b", 0, len(docs))
	for i := range batch {
		batch[i].Before, batch[i].After = docs[i], docs[(i+1)%len(docs)]
	}
	want, err := checked.log.AppendBatch(t.Context(), batch)
	if err != nil {
		t.Fatal(err)
	}
	got, err := marshaled.log.AppendBatchMarshaled(t.Context(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AppendBatchMarshaled vs AppendBatch (-checked +marshaled):\n%s", diff)
	}
	wantLines, err := checked.rdb.HGetAll(t.Context(), checked.log.entriesKey()).Result()
	if err != nil {
		t.Fatal(err)
	}
	gotLines, err := marshaled.rdb.HGetAll(t.Context(), marshaled.log.entriesKey()).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(gotLines) != len(docs) || !cmp.Equal(gotLines, wantLines) {
		t.Errorf("stored lines differ:\nmarshaled %q\nchecked %q", gotLines, wantLines)
	}
	marshaled.checkChain(t, int64(len(docs)))
}

// redisState is what a log holds in Redis for entries: the ids, the
// stored lines and every index the entries name, with their scores.
func (e *env) redisState(t *testing.T, es []Entry) map[string]any {
	t.Helper()
	ctx := t.Context()
	state := map[string]any{}
	for _, k := range []string{e.log.idsKey(), e.log.entriesKey()} {
		v, err := e.rdb.HGetAll(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		state[strings.TrimPrefix(k, e.log.stem)] = v
	}
	for _, en := range es {
		for _, k := range e.log.indexKeys(en) {
			v, err := e.rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			state[strings.TrimPrefix(k, e.log.stem)] = v
		}
	}
	return state
}

// A batch writes each key once with all its members (in chunks when it
// is long): Redis then holds exactly what one Append per entry leaves,
// and duplicates are found past the first chunk of ids.
func TestAppendBatchStoresWhatAppendStores(t *testing.T) {
	t.Parallel()
	onBackends(t, 100, func(t *testing.T, e *env) {
		single := newEnvOn(t, standalone, 100)
		all := e.batchOf("b", 0, 1300)
		if _, err := e.log.AppendBatch(t.Context(), all[:1200]); err != nil {
			t.Fatal(err)
		}
		got, err := e.log.AppendBatch(t.Context(), all[1100:])
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Seq != 1101 || got[99].Seq != 1200 || got[100].Seq != 1201 || got[199].Seq != 1300 {
			t.Errorf("second batch seqs %d..%d, %d..%d; want the stored 1101..1200, then 1201..1300",
				got[0].Seq, got[99].Seq, got[100].Seq, got[199].Seq)
		}
		for _, en := range all {
			if _, err := single.log.Append(t.Context(), en); err != nil {
				t.Fatal(err)
			}
		}
		want := single.redisState(t, all)
		if diff := cmp.Diff(want, e.redisState(t, all)); diff != "" {
			t.Errorf("Redis after batches vs after single appends (-single +batch):\n%s", diff)
		}
		e.checkChain(t, 1300)
	})
}
