package mail

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	netmail "net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Message is one mail to send.
type Message struct {
	ID      string // idempotency key: a message whose ID was already queued (or sent) is not queued again
	To      string
	Subject string
	Text    string
	HTML    string
}

// maxMessageBytes bounds what one message keeps in Redis.
const maxMessageBytes = 256 << 10

// MessageID is the Message-ID header (without the angle brackets) of the
// message whose idempotency key is id: derived from id, so that every
// attempt at one message carries the same header.
func MessageID(id, domain string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16]) + "@" + domain
}

// Sender delivers one message. It calls accepted once the receiving server
// has accepted the message, and returns accepted's error.
type Sender interface {
	Send(ctx context.Context, m Message, accepted func() error) error
}

// Options tune an Outbox. cmd/gateway derives them from the configuration;
// tests shorten them.
type Options struct {
	// Prefix starts every key; the keys then carry the hash tag {outbox},
	// so that on a Redis Cluster they share one slot and every script sees
	// all of them.
	Prefix string
	// Lease is how long a message being delivered stays its worker's: a
	// worker that has not finished it by then is taken for dead, and
	// another one delivers the message. It must exceed the longest attempt
	// (LeaseFor).
	Lease time.Duration
	// Poll is how long a worker waits for new mail in one read.
	Poll time.Duration
	// RetryMin, RetryMax and DeadAfter: see Config.
	RetryMin, RetryMax, DeadAfter time.Duration
	// Retention is how long a sent (or dead) message's record is kept: an
	// Enqueue of its ID within that time queues nothing.
	Retention time.Duration
	// Consumer names this worker in the consumer group; default host, pid
	// and a random suffix.
	Consumer string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// DefaultRetention keeps sent messages' records (without their bodies) for
// 30 days, the idempotency horizon of Enqueue.
const DefaultRetention = 30 * 24 * time.Hour

// LeaseFor is the lease for an SMTP timeout: an attempt takes at most one
// timeout to connect, greet, STARTTLS and authenticate, one more for MAIL,
// RCPT and DATA, and the record of its success; the rest is margin.
func LeaseFor(timeout time.Duration) time.Duration {
	return 3*timeout + 30*time.Second
}

// group is the consumer group of every gateway process.
const group = "senders"

// Outbox is the durable mail queue in Redis shared by every gateway
// process. Enqueue stores a message and appends its ID to a stream; Run
// delivers with the consumer group "senders": each stream entry is read by
// one worker and stays in that worker's pending list until the worker
// records the outcome, so a worker killed mid-send loses nothing (another
// one claims the entry once the lease has passed). A failed attempt moves
// the ID to a retry set scored by when to try again (exponential back-off
// from RetryMin to RetryMax); a due ID goes back into the stream. Every
// state change is one Lua script over keys of one hash slot, so it is
// atomic on a standalone server and on a Cluster alike.
type Outbox struct {
	rdb    redis.UniversalClient
	sender Sender
	opts   Options
	logger *slog.Logger
	m      outboxMetrics
}

type outboxMetrics struct {
	sent, failed, dead prometheus.Counter
	depth, oldest      prometheus.Gauge
}

// NewOutbox builds an outbox over rdb that delivers through s. reg may be
// nil.
func NewOutbox(rdb redis.UniversalClient, s Sender, o Options, logger *slog.Logger, reg prometheus.Registerer) (*Outbox, error) {
	if o.Lease <= 0 || o.Poll <= 0 || o.RetryMin <= 0 || o.RetryMax < o.RetryMin || o.DeadAfter <= 0 || o.Retention <= 0 {
		return nil, fmt.Errorf("mail outbox: lease, poll, retry, dead-after and retention must be positive (got %+v)", o)
	}
	if o.Consumer == "" {
		host, _ := os.Hostname()
		o.Consumer = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), rand.Text()[:8])
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := outboxMetrics{
		sent:   prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_mail_sent_total", Help: "Messages the SMTP server accepted (or the development outbox kept)."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_mail_send_failures_total", Help: "Failed delivery attempts; each is retried with back-off."}),
		dead:   prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_mail_dead_letters_total", Help: "Messages given up on (refused by the server, or undeliverable for mail.dead_after)."}),
		depth:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "gateway_mail_queue_depth", Help: "Messages queued and not yet sent, across all gateway processes."}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{Name: "gateway_mail_queue_oldest_age_seconds", Help: "Age of the oldest message not yet sent; 0 when none."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.sent, m.failed, m.dead, m.depth, m.oldest} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering mail metrics: %w", err)
			}
		}
	}
	return &Outbox{rdb: rdb, sender: s, opts: o, logger: logger.With("consumer", o.Consumer), m: m}, nil
}

func (o *Outbox) key(name string) string  { return o.opts.Prefix + "{outbox}:" + name }
func (o *Outbox) msgKey(id string) string { return o.key("msg:" + id) }

// enqueueScript stores the message and queues its ID unless the ID is
// known. KEYS: msg, stream, queued. ARGV: id, to, subject, text, html, now.
var enqueueScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'to', ARGV[2], 'subject', ARGV[3], 'text', ARGV[4], 'html', ARGV[5],
	'enqueued', ARGV[6], 'attempts', 0, 'state', 'queued')
redis.call('XADD', KEYS[2], '*', 'id', ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1])
return 1
`)

// Enqueue queues m for delivery. It is idempotent by m.ID: a message whose
// ID is queued, sent (within Retention) or dead is not queued again, and
// Enqueue returns nil for it.
func (o *Outbox) Enqueue(ctx context.Context, m Message) error {
	if err := m.validate(); err != nil {
		return fmt.Errorf("queueing mail %q: %w", m.ID, err)
	}
	now := o.opts.Now().UnixMilli()
	_, err := enqueueScript.Run(ctx, o.rdb, []string{o.msgKey(m.ID), o.key("stream"), o.key("queued")},
		m.ID, m.To, m.Subject, m.Text, m.HTML, now).Result()
	if err != nil {
		return fmt.Errorf("queueing mail %q: %w", m.ID, err)
	}
	return nil
}

func (m Message) validate() error {
	switch {
	case m.ID == "":
		return errors.New("no ID")
	case m.Subject == "" || strings.ContainsAny(m.Subject, "\r\n"):
		return errors.New("the subject must be one line, not empty")
	case m.Text == "":
		return errors.New("no text body")
	case len(m.Text)+len(m.HTML)+len(m.Subject) > maxMessageBytes:
		return fmt.Errorf("larger than %d bytes", maxMessageBytes)
	}
	a, err := netmail.ParseAddress(m.To)
	if err != nil || a.Address != m.To {
		return fmt.Errorf("recipient %q is not a plain address such as name@example.com", m.To)
	}
	return nil
}

// Run delivers mail until ctx ends. Every gateway process runs one.
func (o *Outbox) Run(ctx context.Context) {
	o.logger.Info("mail outbox worker started")
	groupReady := false
	for ctx.Err() == nil {
		if !groupReady {
			if err := o.ensureGroup(ctx); err != nil {
				o.logger.Warn("mail outbox: creating the consumer group", "error", err)
				sleep(ctx, o.opts.Poll)
				continue
			}
			groupReady = true
		}
		if err := o.step(ctx); err != nil && ctx.Err() == nil {
			if strings.Contains(err.Error(), "NOGROUP") {
				groupReady = false // the stream was deleted: make it again
			}
			o.logger.Warn("mail outbox: worker step failed; trying again", "error", err)
			sleep(ctx, o.opts.Poll)
		}
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

func (o *Outbox) ensureGroup(ctx context.Context) error {
	// "0": entries queued before the group existed are delivered too.
	err := o.rdb.XGroupCreateMkStream(ctx, o.key("stream"), group, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

// promoteScript moves due retries back into the stream. KEYS: retry,
// stream. ARGV: now, limit.
var promoteScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
	redis.call('ZREM', KEYS[1], id)
	redis.call('XADD', KEYS[2], '*', 'id', id)
end
return #ids
`)

// batch is how many entries a worker takes at once.
const batch = 10

// step does one round: due retries back into the stream, the metrics, the
// entries of dead workers, then new entries.
func (o *Outbox) step(ctx context.Context) error {
	now := o.opts.Now()
	if err := promoteScript.Run(ctx, o.rdb, []string{o.key("retry"), o.key("stream")}, now.UnixMilli(), 100).Err(); err != nil {
		return fmt.Errorf("moving due retries: %w", err)
	}
	if err := o.measure(ctx, now); err != nil {
		return err
	}
	claimed, _, err := o.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: o.key("stream"), Group: group, Consumer: o.opts.Consumer,
		MinIdle: o.opts.Lease, Start: "0-0", Count: batch,
	}).Result()
	if err != nil {
		return fmt.Errorf("claiming the mail of stopped workers: %w", err)
	}
	for _, e := range claimed {
		o.logger.Info("mail outbox: took over a message whose lease had passed (its worker stopped or is slow)", "entry", e.ID)
		o.deliver(ctx, e)
	}
	streams, err := o.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: group, Consumer: o.opts.Consumer, Streams: []string{o.key("stream"), ">"},
		Count: batch, Block: o.opts.Poll,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the mail stream: %w", err)
	}
	for _, s := range streams {
		for _, e := range s.Messages {
			o.deliver(ctx, e)
		}
	}
	return nil
}

func (o *Outbox) measure(ctx context.Context, now time.Time) error {
	pipe := o.rdb.Pipeline()
	n := pipe.ZCard(ctx, o.key("queued"))
	first := pipe.ZRangeWithScores(ctx, o.key("queued"), 0, 0)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("measuring the mail queue: %w", err)
	}
	o.m.depth.Set(float64(n.Val()))
	age := 0.0
	if z := first.Val(); len(z) == 1 {
		age = max(now.Sub(time.UnixMilli(int64(z[0].Score))).Seconds(), 0)
	}
	o.m.oldest.Set(age)
	return nil
}

// doneScript records a success, then acknowledges and drops the entry. The
// bodies go (they carry the single-use link); the record stays for
// Retention so that Enqueue of the ID does nothing. KEYS: msg, stream,
// queued. ARGV: entry, now, retention ms, id.
var doneScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'state') == 'queued' then
	redis.call('HSET', KEYS[1], 'state', 'sent', 'sent', ARGV[2])
	redis.call('HDEL', KEYS[1], 'text', 'html')
	redis.call('PEXPIRE', KEYS[1], ARGV[3])
	redis.call('ZREM', KEYS[3], ARGV[4])
end
redis.call('XACK', KEYS[2], '` + group + `', ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
return 1
`)

// failScript records a failed attempt: the ID goes to the retry set with
// its back-off, or to the dead letters when the failure is permanent or
// the message is older than DeadAfter. A dead letter keeps its recipient,
// subject, attempts and last error for Retention, not its bodies. KEYS: msg, stream, queued, retry,
// dead. ARGV: entry, now, id, retry min ms, retry max ms, dead-after ms,
// retention ms, error, permanent (1 or 0), jitter (0..1).
var failScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'state') ~= 'queued' then
	redis.call('XACK', KEYS[2], '` + group + `', ARGV[1])
	redis.call('XDEL', KEYS[2], ARGV[1])
	return {'gone', 0, 0}
end
local now = tonumber(ARGV[2])
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'last_error', ARGV[8])
local enqueued = tonumber(redis.call('HGET', KEYS[1], 'enqueued'))
local result, delay = 'retry', 0
if ARGV[9] == '1' or now - enqueued >= tonumber(ARGV[6]) then
	result = 'dead'
	redis.call('HSET', KEYS[1], 'state', 'dead', 'dead', ARGV[2])
	redis.call('HDEL', KEYS[1], 'text', 'html')
	redis.call('PEXPIRE', KEYS[1], ARGV[7])
	redis.call('ZREM', KEYS[3], ARGV[3])
	redis.call('ZADD', KEYS[5], ARGV[2], ARGV[3])
	redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', string.format('%.0f', now - tonumber(ARGV[7])))
else
	delay = math.min(tonumber(ARGV[4]) * 2 ^ math.min(attempts - 1, 40), tonumber(ARGV[5]))
	delay = math.floor(delay * (1 + 0.2 * tonumber(ARGV[10])))
	redis.call('ZADD', KEYS[4], string.format('%.0f', now + delay), ARGV[3])
end
redis.call('XACK', KEYS[2], '` + group + `', ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
return {result, attempts, delay}
`)

// beginScript starts an attempt: when the entry is still this worker's it
// claims it again, which restarts the lease (an entry that waited in the
// worker's batch behind slow sends must not be taken over mid-send), and
// returns "ok" and the message's fields. "lost": another worker took the
// entry over. "gone": the message was sent or given up on already (by a
// worker that died after recording it), or its record expired; the entry
// is dropped. KEYS: stream, msg. ARGV: entry, consumer.
var beginScript = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], '` + group + `', ARGV[1], ARGV[1], 1, ARGV[2])
if #p == 0 then return {'lost'} end
if redis.call('HGET', KEYS[2], 'state') ~= 'queued' then
	redis.call('XACK', KEYS[1], '` + group + `', ARGV[1])
	redis.call('XDEL', KEYS[1], ARGV[1])
	return {'gone'}
end
redis.call('XCLAIM', KEYS[1], '` + group + `', ARGV[2], 0, ARGV[1], 'JUSTID')
local out = {'ok'}
for _, v in ipairs(redis.call('HGETALL', KEYS[2])) do out[#out + 1] = v end
return out
`)

// recordTimeout bounds one try at recording an outcome. A success is
// tried again for a third of the lease before the message is left to be
// sent again.
const recordTimeout = 5 * time.Second

// recordError is a success that could not be recorded.
type recordError struct{ err error }

func (e *recordError) Error() string { return "recording the delivery: " + e.err.Error() }
func (e *recordError) Unwrap() error { return e.err }

// deliver makes one attempt at the message of entry e.
func (o *Outbox) deliver(ctx context.Context, e redis.XMessage) {
	id, _ := e.Values["id"].(string)
	log := o.logger.With("entry", e.ID, "mail", id)
	res, err := beginScript.Run(ctx, o.rdb, []string{o.key("stream"), o.msgKey(id)}, e.ID, o.opts.Consumer).StringSlice()
	if err != nil {
		log.Warn("mail outbox: starting an attempt", "error", err)
		return // still pending: this worker or another tries again
	}
	switch res[0] {
	case "lost":
		log.Warn("mail outbox: a message outlived this worker's lease; another worker has it")
		return
	case "gone":
		return
	}
	h := map[string]string{}
	for i := 1; i+1 < len(res); i += 2 {
		h[res[i]] = res[i+1]
	}
	m := Message{ID: id, To: h["to"], Subject: h["subject"], Text: h["text"], HTML: h["html"]}
	accepted := func() error {
		// Not cancelled with ctx: a shutdown right after the server took
		// the message must still record it, or it goes out twice.
		rctx := context.WithoutCancel(ctx)
		deadline := time.Now().Add(o.opts.Lease / 3)
		for {
			err := o.record(rctx, doneScript, []string{o.msgKey(id), o.key("stream"), o.key("queued")},
				e.ID, o.opts.Now().UnixMilli(), o.opts.Retention.Milliseconds(), id)
			if err == nil || time.Now().After(deadline) {
				if err != nil {
					return &recordError{err: err}
				}
				return nil
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	err = o.sender.Send(ctx, m, accepted)
	switch {
	case err == nil:
		o.m.sent.Inc()
		log.Info("mail sent", "to", m.To, "subject", m.Subject)
		return
	case errors.As(err, new(*recordError)):
		// The server has the message but Redis does not know: once the
		// lease passes, a worker sends it again, with the same Message-ID.
		log.Error("mail outbox: sent, but the success could not be recorded; it will be sent again", "error", err)
		return
	}
	o.m.failed.Inc()
	permanent := "0"
	if errors.As(err, new(*permanentError)) {
		permanent = "1"
	}
	jitter, _ := rand.Int(rand.Reader, big.NewInt(1000))
	out, rerr := failScript.Run(context.WithoutCancel(ctx), o.rdb,
		[]string{o.msgKey(id), o.key("stream"), o.key("queued"), o.key("retry"), o.key("dead")},
		e.ID, o.opts.Now().UnixMilli(), id, o.opts.RetryMin.Milliseconds(), o.opts.RetryMax.Milliseconds(),
		o.opts.DeadAfter.Milliseconds(), o.opts.Retention.Milliseconds(), err.Error(), permanent,
		strconv.FormatFloat(float64(jitter.Int64())/1000, 'f', 3, 64)).Slice()
	if rerr != nil {
		log.Warn("mail outbox: recording a failed attempt; the lease brings it back", "error", rerr, "attempt_error", err)
		return
	}
	switch out[0] {
	case "dead":
		o.m.dead.Inc()
		log.Error("mail outbox: giving up on a message (dead letter)", "to", m.To, "attempts", out[1], "error", err)
	case "retry":
		log.Warn("mail outbox: delivery failed; will retry", "attempts", out[1], "retry_in", time.Duration(out[2].(int64))*time.Millisecond, "error", err)
	}
}

func (o *Outbox) record(ctx context.Context, s *redis.Script, keys []string, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	return s.Run(ctx, o.rdb, keys, args...).Err()
}
