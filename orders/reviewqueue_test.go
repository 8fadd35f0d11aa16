package orders

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/screening"
)

// TestReviewQueue: the held orders pending a manual review, oldest first,
// across shards, on a standalone server and on Cluster, read by a second
// process; a reviewed order leaves the queue.
func TestReviewQueue(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		a := newStack(t, clients(), prefix, emailOnly, "p1")
		b := newStack(t, clients(), prefix, emailOnly, "p2")
		ctx := context.Background()
		var review []string
		for i := range 6 {
			o := testOrder(fmt.Sprintf("RQ-%d", i), fmt.Sprintf("acct-%d", i), fmt.Sprintf("rq%d@example.com", i))
			o.IP = fmt.Sprintf("198.51.%d.9", 100+i)
			o.Payment.CardLast4 = fmt.Sprintf("%04d", 2000+i)
			o.Billing.Address = fmt.Sprintf("%d High St", i)
			res, err := a.svc.Submit(ctx, shop, o)
			if err != nil {
				t.Fatal(err)
			}
			a.advance(1e9) // one second apart: a definite order
			if i%2 == 0 {
				if err := a.svc.setRequirement(ctx, res.ScreeningID, ReqReview); err != nil {
					t.Fatal(err)
				}
				review = append(review, res.ScreeningID)
			}
		}
		got, err := b.svc.ReviewQueue(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range got {
			ids = append(ids, r.ScreeningID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(review) {
			t.Fatalf("queue %v, want %v (oldest first)", ids, review)
		}
		if _, err := b.svc.Review(ctx, Access{Officer: true}, review[0], ManualReview{Decision: screening.Reject, Reason: "stolen card"}, "olga"); err != nil {
			t.Fatal(err)
		}
		if got, _ := a.svc.ReviewQueue(ctx, 1); len(got) != 1 || got[0].ScreeningID != review[1] {
			t.Errorf("after a review, limit 1: %+v", got)
		}
		if _, err := a.svc.ReviewQueue(ctx, 0); err == nil {
			t.Error("limit 0 accepted")
		}
	})
}
