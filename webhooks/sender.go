package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// excerptBytes bounds the answer kept with an attempt; drainBytes bounds
// what is read after it so that the connection can be reused. A longer
// answer is cut off with the connection.
const (
	excerptBytes = 4 << 10
	drainBytes   = 64 << 10
)

// recordTimeout bounds recording an attempt's outcome.
const recordTimeout = 5 * time.Second

// Attempt is one recorded try at a delivery.
type Attempt struct {
	At time.Time `json:"at"`
	// Status is the receiver's HTTP status; 0 when there was no answer.
	Status    int    `json:"status"`
	LatencyMS int64  `json:"latency_ms"`
	Excerpt   string `json:"excerpt,omitempty"`
	Error     string `json:"error,omitempty"`
	Worker    string `json:"worker"`
}

// sendLoop sends the endpoint's deliveries until ctx ends, at most
// MaxInFlight at a time in this process.
func (s *Service) sendLoop(ctx context.Context, ep *endpoint) {
	slots := make(chan struct{}, ep.MaxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	var last time.Time
	grouped := false
	for ctx.Err() == nil {
		if !grouped {
			err := s.rdb.XGroupCreateMkStream(ctx, s.key("q:"+ep.Name), sendersGroup, "0").Err()
			if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
				s.log.Warn("webhooks: creating the senders group", "endpoint", ep.Name, "error", err)
				sleep(ctx, s.opts.Poll)
				continue
			}
			grouped = true
		}
		maintain := time.Since(last) >= s.cfg.ClaimAfter/4
		if maintain {
			last = time.Now()
		}
		if err := s.sendStep(ctx, ep, slots, &wg, maintain); err != nil && ctx.Err() == nil {
			if strings.Contains(err.Error(), "NOGROUP") {
				grouped = false
			}
			s.log.Warn("webhooks: sending failed; trying again", "endpoint", ep.Name, "error", err)
			sleep(ctx, s.opts.Poll)
		}
	}
}

// sendStep moves due retries into the queue, takes over the entries of
// dead workers (with maintain), then reads as many entries as there are
// free slots and starts their attempts.
func (s *Service) sendStep(ctx context.Context, ep *endpoint, slots chan struct{}, wg *sync.WaitGroup, maintain bool) error {
	q := s.key("q:" + ep.Name)
	err := promoteScript.Run(ctx, s.rdb, []string{s.key("r:" + ep.Name), q, s.key("ep:" + ep.Name)}, s.opts.Now().UnixMilli(), 100).Err()
	if err != nil {
		return fmt.Errorf("moving due retries: %w", err)
	}
	// One free slot at least, then as many more as are free.
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return nil
	}
	n := 1
more:
	for n < cap(slots) {
		select {
		case slots <- struct{}{}:
			n++
		default:
			break more
		}
	}
	var msgs []redis.XMessage
	if maintain {
		claimed, _, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: q, Group: sendersGroup, Consumer: s.opts.Consumer, MinIdle: s.cfg.ClaimAfter, Start: "0-0", Count: int64(n),
		}).Result()
		if err != nil {
			release(slots, n)
			return fmt.Errorf("claiming the deliveries of stopped workers: %w", err)
		}
		for _, m := range claimed {
			s.log.Info("webhooks: took over a delivery whose worker stopped", "endpoint", ep.Name, "entry", m.ID)
		}
		msgs = claimed
	}
	if len(msgs) == 0 {
		res, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: sendersGroup, Consumer: s.opts.Consumer, Streams: []string{q, ">"}, Count: int64(n), Block: s.opts.Poll,
		}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			release(slots, n)
			return fmt.Errorf("reading the queue of %s: %w", ep.Name, err)
		}
		for _, st := range res {
			msgs = append(msgs, st.Messages...)
		}
	}
	release(slots, n-len(msgs))
	for _, m := range msgs {
		wg.Go(func() {
			defer release(slots, 1)
			s.attempt(ctx, ep, m)
		})
	}
	return nil
}

func release(slots chan struct{}, n int) {
	for range n {
		<-slots
	}
}

// attempt makes one try at the delivery of queue entry m and records it.
func (s *Service) attempt(ctx context.Context, ep *endpoint, m redis.XMessage) {
	id, _ := m.Values["id"].(string)
	q := s.key("q:" + ep.Name)
	log := s.log.With("endpoint", ep.Name, "delivery", id)
	res, err := beginScript.Run(ctx, s.rdb, []string{q, s.key("d:" + id), s.key("ep:" + ep.Name), s.key("r:" + ep.Name)},
		m.ID, s.opts.Consumer, id, s.opts.Now().UnixMilli()).StringSlice()
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("webhooks: starting an attempt", "error", err)
		}
		return // still pending: taken again after claim_after
	}
	if res[0] != "ok" {
		if res[0] == "lost" {
			log.Warn("webhooks: an attempt outlived claim_after; another worker has the delivery")
		}
		return
	}
	payload := []byte(res[1])
	round, _ := strconv.Atoi(res[2])

	at := s.opts.Now()
	a, retryAfter, gone := s.send(ctx, ep, id, at, payload)
	if ctx.Err() != nil {
		return // shutting down: the entry stays pending and is sent again
	}
	a.At, a.Worker = at.UTC(), s.opts.Consumer
	outcome, delay := "ok", time.Duration(0)
	switch {
	case gone:
		outcome = "gone"
		delay = s.retryDelay(round, retryAfter)
	case a.Error != "" || a.Status < 200 || a.Status > 299:
		outcome = "retry"
		delay = s.retryDelay(round, retryAfter)
	}
	aj, _ := json.Marshal(a)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	keys := []string{q, s.key("d:" + id), s.key("a:" + id), s.key("r:" + ep.Name), s.key("p:" + ep.Name), s.key("x:" + ep.Name), s.key("ep:" + ep.Name)}
	out, err := finishScript.Run(rctx, s.rdb, keys, m.ID, id, s.opts.Now().UnixMilli(), outcome, delay.Milliseconds(), aj,
		s.cfg.Retention.Milliseconds(), s.cfg.MaxAttemptsKept, a.Status, a.Error, len(s.cfg.RetrySchedule)).StringSlice()
	if err != nil {
		// Not recorded: the entry stays pending, and the delivery is
		// attempted again after claim_after (at least once).
		log.Error("webhooks: recording an attempt", "status", a.Status, "error", err)
		return
	}
	result := out[0]
	if outcome == "gone" && result != "duplicate" {
		log.Warn("webhooks: the endpoint answered 410 Gone and is disabled until an officer enables it")
		result = "gone"
	}
	s.m.deliveries.WithLabelValues(ep.Name, result).Inc()
	if result == "dead" {
		log.Error("webhooks: delivery dead-lettered after its last attempt", "status", a.Status, "error", a.Error)
	}
}

// send posts payload, signed, and returns the attempt (without its time
// and worker), the receiver's Retry-After, and whether it answered 410.
func (s *Service) send(ctx context.Context, ep *endpoint, id string, at time.Time, payload []byte) (Attempt, time.Duration, bool) {
	var a Attempt
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(payload))
	if err != nil {
		a.Error = "building the request: " + err.Error()
		return a, 0, false
	}
	ts := at.Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vpsgate-gateway-webhooks/1")
	req.Header[HeaderID] = []string{id}
	req.Header[HeaderTimestamp] = []string{strconv.FormatInt(ts, 10)}
	req.Header[HeaderSignature] = []string{Sign(ep.keys, id, ts, payload)}
	start := time.Now()
	resp, err := ep.client.Do(req)
	if err != nil {
		a.LatencyMS = time.Since(start).Milliseconds()
		a.Error = attemptError(err, ep.Timeout)
		return a, 0, false
	}
	defer resp.Body.Close()
	a.Status = resp.StatusCode
	ex, rerr := io.ReadAll(io.LimitReader(resp.Body, excerptBytes))
	a.Excerpt = excerpt(ex)
	if rerr == nil {
		// Read on a little so the connection can be reused; a longer
		// answer is cut off when the body is closed.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainBytes))
	}
	a.LatencyMS = time.Since(start).Milliseconds()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		a.Error = fmt.Sprintf("redirect to %q not followed: the endpoint's URL must answer itself", resp.Header.Get("Location"))
	case rerr != nil && resp.StatusCode >= 200 && resp.StatusCode < 300:
		// Acknowledged; an answer cut short does not undo that.
		a.Excerpt += " [answer cut short: " + attemptError(rerr, ep.Timeout) + "]"
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		a.Error = "answered " + resp.Status
	}
	return a, ParseRetryAfter(resp.Header.Get("Retry-After"), at), resp.StatusCode == http.StatusGone
}

func attemptError(err error, timeout time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
		return fmt.Sprintf("no answer within the endpoint's timeout (%s)", timeout)
	}
	msg := err.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	return msg
}

// excerpt keeps valid UTF-8 of an answer's first bytes.
func excerpt(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// maxRetryAfterParsed bounds what ParseRetryAfter returns (the service
// bounds it further by max_retry_after).
const maxRetryAfterParsed = 30 * 24 * time.Hour

// ParseRetryAfter reads a Retry-After header (delay-seconds or an
// HTTP-date, RFC 9110 10.2.3) relative to now; 0 when absent, malformed
// or in the past.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		if len(v) > 10 {
			return maxRetryAfterParsed
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0
		}
		return min(time.Duration(n)*time.Second, maxRetryAfterParsed)
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfterParsed)
}
