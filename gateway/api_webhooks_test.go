package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/webhooks"
)

// TestAPIWebhooks drives the officer's webhook routes over the real
// delivery service on Redis and a real receiver: a delivery that fails its
// whole schedule is listed as dead, shown with its attempts, replayed
// (the same webhook-id again) once the receiver is back; an endpoint
// disabled by a 410 is enabled. Officer actions are audited; storefronts
// may not use the routes.
func TestAPIWebhooks(t *testing.T) {
	rdb := testenv.RedisClient(t)
	prefix := testenv.KeyPrefix(t)
	var mode atomic.Int32 // 0: 500, 1: 200, 2: 410
	var (
		mu  sync.Mutex
		ids []string
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids = append(ids, r.Header.Get("webhook-id"))
		mu.Unlock()
		switch mode.Load() {
		case 0:
			http.Error(w, "down", http.StatusInternalServerError)
		case 1:
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusGone)
		}
	}))
	t.Cleanup(recv.Close)
	cfg := webhooks.Config{
		Endpoints:      []webhooks.Endpoint{{Name: "prov", URL: recv.URL, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", MaxInFlight: 1}},
		DeliveryConfig: webhooks.DeliveryConfig{RetrySchedule: []time.Duration{time.Millisecond}},
	}
	cfg.SetDefaults()
	outbox := events.New(rdb, prefix+"events", 0)
	svc, err := webhooks.New(cfg, rdb, webhooks.Options{Prefix: prefix, Events: outbox.Key(), Poll: 20 * time.Millisecond}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := svc.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	ev, err := outbox.Append(ctx, events.Event{Type: "order.cleared", Time: time.Now(), Data: map[string]any{"screening_id": "scr_api", "status": "cleared"}})
	if err != nil {
		t.Fatal(err)
	}
	id := webhooks.DeliveryID("prov", ev)
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	state := func() string { d, _ := svc.Get(ctx, id); return d.State }
	wait("the dead letter", func() bool { return state() == webhooks.StateDead })

	al := &fakeAudit{}
	h, creds := newTestAPIWith(t, func(d *APIDeps) { d.Audit, d.Webhooks = al, svc })

	code, body := serveAPI(t, h, creds["shop"], "GET", "/api/v1/webhooks/deliveries", "")
	if code != http.StatusForbidden {
		t.Errorf("storefront: %d %s", code, body)
	}
	code, body = serveAPI(t, h, creds["officer"], "GET", "/api/v1/webhooks/deliveries?state=dead&order=scr_api&event=order.cleared&endpoint=prov", "")
	var page webhooks.Page
	if code != http.StatusOK || json.Unmarshal([]byte(body), &page) != nil || len(page.Deliveries) != 1 || page.Deliveries[0].ID != id {
		t.Fatalf("list: %d %s", code, body)
	}
	for _, q := range []string{"state=lost", "limit=0", "colour=red", "endpoint=nope", "after=x"} {
		if code, body := serveAPI(t, h, creds["officer"], "GET", "/api/v1/webhooks/deliveries?"+q, ""); code != http.StatusBadRequest {
			t.Errorf("list ?%s: %d %s, want 400", q, code, body)
		}
	}
	code, body = serveAPI(t, h, creds["officer"], "GET", "/api/v1/webhooks/deliveries/"+id, "")
	var d webhooks.Delivery
	if code != http.StatusOK || json.Unmarshal([]byte(body), &d) != nil || len(d.History) != 2 || d.History[0].Status != 500 {
		t.Fatalf("get: %d %s", code, body)
	}
	if code, _ := serveAPI(t, h, creds["officer"], "GET", "/api/v1/webhooks/deliveries/msg_nope", ""); code != http.StatusNotFound {
		t.Errorf("get unknown: %d", code)
	}

	mode.Store(1)
	code, body = serveAPI(t, h, creds["officer"], "POST", "/api/v1/webhooks/deliveries/"+id+"/replay", "")
	if code != http.StatusAccepted {
		t.Fatalf("replay: %d %s", code, body)
	}
	wait("the replay", func() bool { return state() == webhooks.StateDelivered })
	mu.Lock()
	seen := append([]string(nil), ids...)
	mu.Unlock()
	for _, got := range seen {
		if got != id {
			t.Errorf("webhook-id %s, want %s on every attempt", got, id)
		}
	}

	// 410 disables the endpoint; enable lets it receive again.
	mode.Store(2)
	ev2, _ := outbox.Append(ctx, events.Event{Type: "order.held", Time: time.Now(), Data: map[string]any{"screening_id": "scr_api2"}})
	wait("the endpoint disabled", func() bool {
		st, _ := svc.EndpointStates(ctx)
		return st[0].Disabled
	})
	code, body = serveAPI(t, h, creds["officer"], "GET", "/api/v1/webhooks/endpoints", "")
	if code != http.StatusOK || !strings.Contains(body, `"disabled":true`) {
		t.Errorf("endpoints: %d %s", code, body)
	}
	mode.Store(1)
	if code, body := serveAPI(t, h, creds["officer"], "POST", "/api/v1/webhooks/endpoints/prov/enable", ""); code != http.StatusOK || !strings.Contains(body, `"was_disabled":true`) {
		t.Fatalf("enable: %d %s", code, body)
	}
	wait("the parked delivery", func() bool {
		d, _ := svc.Get(ctx, webhooks.DeliveryID("prov", ev2))
		return d.State == webhooks.StateDelivered
	})
	if code, _ := serveAPI(t, h, creds["officer"], "POST", "/api/v1/webhooks/endpoints/nope/enable", ""); code != http.StatusNotFound {
		t.Errorf("enable unknown: %d", code)
	}
	code, body = serveAPI(t, h, creds["officer"], "POST", "/api/v1/webhooks/endpoints/prov/replay-dead-letters", "")
	if code != http.StatusAccepted || !strings.Contains(body, `"replayed":0`) {
		t.Errorf("replay dead letters: %d %s", code, body)
	}

	var actions []string
	for _, e := range al.appended {
		actions = append(actions, e.Action+" by "+e.Actor)
	}
	want := "webhook.replayed by officer:olga,webhook.endpoint_enabled by officer:olga,webhook.dead_letters_replayed by officer:olga"
	if got := strings.Join(actions, ","); got != want {
		t.Errorf("audited %s, want %s", got, want)
	}
}
