package webhooks_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/webhooks"
)

// specSecret is the Standard Webhooks specification's example secret.
const specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// otherSecret is a second secret, for rotation.
const otherSecret = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24tdGVzdHM="

// verify is an independent Standard Webhooks verifier, written from the
// specification (not the sender's code): the signed content is
// "id.timestamp.body", the key the base64-decoded part of the secret after
// "whsec_", the header a space-separated list of "v1,<base64 HMAC-SHA256>";
// one matching signature of one known secret is enough.
func verify(secrets []string, id, timestamp string, body []byte, header string) error {
	for _, sec := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sec, "whsec_"))
		if err != nil {
			return err
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + timestamp + "."))
		mac.Write(body)
		want := mac.Sum(nil)
		for _, part := range strings.Split(header, " ") {
			version, sig, ok := strings.Cut(part, ",")
			if !ok || version != "v1" {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(sig)
			if err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return fmt.Errorf("no valid v1 signature in %q", header)
}

// received is one request a receiver got.
type received struct {
	ID, Timestamp, Signature string
	Body                     []byte
	Event                    struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
}

// receiver is a real HTTP server on loopback that records what it gets
// and answers what answer says (nil: 204).
type receiver struct {
	t      testing.TB
	mu     sync.Mutex
	got    []received
	answer func(w http.ResponseWriter, r *http.Request, n int) bool // false: not recorded as acknowledged
	srv    *http.Server
	ln     net.Listener
	addr   string
	acked  map[string]int // webhook-id -> acknowledged receipts
}

func newReceiver(t testing.TB, answer func(w http.ResponseWriter, r *http.Request, n int) bool) *receiver {
	t.Helper()
	rc := &receiver{t: t, answer: answer, acked: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc.addr = ln.Addr().String()
	rc.serve(ln)
	t.Cleanup(rc.stop)
	return rc
}

func (rc *receiver) serve(ln net.Listener) {
	rc.ln = ln
	rc.srv = &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = rc.srv.Serve(ln) }()
}

// stop closes the listener and every connection: the receiver is down.
func (rc *receiver) stop() {
	if rc.srv != nil {
		_ = rc.srv.Close()
		rc.srv = nil
	}
}

// start listens again on the same address.
func (rc *receiver) start() {
	rc.t.Helper()
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", rc.addr); err == nil {
			rc.serve(ln)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	rc.t.Fatalf("listening again on %s: %v", rc.addr, err)
}

func (rc *receiver) url() string { return "http://" + rc.addr + "/hook" }

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var rec received
	rec.ID, rec.Timestamp, rec.Signature, rec.Body = r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), b
	_ = json.Unmarshal(b, &rec.Event)
	rc.mu.Lock()
	n := len(rc.got)
	rc.got = append(rc.got, rec)
	rc.mu.Unlock()
	ok := true
	if rc.answer != nil {
		ok = rc.answer(w, r, n)
	} else {
		w.WriteHeader(http.StatusNoContent)
	}
	if ok {
		rc.mu.Lock()
		rc.acked[rec.ID]++
		rc.mu.Unlock()
	}
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) ackedIDs() map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string]int{}
	for k, v := range rc.acked {
		out[k] = v
	}
	return out
}

// waitFor polls cond until it holds; a bound, not a timed assertion.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// backends runs f on the shared standalone server and on the Cluster.
func backends(t *testing.T, f func(t *testing.T, rdb redis.UniversalClient, prefix string)) {
	t.Run("standalone", func(t *testing.T) {
		f(t, testenv.RedisClient(t), testenv.KeyPrefix(t))
	})
	t.Run("cluster", func(t *testing.T) {
		c, prefix := testenv.RedisClusterClient(t)
		f(t, c, prefix)
	})
}

// fastConfig is a configuration with a millisecond retry schedule.
func fastConfig(eps ...webhooks.Endpoint) webhooks.Config {
	cfg := webhooks.Config{
		Endpoints: eps,
		DeliveryConfig: webhooks.DeliveryConfig{
			RetrySchedule: []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond, 160 * time.Millisecond, 200 * time.Millisecond},
			ClaimAfter:    3 * time.Second,
		},
	}
	for i := range cfg.Endpoints {
		if cfg.Endpoints[i].Timeout == 0 {
			cfg.Endpoints[i].Timeout = 2 * time.Second
		}
	}
	cfg.SetDefaults()
	return cfg
}

// harness is a service, its outbox and its running workers.
type harness struct {
	t      testing.TB
	rdb    redis.UniversalClient
	prefix string
	outbox *events.Outbox
	svc    *webhooks.Service
	reg    *prometheus.Registry
	stop   func()
}

func newHarness(t testing.TB, rdb redis.UniversalClient, prefix string, cfg webhooks.Config, consumer string) *harness {
	t.Helper()
	h := &harness{t: t, rdb: rdb, prefix: prefix, outbox: events.New(rdb, prefix+"events", 0), reg: prometheus.NewRegistry()}
	svc, err := webhooks.New(cfg, rdb, webhooks.Options{Prefix: prefix, Events: h.outbox.Key(), Consumer: consumer, Poll: 50 * time.Millisecond}, nil, h.reg)
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := svc.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	return h
}

// run starts the workers; they stop when the test ends.
func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.svc.Run(ctx) }()
	h.stop = func() { cancel(); <-done }
	h.t.Cleanup(h.stop)
}

// orderEvent appends an order event for order sid with version v.
func (h *harness) orderEvent(typ, sid string, v int) string {
	h.t.Helper()
	data := map[string]any{"screening_id": sid, "order_id": "o-" + sid, "status": strings.TrimPrefix(typ, "order."), "version": v}
	id, err := h.outbox.Append(context.Background(), events.Event{Type: typ, Time: time.Now(), Data: data})
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

func (h *harness) get(id string) webhooks.Delivery {
	h.t.Helper()
	d, err := h.svc.Get(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

func (h *harness) state(id string) string {
	d, err := h.svc.Get(context.Background(), id)
	if err != nil {
		return "error: " + err.Error()
	}
	return d.State
}

// checkSigned verifies every request's signature and timestamp form.
func checkSigned(t testing.TB, reqs []received, secrets ...string) {
	t.Helper()
	for _, r := range reqs {
		if _, err := strconv.ParseInt(r.Timestamp, 10, 64); err != nil {
			t.Errorf("webhook-timestamp %q is not unix seconds", r.Timestamp)
		}
		if err := verify(secrets, r.ID, r.Timestamp, r.Body, r.Signature); err != nil {
			t.Errorf("delivery %s: %v", r.ID, err)
		}
	}
}
