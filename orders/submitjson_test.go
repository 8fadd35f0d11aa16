package orders

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

// TestSubmitJSON: a new order's answer comes with its encoding, the bytes
// json.Marshal writes for it (what the API would otherwise write); a
// replay's answer is the same and comes without one (it was read back).
func TestSubmitJSON(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		st := newStack(t, clients(), prefix, emailOnly, "p1")
		ctx := context.Background()
		res, answer, err := st.svc.SubmitJSON(ctx, shop, testOrder("J-1", "7", "j@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		if string(answer) != string(want) {
			t.Errorf("answer = %s\nwant %s", answer, want)
		}
		if res.Status != StatusHeld || len(res.Links) == 0 {
			t.Errorf("answer %+v: want a held order with links", res)
		}
		again, answer, err := st.svc.SubmitJSON(ctx, shop, testOrder("J-1", "7", "j@example.com"))
		if err != nil || answer != nil || !cmp.Equal(again, res) {
			t.Errorf("replay: %+v, %q, %v; want %+v without an encoding", again, answer, err, res)
		}
	})
}
