package events

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/testenv"
)

func TestOutboxAppendRange(t *testing.T) {
	t.Parallel()
	rdb := testenv.RedisClient(t)
	key := testenv.KeyPrefix(t) + "events"
	ob := New(rdb, key, 0)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	in := []Event{
		{Type: OrderHeld, Data: map[string]string{"order_id": "A-1"}, Time: t0},
		{Type: OrderRejected, Data: map[string]any{"order_id": "A-2", "score": 95}, Time: t0.Add(time.Second)},
		{Type: AccountRestricted, Data: map[string]string{"account_id": "42"}, Time: t0.Add(2 * time.Second)},
	}
	var ids []string
	for _, e := range in {
		id, err := ob.Append(ctx, e)
		if err != nil {
			t.Fatalf("Append(%s) = %v", e.Type, err)
		}
		ids = append(ids, id)
	}

	want := make([]Stored, len(in))
	for i, e := range in {
		data, _ := json.Marshal(e.Data)
		want[i] = Stored{ID: ids[i], Type: e.Type, Time: e.Time, Data: data}
	}
	tests := []struct {
		name  string
		from  string
		count int
		want  []Stored
	}{
		{name: "from start", from: "", count: 10, want: want},
		{name: "from zero", from: "0", count: 10, want: want},
		{name: "count bounds", from: "", count: 2, want: want[:2]},
		{name: "after first id is exclusive", from: ids[0], count: 10, want: want[1:]},
		{name: "after last id", from: ids[2], count: 10, want: []Stored{}},
		{name: "zero count", from: "", count: 0, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ob.Range(ctx, tc.from, tc.count)
			if err != nil {
				t.Fatalf("Range(%q, %d) = %v", tc.from, tc.count, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Range(%q, %d) mismatch (-want +got):\n%s", tc.from, tc.count, diff)
			}
		})
	}
}

func TestOutboxErrors(t *testing.T) {
	t.Parallel()
	rdb := testenv.RedisClient(t)
	key := testenv.KeyPrefix(t) + "events"
	ob := New(rdb, key, 0)
	ctx := context.Background()

	if _, err := ob.Append(ctx, Event{Type: OrderHeld}); err == nil {
		t.Error("Append with zero time = nil error, want an error")
	}
	if _, err := ob.Append(ctx, Event{Time: time.Now()}); err == nil {
		t.Error("Append with empty type = nil error, want an error")
	}
	if _, err := ob.Append(ctx, Event{Type: OrderHeld, Time: time.Now(), Data: func() {}}); err == nil {
		t.Error("Append with unencodable data = nil error, want an error")
	}
	for _, from := range []string{"abc", "1-", "-1", "1-2-3", "(1"} {
		if _, err := ob.Range(ctx, from, 1); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Range(%q) = %v, want ErrInvalidID", from, err)
		}
	}
	// An entry not written by Append is reported, not skipped.
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []any{"foo", "bar"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := ob.Range(ctx, "", 10); err == nil {
		t.Error("Range over a foreign entry = nil error, want an error")
	}
}

func TestOutboxTrim(t *testing.T) {
	t.Parallel()
	rdb := testenv.RedisClient(t)
	key := testenv.KeyPrefix(t) + "events"
	const maxLen = 10
	ob := New(rdb, key, maxLen)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const n = 1000
	for i := range n {
		if _, err := ob.Append(ctx, Event{Type: OrderHeld, Data: i, Time: t0}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := rdb.XLen(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	// Approximate trimming removes whole radix-tree nodes (100 entries
	// by default), so the stream holds at most maxLen plus one node.
	if l < maxLen || l > maxLen+100 {
		t.Errorf("XLEN after %d appends with maxLen %d = %d, want %d..%d", n, maxLen, l, maxLen, maxLen+100)
	}
	got, err := ob.Range(ctx, "", n)
	if err != nil {
		t.Fatal(err)
	}
	if last := got[len(got)-1].Data; string(last) != "999" {
		t.Errorf("newest event data = %s, want 999", last)
	}
}

// TestOutboxTrimmedCursor: a reader whose cursor was trimmed away (it fell
// more than maxLen events behind) is told so by Range, not handed the
// oldest events left as if nothing had been lost; a reader within maxLen
// events of the newest reads on.
func TestOutboxTrimmedCursor(t *testing.T) {
	t.Parallel()
	rdb := testenv.RedisClient(t)
	key := testenv.KeyPrefix(t) + "events"
	const maxLen = 10
	ob := New(rdb, key, maxLen)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 300 {
		id, err := ob.Append(ctx, Event{Type: OrderHeld, Data: i, Time: t0})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if got, err := ob.Range(ctx, ids[0], 5); !errors.Is(err, ErrTrimmed) {
		t.Errorf("Range(trimmed cursor) = %d events, %v; want ErrTrimmed", len(got), err)
	}
	got, err := ob.Range(ctx, ids[len(ids)-maxLen-1], maxLen+5)
	if err != nil || len(got) != maxLen || got[0].ID != ids[len(ids)-maxLen] {
		t.Errorf("Range(cursor %d behind) = %d events, %v; want the %d newest", maxLen, len(got), err, maxLen)
	}
	if got, err := ob.Range(ctx, ids[len(ids)-1], 5); err != nil || len(got) != 0 {
		t.Errorf("Range(newest) = %v, %v; want none", got, err)
	}
	if got, err := ob.Range(ctx, "", 5); err != nil || len(got) != 5 {
		t.Errorf("Range(\"\") = %d events, %v; want the 5 oldest left", len(got), err)
	}
}

// TestOutboxFields: an entry added by hand from Fields (as a Lua script
// does) reads back like one from Append.
func TestOutboxFields(t *testing.T) {
	t.Parallel()
	rdb := testenv.RedisClient(t)
	ob := New(rdb, testenv.KeyPrefix(t)+"events", 1000)
	ctx := context.Background()
	e := Event{Type: OrderHeld, Data: map[string]any{"order_id": "F-1", "score": 3}, Time: time.Date(2026, 3, 1, 12, 0, 0, 5, time.FixedZone("x", 3600))}
	fields, err := ob.Fields(e)
	if err != nil {
		t.Fatal(err)
	}
	args := []any{"XADD", ob.Key(), "MAXLEN", "~", ob.MaxLen(), "*"}
	for _, f := range fields {
		args = append(args, f)
	}
	if err := rdb.Do(ctx, args...).Err(); err != nil {
		t.Fatalf("XADD from Fields: %v", err)
	}
	if _, err := ob.Append(ctx, e); err != nil {
		t.Fatal(err)
	}
	got, err := ob.Range(ctx, "", 10)
	if err != nil || len(got) != 2 {
		t.Fatalf("Range = %v, %v; want two events", got, err)
	}
	got[0].ID, got[1].ID = "", ""
	if diff := cmp.Diff(got[1], got[0]); diff != "" {
		t.Errorf("entry from Fields vs from Append (-append +fields):\n%s", diff)
	}
	if got[0].Type != OrderHeld || !got[0].Time.Equal(e.Time) || string(got[0].Data) != `{"order_id":"F-1","score":3}` {
		t.Errorf("entry from Fields = %+v", got[0])
	}
	// JSON already encoded is taken as it is, and must be JSON.
	raw := e
	raw.Data = json.RawMessage(`{"order_id":"F-1","score":3}`)
	if rf, err := ob.Fields(raw); err != nil || !cmp.Equal(rf, fields) {
		t.Errorf("Fields(RawMessage) = %q, %v; want %q", rf, err, fields)
	}
	for _, bad := range []Event{{Time: e.Time}, {Type: OrderHeld}, {Type: OrderHeld, Time: e.Time, Data: func() {}},
		{Type: OrderHeld, Time: e.Time, Data: json.RawMessage(`{"a":`)}} {
		if _, err := ob.Fields(bad); err == nil {
			t.Errorf("Fields(%+v) = nil error, want one", bad)
		}
	}
}

// Data given as Marshaled (json.Marshal's output, the order relay's) is
// written byte for byte as Fields writes the value itself, or the same
// bytes as a json.RawMessage.
func TestOutboxFieldsMarshaled(t *testing.T) {
	t.Parallel()
	ob := New(nil, "events", 0)
	at := time.Date(2026, 11, 29, 12, 0, 0, 7, time.UTC)
	for _, v := range []any{
		map[string]any{"order_id": "A-1", "note": "<b>&\u2028\u2029 \"é\" \\", "score": 12.5, "list": []int{1}},
		struct {
			ID    string `json:"id"`
			Empty []int  `json:"empty"`
		}{ID: "x"},
		"text", nil,
	} {
		want, err := ob.Fields(Event{Type: OrderHeld, Time: at, Data: v})
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if v == nil {
			b = nil // no document at all: null, as json.Marshal of a nil RawMessage
		}
		for _, data := range []any{Marshaled(b), json.RawMessage(b)} {
			got, err := ob.Fields(Event{Type: OrderHeld, Time: at, Data: data})
			if err != nil || !cmp.Equal(got, want) {
				t.Errorf("Fields(%T %s) = %q, %v; want %q", data, b, got, err, want)
			}
		}
	}
}
