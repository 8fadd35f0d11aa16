package webhooks_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/webhooks"
)

// TestDeliveryReceiverDownThenBack: the receiver is down (its port closed)
// while events are published, then comes back. Every event is delivered,
// signed; the only duplicates carry the same webhook-id; each delivery
// records its failed attempts.
func TestDeliveryReceiverDownThenBack(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		rc := newReceiver(t, nil)
		other := newReceiver(t, nil)
		cfg := fastConfig(
			webhooks.Endpoint{Name: "prov", URL: rc.url(), Secrets: []string{specSecret, otherSecret}},
			webhooks.Endpoint{Name: "cleared-only", URL: other.url(), Secret: otherSecret, Events: []string{"order.cleared"}},
		)
		// Long enough that the receiver's return is not missed.
		for i := range cfg.RetrySchedule {
			cfg.RetrySchedule[i] = cfg.RetrySchedule[i] * 4
		}
		h := newHarness(t, rdb, prefix, cfg, "w1")
		rc.stop()
		h.run()
		const n = 20
		events := map[string]string{} // event id -> type
		for i := range n {
			typ := "order.held"
			if i%2 == 1 {
				typ = "order.cleared"
			}
			events[h.orderEvent(typ, fmt.Sprintf("scr_%d", i/2), i%2+1)] = typ
		}
		// Down: attempts fail and are recorded.
		first := webhooks.DeliveryID("prov", firstKey(events))
		waitFor(t, "a failed attempt", func() bool {
			d, err := h.svc.Get(context.Background(), first)
			return err == nil && d.Attempts >= 1
		})
		if d := h.get(first); d.State != webhooks.StatePending || d.History[0].Status != 0 || d.History[0].Error == "" {
			t.Fatalf("after a refused connection: %+v", d)
		}
		rc.start()
		waitFor(t, "every event at prov", func() bool { return len(rc.ackedIDs()) == n })
		waitFor(t, "every order.cleared at cleared-only", func() bool { return len(other.ackedIDs()) == n/2 })

		reqs := rc.requests()
		checkSigned(t, reqs, specSecret)
		checkSigned(t, reqs, otherSecret)
		checkSigned(t, other.requests(), otherSecret)
		byID := map[string]string{}
		for _, r := range reqs {
			if prev, ok := byID[r.ID]; ok && prev != string(r.Body) {
				t.Errorf("two bodies under webhook-id %s", r.ID)
			}
			byID[r.ID] = string(r.Body)
		}
		for ev, typ := range events {
			id := webhooks.DeliveryID("prov", ev)
			body, ok := byID[id]
			if !ok {
				t.Errorf("event %s never reached prov", ev)
				continue
			}
			if !strings.Contains(body, `"type":"`+typ+`"`) || !strings.Contains(body, `"data":{`) {
				t.Errorf("body %s", body)
			}
			// The receiver acknowledged; the record follows its answer.
			waitFor(t, "delivery "+id+" recorded as delivered", func() bool { return h.state(id) == webhooks.StateDelivered })
		}
		for _, r := range other.requests() {
			if r.Event.Type != "order.cleared" {
				t.Errorf("cleared-only got %s", r.Event.Type)
			}
		}
	})
}

func firstKey(m map[string]string) string {
	min := ""
	for k := range m {
		if min == "" || k < min {
			min = k
		}
	}
	return min
}

// TestDeliveryFaults: receivers that hang, redirect, answer 10 MB or 410.
func TestDeliveryFaults(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		release := make(chan struct{})
		var hung atomic.Int32
		hang := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
			if n == 0 {
				hung.Add(1)
				select { // held past the sender's timeout
				case <-release:
				case <-r.Context().Done():
				}
				return false
			}
			w.WriteHeader(http.StatusOK)
			return true
		})
		t.Cleanup(func() { close(release) })
		var followed atomic.Int32
		target := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
			followed.Add(1)
			return true
		})
		redirect := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
			http.Redirect(w, r, target.url(), http.StatusTemporaryRedirect)
			return false
		})
		var written atomic.Int64
		huge := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
			w.WriteHeader(http.StatusOK)
			chunk := []byte(strings.Repeat("x", 64<<10))
			for range 160 { // 10 MiB
				k, err := w.Write(chunk)
				written.Add(int64(k))
				if err != nil {
					break
				}
			}
			return true
		})
		gone := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
			if n == 0 {
				w.WriteHeader(http.StatusGone)
				return false
			}
			w.WriteHeader(http.StatusNoContent)
			return true
		})
		cfg := fastConfig(
			webhooks.Endpoint{Name: "hang", URL: hang.url(), Secret: specSecret, Timeout: 300e6},
			webhooks.Endpoint{Name: "redirect", URL: redirect.url(), Secret: specSecret},
			webhooks.Endpoint{Name: "huge", URL: huge.url(), Secret: specSecret},
			webhooks.Endpoint{Name: "gone", URL: gone.url(), Secret: specSecret},
		)
		cfg.RetrySchedule = cfg.RetrySchedule[:2]
		h := newHarness(t, rdb, prefix, cfg, "w1")
		h.run()
		ev := h.orderEvent("order.cleared", "scr_faults", 2)
		id := func(ep string) string { return webhooks.DeliveryID(ep, ev) }
		ctx := context.Background()

		// Hang: the first attempt times out and is retried; the second
		// is acknowledged.
		waitFor(t, "the hung delivery to be retried and delivered", func() bool { return h.state(id("hang")) == webhooks.StateDelivered })
		d := h.get(id("hang"))
		if len(d.History) != 2 || d.History[1].Status != 0 || !strings.Contains(d.History[1].Error, "timeout") {
			t.Errorf("hang history: %+v", d.History)
		}

		// Redirect: never followed; dead after the schedule.
		waitFor(t, "the redirected delivery to die", func() bool { return h.state(id("redirect")) == webhooks.StateDead })
		d = h.get(id("redirect"))
		if followed.Load() != 0 || len(d.History) != 3 || d.History[0].Status != http.StatusTemporaryRedirect || !strings.Contains(d.History[0].Error, "redirect") {
			t.Errorf("redirect: followed %d times, history %+v", followed.Load(), d.History)
		}

		// 10 MB: delivered, excerpt capped, the rest not read.
		waitFor(t, "the huge answer", func() bool { return h.state(id("huge")) == webhooks.StateDelivered })
		d = h.get(id("huge"))
		if len(d.History) != 1 || len(d.History[0].Excerpt) > 4<<10+200 || d.History[0].Status != 200 {
			t.Errorf("huge: %d attempts, excerpt of %d bytes", len(d.History), len(d.History[0].Excerpt))
		}
		waitFor(t, "the huge handler to stop writing", func() bool { return written.Load() > 0 })
		if written.Load() >= 10<<20 {
			t.Errorf("the receiver wrote its whole 10 MiB: the sender read it all")
		}

		// 410: the endpoint is disabled, the delivery waits; enabling it
		// sends the delivery.
		waitFor(t, "the endpoint to be disabled", func() bool {
			st, err := h.svc.EndpointStates(ctx)
			return err == nil && st[3].Disabled
		})
		if d := h.get(id("gone")); d.State != webhooks.StatePending || d.LastStatus != http.StatusGone {
			t.Errorf("after 410: %+v", d)
		}
		ev2 := h.orderEvent("order.expired", "scr_faults2", 1)
		waitFor(t, "the second event to be fanned out", func() bool { return h.state(webhooks.DeliveryID("gone", ev2)) == webhooks.StatePending })
		if got := len(gone.requests()); got != 1 {
			t.Fatalf("a disabled endpoint got %d requests", got)
		}
		before, err := h.svc.Enable(ctx, "gone")
		if err != nil || !before.Disabled {
			t.Fatalf("Enable: %+v, %v", before, err)
		}
		waitFor(t, "both deliveries after enable", func() bool {
			return h.state(id("gone")) == webhooks.StateDelivered && h.state(webhooks.DeliveryID("gone", ev2)) == webhooks.StateDelivered
		})
		checkSigned(t, gone.requests(), specSecret)
		if hung.Load() != 1 {
			t.Errorf("hang got %d first requests", hung.Load())
		}
	})
}

// TestDeadLetterReplay: a receiver that fails every attempt gets the
// whole schedule, then the delivery is a dead letter; replaying the
// endpoint's dead letters delivers them with the same webhook-id, and a
// delivered one can be replayed too.
func TestDeadLetterReplay(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		var healthy atomic.Bool
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
			if !healthy.Load() {
				w.Header().Set("Retry-After", "0")
				http.Error(w, "provisioning is down", http.StatusInternalServerError)
				return false
			}
			w.WriteHeader(http.StatusOK)
			return true
		})
		cfg := fastConfig(webhooks.Endpoint{Name: "prov", URL: rc.url(), Secret: specSecret})
		cfg.RetrySchedule = cfg.RetrySchedule[:3]
		h := newHarness(t, rdb, prefix, cfg, "w1")
		h.run()
		ev1, ev2 := h.orderEvent("order.held", "scr_a", 1), h.orderEvent("order.held", "scr_b", 1)
		id1, id2 := webhooks.DeliveryID("prov", ev1), webhooks.DeliveryID("prov", ev2)
		waitFor(t, "two dead letters", func() bool { return h.state(id1) == webhooks.StateDead && h.state(id2) == webhooks.StateDead })
		d := h.get(id1)
		if d.Attempts != 4 || len(d.History) != 4 || d.History[0].Status != 500 || !strings.Contains(d.History[0].Excerpt, "provisioning is down") || d.DeadAt == nil {
			t.Fatalf("dead letter: %+v", d)
		}
		ctx := context.Background()
		page, err := h.svc.List(ctx, webhooks.Query{State: webhooks.StateDead, Endpoint: "prov"})
		if err != nil || len(page.Deliveries) != 2 {
			t.Fatalf("List dead: %+v, %v", page, err)
		}
		healthy.Store(true)
		n, err := h.svc.ReplayDeadLetters(ctx, "prov")
		if err != nil || n != 2 {
			t.Fatalf("ReplayDeadLetters = %d, %v", n, err)
		}
		waitFor(t, "the replayed dead letters", func() bool { return h.state(id1) == webhooks.StateDelivered && h.state(id2) == webhooks.StateDelivered })
		if _, err := h.svc.Replay(ctx, id1); err != nil {
			t.Fatalf("Replay of a delivered one: %v", err)
		}
		waitFor(t, "the replay", func() bool { return rc.ackedIDs()[id1] == 2 })
		waitFor(t, "the replay recorded", func() bool { d := h.get(id1); return d.State == webhooks.StateDelivered && d.Attempts == 6 })
		for _, r := range rc.requests() {
			if r.ID != id1 && r.ID != id2 {
				t.Errorf("unexpected webhook-id %s", r.ID)
			}
		}
		checkSigned(t, rc.requests(), specSecret)
		if _, err := h.svc.Replay(ctx, "msg_00000000000000000000000000000000"); err == nil {
			t.Error("Replay of an unknown delivery succeeded")
		}
	})
}

// TestSlowEndpointDoesNotDelayOther: an endpoint whose receiver holds
// every request keeps its own queue; another endpoint gets all events
// while the first one's requests are still held.
func TestSlowEndpointDoesNotDelayOther(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		release := make(chan struct{})
		slow := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
			<-release
			w.WriteHeader(http.StatusOK)
			return true
		})
		fast := newReceiver(t, nil)
		cfg := fastConfig(
			webhooks.Endpoint{Name: "slow", URL: slow.url(), Secret: specSecret, MaxInFlight: 2, Timeout: 20e9},
			webhooks.Endpoint{Name: "fast", URL: fast.url(), Secret: specSecret},
		)
		cfg.ClaimAfter = 30e9
		h := newHarness(t, rdb, prefix, cfg, "w1")
		h.run()
		for i := range 30 {
			h.orderEvent("order.cleared", fmt.Sprintf("scr_%d", i), 2)
		}
		waitFor(t, "every event at the fast endpoint", func() bool { return len(fast.ackedIDs()) == 30 })
		if got := len(slow.requests()); got != 2 {
			t.Errorf("the slow endpoint has %d requests in flight, want its max_in_flight 2", got)
		}
		close(release)
		waitFor(t, "every event at the slow endpoint", func() bool { return len(slow.ackedIDs()) == 30 })
	})
}
