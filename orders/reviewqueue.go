package orders

import (
	"context"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"
)

// MaxReviewQueue bounds one answer of ReviewQueue.
const MaxReviewQueue = 500

// reviewScan bounds how many held orders of one shard ReviewQueue reads.
const reviewScan = 2000

// ReviewQueue lists the held orders whose manual review is pending, oldest
// first, at most limit (1 to MaxReviewQueue). It reads every shard's held
// index (the one the expiry worker keeps, updated by the commit script)
// and the records it names, one pipeline per shard: the index and the
// records share the shard's hash tag, so this works on Cluster.
func (s *Service) ReviewQueue(ctx context.Context, limit int) ([]Result, error) {
	if limit < 1 || limit > MaxReviewQueue {
		return nil, fmt.Errorf("review queue limit %d: must be 1 to %d", limit, MaxReviewQueue)
	}
	var out []Result
	for sh := range Shards {
		sids, err := s.rdb.ZRange(ctx, s.heldKey(sh), 0, reviewScan-1).Result()
		if err != nil {
			return nil, unavailable("reading held orders", err)
		}
		if len(sids) == 0 {
			continue
		}
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.SliceCmd, len(sids))
		for i, sid := range sids {
			cmds[i] = pipe.HMGet(ctx, s.recordKey(sid), "version", "record")
		}
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			return nil, unavailable("reading held orders", err)
		}
		for i, sid := range sids {
			vals, err := cmds[i].Result()
			if err != nil || vals[0] == nil {
				continue // gone with its retention; the expiry worker drops it
			}
			st, err := decodeStored(sid, vals)
			if err != nil {
				return nil, err
			}
			r := st.record
			if r.Status == StatusHeld && r.Requirements.ManualReview == Pending {
				out = append(out, r.Answer())
			}
		}
	}
	slices.SortFunc(out, func(a, b Result) int { return a.CreatedAt.Compare(b.CreatedAt) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
