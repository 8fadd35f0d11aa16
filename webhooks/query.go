package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Delivery states.
const (
	StatePending   = "pending"   // queued, in flight or waiting for a retry
	StateDelivered = "delivered" // a 2xx answer
	StateDead      = "dead"      // the retry schedule is spent
)

// Delivery is the API's view of one event's delivery to one endpoint.
type Delivery struct {
	// ID is the webhook-id of every attempt.
	ID          string          `json:"id"`
	Endpoint    string          `json:"endpoint"`
	EventID     string          `json:"event_id"`
	Type        string          `json:"type"`
	Order       string          `json:"order,omitempty"`
	State       string          `json:"state"`
	Attempts    int             `json:"attempts"`
	CreatedAt   time.Time       `json:"created_at"`
	NextAttempt *time.Time      `json:"next_attempt_at,omitempty"`
	DeliveredAt *time.Time      `json:"delivered_at,omitempty"`
	DeadAt      *time.Time      `json:"dead_at,omitempty"`
	LastStatus  int             `json:"last_status,omitempty"`
	LastError   string          `json:"last_error,omitempty"`
	Body        json.RawMessage `json:"body,omitempty"`
	// History is the recorded attempts, newest first (Get only).
	History []Attempt `json:"history,omitempty"`
}

// Query filters the deliveries listed, newest first.
type Query struct {
	Endpoint, Event, Order, State string
	// After is the previous page's Next.
	After string
	Limit int
}

// MaxLimit bounds a page.
const MaxLimit = 500

// maxScanned bounds the deliveries one page looks at to fill itself with
// filtered ones; a page may then hold fewer than Limit, with a Next.
const maxScanned = 5000

// Page is one page of deliveries; Next ("" on the last page) is the After
// of the next one.
type Page struct {
	Deliveries []Delivery `json:"deliveries"`
	Next       string     `json:"next,omitempty"`
}

func unavailable(doing string, err error) error {
	return fmt.Errorf("%s: %w: %w", doing, ErrUnavailable, err)
}

// List returns a page of deliveries matching q.
func (s *Service) List(ctx context.Context, q Query) (Page, error) {
	if q.Limit == 0 {
		q.Limit = 100
	}
	if q.Limit < 1 || q.Limit > MaxLimit {
		return Page{}, fmt.Errorf("%w: limit must be from 1 to %d", ErrInvalidInput, MaxLimit)
	}
	switch q.State {
	case "", StatePending, StateDelivered, StateDead:
	default:
		return Page{}, fmt.Errorf("%w: state must be pending, delivered or dead", ErrInvalidInput)
	}
	if q.Endpoint != "" && s.byName[q.Endpoint] == nil {
		return Page{}, fmt.Errorf("%w: no endpoint %q", ErrInvalidInput, q.Endpoint)
	}
	index := s.key("i:all")
	switch {
	case q.Order != "":
		index = s.key("i:o:" + q.Order)
	case q.Endpoint != "":
		index = s.key("i:e:" + q.Endpoint)
	}
	// The cursor is "score:member" of the last delivery handed out.
	maxScore, lastID := "+inf", ""
	if q.After != "" {
		sc, id, ok := strings.Cut(q.After, ":")
		if _, err := strconv.ParseInt(sc, 10, 64); !ok || err != nil || !strings.HasPrefix(id, "msg_") {
			return Page{}, fmt.Errorf("%w: after must be the next value of the previous page", ErrInvalidInput)
		}
		maxScore, lastID = sc, id
	}
	var page Page
	const chunk = 200
	scanned, offset := 0, int64(0)
	for scanned < maxScanned {
		zs, err := s.rdb.ZRevRangeByScoreWithScores(ctx, index, &redis.ZRangeBy{Max: maxScore, Min: "-inf", Offset: offset, Count: chunk}).Result()
		if err != nil {
			return Page{}, unavailable("listing webhook deliveries", err)
		}
		offset += int64(len(zs))
		var ids []string
		var scores []int64
		for _, z := range zs {
			id, _ := z.Member.(string)
			sc := int64(z.Score)
			// Members of one score come in reverse lexical order: skip
			// those at or above the cursor.
			if lastID != "" && strconv.FormatInt(sc, 10) == maxScore && id >= lastID {
				continue
			}
			ids, scores = append(ids, id), append(scores, sc)
		}
		ds, err := s.load(ctx, ids)
		if err != nil {
			return Page{}, err
		}
		for i, d := range ds {
			scanned++
			if d == nil || !matches(*d, q) {
				continue
			}
			page.Deliveries = append(page.Deliveries, *d)
			if len(page.Deliveries) == q.Limit {
				page.Next = strconv.FormatInt(scores[i], 10) + ":" + ids[i]
				return page, nil
			}
		}
		if len(zs) < chunk {
			return page, nil
		}
		if scanned >= maxScanned && len(ids) > 0 {
			page.Next = strconv.FormatInt(scores[len(ids)-1], 10) + ":" + ids[len(ids)-1]
		}
	}
	return page, nil
}

func matches(d Delivery, q Query) bool {
	return (q.Endpoint == "" || d.Endpoint == q.Endpoint) && (q.Event == "" || d.Type == q.Event) &&
		(q.Order == "" || d.Order == q.Order) && (q.State == "" || d.State == q.State)
}

// load reads deliveries in one round trip; nil for one that expired.
func (s *Service) load(ctx context.Context, ids []string) ([]*Delivery, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, s.key("d:"+id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, unavailable("reading webhook deliveries", err)
	}
	out := make([]*Delivery, len(ids))
	for i, c := range cmds {
		if h := c.Val(); len(h) > 0 {
			d := decodeDelivery(h)
			out[i] = &d
		}
	}
	return out, nil
}

func decodeDelivery(h map[string]string) Delivery {
	ms := func(k string) *time.Time {
		n, err := strconv.ParseInt(h[k], 10, 64)
		if err != nil {
			return nil
		}
		t := time.UnixMilli(n).UTC()
		return &t
	}
	d := Delivery{ID: h["id"], Endpoint: h["endpoint"], EventID: h["event"], Type: h["type"], Order: h["order"],
		State: h["state"], LastError: h["last_error"], Body: json.RawMessage(h["body"])}
	d.Attempts, _ = strconv.Atoi(h["attempts"])
	d.LastStatus, _ = strconv.Atoi(h["last_status"])
	if t := ms("created"); t != nil {
		d.CreatedAt = *t
	}
	d.NextAttempt, d.DeliveredAt, d.DeadAt = ms("next_at"), ms("delivered_at"), ms("dead_at")
	return d
}

// Get returns a delivery with its recorded attempts.
func (s *Service) Get(ctx context.Context, id string) (Delivery, error) {
	if !validID(id) {
		return Delivery{}, fmt.Errorf("webhook delivery %q: %w", id, ErrNotFound)
	}
	pipe := s.rdb.Pipeline()
	h := pipe.HGetAll(ctx, s.key("d:"+id))
	as := pipe.LRange(ctx, s.key("a:"+id), 0, -1)
	if _, err := pipe.Exec(ctx); err != nil {
		return Delivery{}, unavailable("reading webhook delivery "+id, err)
	}
	if len(h.Val()) == 0 {
		return Delivery{}, fmt.Errorf("webhook delivery %s: %w", id, ErrNotFound)
	}
	d := decodeDelivery(h.Val())
	d.History = []Attempt{}
	for _, raw := range as.Val() {
		var a Attempt
		if err := json.Unmarshal([]byte(raw), &a); err == nil {
			d.History = append(d.History, a)
		}
	}
	return d, nil
}

func validID(id string) bool {
	hexPart, ok := strings.CutPrefix(id, "msg_")
	if !ok || len(hexPart) != 32 {
		return false
	}
	for _, c := range hexPart {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Replay queues a new attempt at a delivery, with the same webhook-id and
// a fresh retry schedule, whatever its state; ErrConflict when it is
// already queued or in flight.
func (s *Service) Replay(ctx context.Context, id string) (Delivery, error) {
	d, err := s.Get(ctx, id)
	if err != nil {
		return Delivery{}, err
	}
	if s.byName[d.Endpoint] == nil {
		return Delivery{}, fmt.Errorf("%w: delivery %s is for endpoint %q, no longer configured", ErrConflict, id, d.Endpoint)
	}
	res, err := s.replay(ctx, d.Endpoint, id)
	if err != nil {
		return Delivery{}, err
	}
	switch res {
	case "missing":
		return Delivery{}, fmt.Errorf("webhook delivery %s: %w", id, ErrNotFound)
	case "queued":
		return Delivery{}, fmt.Errorf("%w: delivery %s is already queued or being attempted", ErrConflict, id)
	}
	return s.Get(ctx, id)
}

func (s *Service) replay(ctx context.Context, ep, id string) (string, error) {
	keys := []string{s.key("d:" + id), s.key("q:" + ep), s.key("r:" + ep), s.key("p:" + ep), s.key("x:" + ep), s.key("a:" + id)}
	res, err := replayScript.Run(ctx, s.rdb, keys, id).Text()
	if err != nil {
		return "", unavailable("replaying webhook delivery "+id, err)
	}
	return res, nil
}

// ReplayDeadLetters queues a new attempt at every dead letter of the
// endpoint and returns how many.
func (s *Service) ReplayDeadLetters(ctx context.Context, endpoint string) (int, error) {
	if s.byName[endpoint] == nil {
		return 0, fmt.Errorf("webhook endpoint %q: %w", endpoint, ErrNotFound)
	}
	n := 0
	for {
		ids, err := s.rdb.ZRange(ctx, s.key("x:"+endpoint), 0, 99).Result()
		if err != nil {
			return n, unavailable("listing dead letters of "+endpoint, err)
		}
		if len(ids) == 0 {
			return n, nil
		}
		for _, id := range ids {
			res, err := s.replay(ctx, endpoint, id)
			if err != nil {
				return n, err
			}
			if res == "missing" {
				// Expired with the retention: drop it from the set.
				if err := s.rdb.ZRem(ctx, s.key("x:"+endpoint), id).Err(); err != nil {
					return n, unavailable("dropping an expired dead letter", err)
				}
				continue
			}
			n++
		}
	}
}

// EndpointState is an endpoint as the API shows it.
type EndpointState struct {
	Name       string     `json:"name"`
	Events     []string   `json:"events"`
	Disabled   bool       `json:"disabled"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	Pending    int64      `json:"pending"`
	Dead       int64      `json:"dead"`
}

// EndpointStates returns every configured endpoint's state.
func (s *Service) EndpointStates(ctx context.Context) ([]EndpointState, error) {
	pipe := s.rdb.Pipeline()
	type cmds struct {
		h       *redis.MapStringStringCmd
		p, dead *redis.IntCmd
	}
	cs := make([]cmds, len(s.eps))
	for i, ep := range s.eps {
		cs[i] = cmds{pipe.HGetAll(ctx, s.key("ep:"+ep.Name)), pipe.ZCard(ctx, s.key("p:"+ep.Name)), pipe.ZCard(ctx, s.key("x:"+ep.Name))}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, unavailable("reading webhook endpoints", err)
	}
	out := make([]EndpointState, len(s.eps))
	for i, ep := range s.eps {
		h := cs[i].h.Val()
		st := EndpointState{Name: ep.Name, Events: ep.Events, Disabled: h["disabled"] == "1", Reason: h["reason"],
			Pending: cs[i].p.Val(), Dead: cs[i].dead.Val()}
		if st.Events == nil {
			st.Events = []string{}
		}
		if n, err := strconv.ParseInt(h["disabled_at"], 10, 64); err == nil && st.Disabled {
			t := time.UnixMilli(n).UTC()
			st.DisabledAt = &t
		}
		out[i] = st
	}
	return out, nil
}

// Enable lets a disabled endpoint (after a 410) receive again: its parked
// deliveries are sent. It returns the state before.
func (s *Service) Enable(ctx context.Context, endpoint string) (EndpointState, error) {
	if s.byName[endpoint] == nil {
		return EndpointState{}, fmt.Errorf("webhook endpoint %q: %w", endpoint, ErrNotFound)
	}
	states, err := s.EndpointStates(ctx)
	if err != nil {
		return EndpointState{}, err
	}
	var before EndpointState
	for _, st := range states {
		if st.Name == endpoint {
			before = st
		}
	}
	if err := s.rdb.HDel(ctx, s.key("ep:"+endpoint), "disabled", "disabled_at", "reason").Err(); err != nil && !errors.Is(err, redis.Nil) {
		return EndpointState{}, unavailable("enabling webhook endpoint "+endpoint, err)
	}
	return before, nil
}
