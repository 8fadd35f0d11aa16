// Package webhooks delivers the gateway's events to the provisioning
// systems' endpoints, signed per the Standard Webhooks specification.
//
// The event outbox (internal/events: one Redis stream that the order relay
// and other packages append to) is read by the consumer group "webhooks"
// of every gateway process. Fan-out copies each event into one delivery
// per matching endpoint (one Lua script over the {wh} slot, idempotent by
// delivery id) before the event is acknowledged, and the outbox is trimmed
// only below what every consumer group of the stream has acknowledged
// (XTRIM MINID), so no event is trimmed unread.
//
// Each endpoint has its own queue (a stream with the consumer group
// "senders"), retry set, dead letters and concurrency limit: a slow or
// dead endpoint only fills its own queue. Every process sends from every
// endpoint's queue; an attempt's queue entry is acknowledged only in the
// script that records its outcome, so the entries of a process killed
// mid-attempt are claimed by another one (XAUTOCLAIM) after claim_after.
// Delivery is at least once; every attempt of a delivery carries the same
// webhook-id (derived from the event's stream id and the endpoint's name).
//
// Order of delivery: the events of one order reach an endpoint in the
// order they happened while every attempt succeeds at first; a retry, a
// replay, or max_in_flight above 1 can reorder them. Order events carry
// the order's version (data.version, increasing with every change):
// receivers keep the highest.
package webhooks

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/kind"
)

// Errors of the API methods.
var (
	ErrNotFound     = kind.New(kind.ErrNotFound, "not found")
	ErrInvalidInput = kind.New(kind.ErrInvalidInput, "invalid input")
	ErrConflict     = kind.New(kind.ErrConflict, "conflict")
	ErrUnavailable  = kind.New(kind.ErrUnavailable, "webhook state unavailable")
)

// fanoutGroup is the consumer group of the event outbox.
const fanoutGroup = "webhooks"

// Options are what cmd/gateway derives from the rest of the configuration;
// tests shorten the times.
type Options struct {
	// Prefix starts every key (screening.key_prefix); the delivery keys
	// are Prefix + "wh{wh}:...".
	Prefix string
	// Events is the event outbox stream's key.
	Events string
	// Consumer names this process in the consumer groups; default host,
	// pid and a random suffix.
	Consumer string
	// Poll is how long one read waits for new work; default 1s.
	Poll time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Service owns webhook delivery: fan-out, the senders and the API's view.
type Service struct {
	rdb    redis.UniversalClient
	cfg    Config
	opts   Options
	eps    []*endpoint
	byName map[string]*endpoint
	log    *slog.Logger
	m      metrics
}

type endpoint struct {
	Endpoint
	keys   [][]byte
	events map[string]bool // nil: all
	client *http.Client
}

type metrics struct {
	deliveries *prometheus.CounterVec
	depth      *prometheus.GaugeVec
	oldest     *prometheus.GaugeVec
	disabled   *prometheus.GaugeVec
	fanout     prometheus.Counter
	undecoded  prometheus.Counter
}

// New builds the service over rdb for the configured endpoints (cfg has
// its defaults and was validated). reg may be nil.
func New(cfg Config, rdb redis.UniversalClient, o Options, logger *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	if o.Events == "" {
		return nil, errors.New("webhooks: no event stream")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	if o.Consumer == "" {
		host, _ := os.Hostname()
		o.Consumer = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), rand.Text()[:8])
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{rdb: rdb, cfg: cfg, opts: o, byName: map[string]*endpoint{}, log: logger.With("consumer", o.Consumer)}
	for _, e := range cfg.Endpoints {
		ep := &endpoint{Endpoint: e, client: newClient(e)}
		for _, sec := range e.allSecrets() {
			k, err := ParseSecret(sec)
			if err != nil {
				return nil, fmt.Errorf("webhooks: endpoint %s: %w", e.Name, err)
			}
			ep.keys = append(ep.keys, k)
		}
		if len(e.Events) > 0 {
			ep.events = map[string]bool{}
			for _, t := range e.Events {
				ep.events[t] = true
			}
		}
		s.eps = append(s.eps, ep)
		s.byName[e.Name] = ep
	}
	s.m = metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_webhook_deliveries_total",
			Help: "Webhook attempts by endpoint and outcome: delivered, retry (failed, retried later), dead (failed, schedule spent), gone (410: endpoint disabled), duplicate (already delivered by another attempt)."}, []string{"endpoint", "outcome"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gateway_webhook_queue_depth",
			Help: "Deliveries not yet delivered (queued, in flight or waiting for a retry), by endpoint, across all gateway processes."}, []string{"endpoint"}),
		oldest: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gateway_webhook_oldest_undelivered_age_seconds",
			Help: "Age of the oldest undelivered delivery, by endpoint; 0 when none."}, []string{"endpoint"}),
		disabled: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gateway_webhook_endpoint_disabled",
			Help: "1 when the endpoint answered 410 Gone and is disabled until an officer enables it."}, []string{"endpoint"}),
		fanout: prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_webhook_events_fanned_out_total",
			Help: "Events of the outbox copied into per-endpoint deliveries."}),
		undecoded: prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_webhook_undecodable_events_total",
			Help: "Outbox entries that are not events (no type, bad time or data) and cannot be delivered."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{s.m.deliveries, s.m.depth, s.m.oldest, s.m.disabled, s.m.fanout, s.m.undecoded} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering webhook metrics: %w", err)
			}
		}
	}
	return s, nil
}

// newClient is an endpoint's HTTP client: no redirect followed (a 3xx is a
// failed attempt), no proxy from the environment, the endpoint's timeout
// over the whole attempt.
func newClient(e Endpoint) *http.Client {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: e.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          e.MaxInFlight,
		MaxIdleConnsPerHost:   e.MaxInFlight,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   e.Timeout,
		ResponseHeaderTimeout: e.Timeout,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       e.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (s *Service) key(name string) string { return s.opts.Prefix + "wh{wh}:" + name }

// Endpoints returns the names of the configured endpoints.
func (s *Service) Endpoints() []string {
	out := make([]string, len(s.eps))
	for i, e := range s.eps {
		out[i] = e.Name
	}
	return out
}

// DeliveryID is the webhook-id of event (its outbox stream id) at the
// endpoint: the same on every attempt and replay.
func DeliveryID(endpoint, event string) string {
	sum := sha256.Sum256([]byte(endpoint + "\x00" + event))
	return "msg_" + hex.EncodeToString(sum[:16])
}

// Prepare creates the outbox's consumer group at the stream's end, so that
// events appended from now on are delivered; cmd/gateway calls it before
// the order relay starts. Run makes sure of it too.
func (s *Service) Prepare(ctx context.Context) error {
	err := s.rdb.XGroupCreateMkStream(ctx, s.opts.Events, fanoutGroup, "$").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("creating the webhook consumer group on %s: %w", s.opts.Events, err)
	}
	return nil
}

// Run fans out and delivers until ctx ends. Every gateway process runs it.
func (s *Service) Run(ctx context.Context) {
	s.log.Info("webhook delivery started", "endpoints", s.Endpoints())
	done := make(chan struct{}, len(s.eps)+1)
	go func() { s.fanoutLoop(ctx); done <- struct{}{} }()
	for _, ep := range s.eps {
		go func() { s.sendLoop(ctx, ep); done <- struct{}{} }()
	}
	for range len(s.eps) + 1 {
		<-done
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (s *Service) fanoutLoop(ctx context.Context) {
	var last time.Time
	grouped := false
	for ctx.Err() == nil {
		if !grouped {
			if err := s.Prepare(ctx); err != nil {
				s.log.Warn("webhooks: creating the outbox consumer group", "error", err)
				sleep(ctx, s.opts.Poll)
				continue
			}
			grouped = true
		}
		maintain := time.Since(last) >= s.cfg.ClaimAfter/2
		if maintain {
			last = time.Now()
		}
		if _, err := s.FanoutOnce(ctx, maintain, s.opts.Poll); err != nil && ctx.Err() == nil {
			if strings.Contains(err.Error(), "NOGROUP") {
				grouped = false
			}
			s.log.Warn("webhooks: fan-out failed; trying again", "error", err)
			sleep(ctx, s.opts.Poll)
		}
	}
}

// fanoutBatch bounds the events one read takes.
const fanoutBatch = 100

// FanoutOnce reads new outbox events (waiting up to block; 0: not at
// all) and creates their deliveries; with maintain it first takes this
// consumer's unacknowledged events and those of consumers idle for
// claim_after, then trims the outbox below what every group has
// acknowledged and updates the metrics. It returns the events handled.
func (s *Service) FanoutOnce(ctx context.Context, maintain bool, block time.Duration) (int, error) {
	var msgs []redis.XMessage
	if maintain {
		own, err := s.readEvents(ctx, "0", -1)
		if err != nil {
			return 0, err
		}
		msgs = append(msgs, own...)
		claimed, _, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: s.opts.Events, Group: fanoutGroup, Consumer: s.opts.Consumer, MinIdle: s.cfg.ClaimAfter, Start: "0-0", Count: fanoutBatch,
		}).Result()
		if err != nil {
			return 0, fmt.Errorf("claiming idle events: %w", err)
		}
		msgs = append(msgs, claimed...)
		if err := s.maintain(ctx); err != nil {
			return 0, err
		}
	}
	if len(msgs) == 0 {
		b := block
		if b <= 0 {
			b = -1
		}
		fresh, err := s.readEvents(ctx, ">", b)
		if err != nil {
			return 0, err
		}
		msgs = fresh
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	if err := s.fanout(ctx, msgs); err != nil {
		return 0, err
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	if err := s.rdb.XAck(ctx, s.opts.Events, fanoutGroup, ids...).Err(); err != nil {
		return 0, fmt.Errorf("acknowledging %d events: %w", len(ids), err)
	}
	s.m.fanout.Add(float64(len(ids)))
	return len(ids), nil
}

func (s *Service) readEvents(ctx context.Context, from string, block time.Duration) ([]redis.XMessage, error) {
	res, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: fanoutGroup, Consumer: s.opts.Consumer, Streams: []string{s.opts.Events, from}, Count: fanoutBatch, Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the event outbox: %w", err)
	}
	var out []redis.XMessage
	for _, st := range res {
		out = append(out, st.Messages...)
	}
	return out, nil
}

// body is a webhook's body: data is the event's JSON, passed through.
type body struct {
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// fanout creates the deliveries of msgs in one script call.
func (s *Service) fanout(ctx context.Context, msgs []redis.XMessage) error {
	var (
		keys []string
		args []any
	)
	created := s.opts.Now().UnixMilli()
	for _, m := range msgs {
		typ, _ := m.Values["type"].(string)
		ts, _ := m.Values["time"].(string)
		data, _ := m.Values["data"].(string)
		t, terr := time.Parse(time.RFC3339Nano, ts)
		if typ == "" || terr != nil || !json.Valid([]byte(data)) {
			s.m.undecoded.Inc()
			s.log.Error("webhooks: an outbox entry is not an event and cannot be delivered", "entry", m.ID)
			continue
		}
		b, err := json.Marshal(body{Type: typ, Timestamp: t.UTC().Format(time.RFC3339Nano), Data: json.RawMessage(data)})
		if err != nil {
			return fmt.Errorf("encoding event %s: %w", m.ID, err)
		}
		var ref struct {
			ScreeningID string `json:"screening_id"`
		}
		_ = json.Unmarshal([]byte(data), &ref) // not every event is an order's
		for _, ep := range s.eps {
			if ep.events != nil && !ep.events[typ] {
				continue
			}
			id := DeliveryID(ep.Name, m.ID)
			keys = append(keys, s.key("d:"+id), s.key("q:"+ep.Name), s.key("p:"+ep.Name), s.key("i:all"),
				s.key("i:e:"+ep.Name), s.key("i:o:"+ref.ScreeningID))
			args = append(args, id, ep.Name, m.ID, typ, ts, ref.ScreeningID, b, created)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	args = append(args, s.cfg.Retention.Milliseconds())
	if err := fanoutScript.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
		return fmt.Errorf("creating deliveries: %w", err)
	}
	return nil
}

// maintain trims the outbox below what every consumer group has
// acknowledged, drops index entries older than the retention, and
// updates the queue metrics.
func (s *Service) maintain(ctx context.Context) error {
	if err := s.trimOutbox(ctx); err != nil {
		return err
	}
	now := s.opts.Now()
	horizon := fmt.Sprintf("(%d", now.Add(-s.cfg.Retention).UnixMilli())
	pipe := s.rdb.Pipeline()
	pipe.ZRemRangeByScore(ctx, s.key("i:all"), "-inf", horizon)
	type q struct {
		n     *redis.IntCmd
		first *redis.ZSliceCmd
		off   *redis.StringCmd
	}
	qs := make([]q, len(s.eps))
	for i, ep := range s.eps {
		pipe.ZRemRangeByScore(ctx, s.key("i:e:"+ep.Name), "-inf", horizon)
		pipe.ZRemRangeByScore(ctx, s.key("x:"+ep.Name), "-inf", horizon)
		qs[i] = q{pipe.ZCard(ctx, s.key("p:"+ep.Name)), pipe.ZRangeWithScores(ctx, s.key("p:"+ep.Name), 0, 0), pipe.HGet(ctx, s.key("ep:"+ep.Name), "disabled")}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("measuring webhook queues: %w", err)
	}
	for i, ep := range s.eps {
		s.m.depth.WithLabelValues(ep.Name).Set(float64(qs[i].n.Val()))
		age := 0.0
		if z := qs[i].first.Val(); len(z) == 1 {
			age = max(now.Sub(time.UnixMilli(int64(z[0].Score))).Seconds(), 0)
		}
		s.m.oldest.WithLabelValues(ep.Name).Set(age)
		dis := 0.0
		if qs[i].off.Val() == "1" {
			dis = 1
		}
		s.m.disabled.WithLabelValues(ep.Name).Set(dis)
	}
	return nil
}

// trimOutbox removes the outbox entries older than the oldest one some
// consumer group has not acknowledged: for each group, its oldest pending
// entry, or when none its last delivered one (kept: XTRIM MINID removes
// only ids below it). Entries no group has read are above every group's
// last delivered id and stay.
func (s *Service) trimOutbox(ctx context.Context) error {
	groups, err := s.rdb.XInfoGroups(ctx, s.opts.Events).Result()
	if err != nil {
		return fmt.Errorf("reading the outbox's consumer groups: %w", err)
	}
	minID := ""
	for _, g := range groups {
		low := g.LastDeliveredID
		if g.Pending > 0 {
			p, err := s.rdb.XPending(ctx, s.opts.Events, g.Name).Result()
			if err != nil {
				return fmt.Errorf("reading the pending events of group %s: %w", g.Name, err)
			}
			low = p.Lower
		}
		if minID == "" || compareIDs(low, minID) < 0 {
			minID = low
		}
	}
	if minID == "" || minID == "0-0" {
		return nil
	}
	if err := s.rdb.XTrimMinID(ctx, s.opts.Events, minID).Err(); err != nil {
		return fmt.Errorf("trimming the outbox below %s: %w", minID, err)
	}
	return nil
}

// compareIDs orders two stream ids (ms-seq).
func compareIDs(a, b string) int {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	if c := compareNum(am, bm); c != 0 {
		return c
	}
	return compareNum(as, bs)
}

func compareNum(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// jitter returns d times a random factor in [0.8, 1.2).
func jitter(d time.Duration) time.Duration {
	n, err := rand.Int(rand.Reader, big.NewInt(1<<20))
	if err != nil {
		return d
	}
	f := 0.8 + 0.4*float64(n.Int64())/float64(1<<20)
	return time.Duration(float64(d) * f)
}

// retryDelay is the wait before the retry after attempt number round+1 of
// the schedule: the schedule's entry with jitter, raised to the
// receiver's Retry-After up to max_retry_after.
func (s *Service) retryDelay(round int, retryAfter time.Duration) time.Duration {
	sch := s.cfg.RetrySchedule
	if round >= len(sch) {
		return 0 // the schedule is spent: the delivery dies
	}
	d := jitter(sch[round])
	if retryAfter > d {
		d = min(retryAfter, max(s.cfg.MaxRetryAfter, d))
	}
	return d
}
