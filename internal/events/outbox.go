package events

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Event types: the webhook event types of PRODUCT.md §4, plus the order
// events a storefront reports.
const (
	OrderHeld     = "order.held"
	OrderCleared  = "order.cleared"
	OrderRejected = "order.rejected"
	OrderExpired  = "order.expired"
	// Events the storefront reported on an order (POST
	// /api/v1/orders/{id}/events), published for the audit trail and
	// the webhook consumer.
	OrderPaymentFailed  = "order.payment_failed"
	OrderRefund         = "order.refund"
	OrderChargeback     = "order.chargeback"
	OrderFraudConfirmed = "order.fraud_confirmed"
	OrderCancelled      = "order.cancelled"
	EmailVerified       = "email.verified"
	KYCSubmitted        = "kyc.submitted"
	KYCApproved         = "kyc.approved"
	KYCRejected         = "kyc.rejected"
	AccountRestricted   = "account.restricted"
)

// Stream entry field names.
const (
	fieldType = "type"
	fieldTime = "time"
	fieldData = "data"
)

// Errors of Range.
var (
	// ErrInvalidID marks a malformed stream id given to Range.
	ErrInvalidID = errors.New("invalid event id")
	// ErrTrimmed means the stream no longer holds the events right after
	// the cursor given to Range: the reader fell more than MaxLen events
	// behind and some events were trimmed before it read them. The reader
	// records the loss and resumes with Range(ctx, "", n), the oldest events
	// left.
	ErrTrimmed = errors.New("events trimmed before they were read")
)

// Event is one state change to publish.
type Event struct {
	Type string
	// Data is marshaled to JSON; it becomes the webhook body's "data".
	Data any
	// Time is when the change happened; zero means the append time is
	// not known to the caller and Append rejects it (events must carry
	// the time the caller decided at, for replays to be faithful).
	Time time.Time
}

// Marshaled is event data json.Marshal has encoded already: Fields writes
// it as it is, without scanning it as JSON again. The order relay's
// events carry the data the commit encoded (an order's details, most of
// an entry), byte for byte; anything else is json.Marshal's to encode,
// and a json.RawMessage is still checked.
type Marshaled []byte

// Stored is an event read back from the outbox.
type Stored struct {
	// ID is the stream entry id ("1700000000000-0"): increasing, unique,
	// usable as the webhook-id and as the cursor for the next Range.
	ID   string
	Type string
	Time time.Time
	Data json.RawMessage
}

// Outbox appends events to one Redis stream and reads them back.
type Outbox struct {
	rdb    redis.Cmdable
	key    string
	maxLen int64
}

// New returns an outbox on the stream key, trimmed to about maxLen entries
// (0: never trimmed).
func New(rdb redis.Cmdable, key string, maxLen int64) *Outbox {
	return &Outbox{rdb: rdb, key: key, maxLen: maxLen}
}

// Key returns the stream's key.
func (o *Outbox) Key() string { return o.key }

// MaxLen returns the length the stream is trimmed to, approximately (0:
// never trimmed).
func (o *Outbox) MaxLen() int64 { return o.maxLen }

// Fields returns the field-value pairs of the stream entry Append writes for
// e: type, time, data. A caller that must add the entry atomically with
// other writes (screening stores an order and its order.held event in one
// Lua script) sends XADD Key() [MAXLEN ~ MaxLen()] * Fields... itself.
func (o *Outbox) Fields(e Event) ([]string, error) {
	if e.Type == "" {
		return nil, errors.New("appending event: empty type")
	}
	if e.Time.IsZero() {
		return nil, fmt.Errorf("appending %s event: zero time", e.Type)
	}
	var data []byte
	if m, ok := e.Data.(Marshaled); ok {
		// Valid, compact and escaped as json.Marshal writes a value,
		// says the caller: checking it would cost a scan of the whole
		// document. Empty is null, as for a nil json.RawMessage.
		data = m
		if len(data) == 0 {
			data = []byte("null")
		}
	} else if raw, ok := e.Data.(json.RawMessage); ok && json.Valid(raw) {
		// Already JSON: Marshal would only re-compact it.
		data = raw
	} else {
		var err error
		if data, err = json.Marshal(e.Data); err != nil {
			return nil, fmt.Errorf("encoding %s event: %w", e.Type, err)
		}
	}
	return []string{
		fieldType, e.Type,
		fieldTime, e.Time.UTC().Format(time.RFC3339Nano),
		fieldData, string(data),
	}, nil
}

// Append adds an event and returns its stream id.
func (o *Outbox) Append(ctx context.Context, e Event) (string, error) {
	fields, err := o.Fields(e)
	if err != nil {
		return "", err
	}
	values := make([]any, len(fields))
	for i, f := range fields {
		values[i] = f
	}
	args := &redis.XAddArgs{Stream: o.key, Values: values}
	if o.maxLen > 0 {
		args.MaxLen = o.maxLen
		args.Approx = true
	}
	id, err := o.rdb.XAdd(ctx, args).Result()
	if err != nil {
		return "", fmt.Errorf("appending %s event: %w", e.Type, err)
	}
	return id, nil
}

// Range returns up to count events that come after the id from (exclusive),
// the id of the last event the reader has handled; from "" or "0" starts at
// the oldest event still in the stream. When the stream's oldest event is
// newer than from, the events after from may have been trimmed unread, and
// Range returns an error wrapping ErrTrimmed instead of skipping them
// silently. It is one round trip.
func (o *Outbox) Range(ctx context.Context, from string, count int) ([]Stored, error) {
	if count <= 0 {
		return nil, nil
	}
	if from == "" || from == "0" {
		msgs, err := o.rdb.XRangeN(ctx, o.key, "-", "+", int64(count)).Result()
		if err != nil {
			return nil, fmt.Errorf("reading events: %w", err)
		}
		return decodeAll(msgs)
	}
	if !validID(from) {
		return nil, fmt.Errorf("reading events after %q: %w", from, ErrInvalidID)
	}
	pipe := o.rdb.Pipeline()
	oldest := pipe.XRangeN(ctx, o.key, "-", "+", 1)
	after := pipe.XRangeN(ctx, o.key, "("+from, "+", int64(count))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("reading events after %q: %w", from, err)
	}
	if first := oldest.Val(); len(first) > 0 && compareIDs(first[0].ID, from) > 0 {
		return nil, fmt.Errorf("reading events after %q: the oldest event left is %s: %w", from, first[0].ID, ErrTrimmed)
	}
	return decodeAll(after.Val())
}

func decodeAll(msgs []redis.XMessage) ([]Stored, error) {
	out := make([]Stored, 0, len(msgs))
	for _, m := range msgs {
		s, err := decode(m)
		if err != nil {
			return nil, fmt.Errorf("reading event %s: %w", m.ID, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func decode(m redis.XMessage) (Stored, error) {
	s := Stored{ID: m.ID}
	typ, _ := m.Values[fieldType].(string)
	ts, _ := m.Values[fieldTime].(string)
	data, _ := m.Values[fieldData].(string)
	if typ == "" {
		return Stored{}, errors.New("no type")
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return Stored{}, fmt.Errorf("bad time %q", ts)
	}
	if !json.Valid([]byte(data)) {
		return Stored{}, errors.New("data is not JSON")
	}
	s.Type, s.Time, s.Data = typ, t, json.RawMessage(data)
	return s, nil
}

// compareIDs orders two valid stream ids (ms-seq, a missing seq being 0)
// without parsing them into integers that 20 digits could overflow.
func compareIDs(a, b string) int {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	return cmp.Or(compareDigits(am, bm), compareDigits(as, bs))
}

func compareDigits(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
}

// validID checks the form ms-seq or ms of a stream id.
func validID(id string) bool {
	ms, seq, hasSeq := strings.Cut(id, "-")
	return digits(ms) && (!hasSeq || digits(seq))
}

func digits(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
