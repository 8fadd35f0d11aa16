package audit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Query selects entries. Empty fields do not filter.
type Query struct {
	Order, Account, Actor, Action string
	Since, Until                  time.Time // Since <= Time < Until
	// After is the cursor: with Oldest, entries with Seq > After; else
	// entries with Seq < After (0: from the newest).
	After  int64
	Oldest bool // oldest first; the default is newest first
	Limit  int  // 1..MaxLimit; 0 means DefaultLimit
}

// Page sizes.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// scanBudget bounds the seqs one Query reads: a filter on time alone, or a
// rare combination of filters, must not turn one request into a scan of
// the whole log. A page may then come back short with a Next cursor.
const scanBudget = 5000

// Page is one page of a query's results.
type Page struct {
	Entries []Entry `json:"entries"`
	// Next is the cursor for the following page (Query.After), 0 when
	// there is nothing more.
	Next int64 `json:"next,omitempty"`
}

// Query returns a page of entries still in Redis (archived entries older
// than the retention are only in S3), in seq order: newest first unless
// q.Oldest.
func (l *Log) Query(ctx context.Context, q Query) (Page, error) {
	if q.Limit <= 0 {
		q.Limit = DefaultLimit
	}
	q.Limit = min(q.Limit, MaxLimit)
	// The most selective index drives the scan; the other filters are
	// checked on the entries read.
	key := l.allKey()
	switch {
	case q.Order != "":
		key = l.indexKey("order", q.Order)
	case q.Account != "":
		key = l.indexKey("account", q.Account)
	case q.Actor != "":
		key = l.indexKey("actor", q.Actor)
	case q.Action != "":
		key = l.indexKey("action", q.Action)
	}
	var page Page
	cursor, scanned := q.After, 0
	for scanned < scanBudget {
		batch := min(q.Limit-len(page.Entries)+1, scanBudget-scanned, 500)
		rng := &redis.ZRangeBy{Min: "(" + strconv.FormatInt(cursor, 10), Max: "+inf", Count: int64(batch)}
		var seqs []string
		var err error
		if q.Oldest {
			seqs, err = l.rdb.ZRangeByScore(ctx, key, rng).Result()
		} else {
			rng.Min, rng.Max = "-inf", "+inf"
			if cursor > 0 {
				rng.Max = "(" + strconv.FormatInt(cursor, 10)
			}
			seqs, err = l.rdb.ZRevRangeByScore(ctx, key, rng).Result()
		}
		if err != nil {
			return Page{}, fmt.Errorf("querying audit log: %w", classify(err))
		}
		if len(seqs) == 0 {
			return page, nil
		}
		nums := make([]int64, len(seqs))
		for i, s := range seqs {
			if nums[i], err = strconv.ParseInt(s, 10, 64); err != nil {
				return Page{}, fmt.Errorf("querying audit log: index member %q: %w", s, err)
			}
		}
		lines, err := l.lines(ctx, nums)
		if err != nil {
			return Page{}, fmt.Errorf("querying audit log: %w", err)
		}
		for i, raw := range lines {
			scanned++
			cursor = nums[i]
			if raw == nil {
				continue // trimmed between the two reads
			}
			e, err := parseLine(raw)
			if err != nil {
				return Page{}, fmt.Errorf("querying audit log: entry %d: %w", nums[i], err)
			}
			if !q.matches(e) {
				continue
			}
			if len(page.Entries) == q.Limit {
				// One more match exists: the page is full.
				page.Next = page.Entries[len(page.Entries)-1].Seq
				return page, nil
			}
			page.Entries = append(page.Entries, e)
		}
		if len(seqs) < batch {
			return page, nil
		}
	}
	// Budget spent: let the client go on from where the scan stopped.
	page.Next = cursor
	return page, nil
}

func (q Query) matches(e Entry) bool {
	switch {
	case q.Order != "" && e.Order != q.Order,
		q.Account != "" && e.Account != q.Account,
		q.Actor != "" && e.Actor != q.Actor,
		q.Action != "" && e.Action != q.Action,
		!q.Since.IsZero() && e.Time.Before(q.Since),
		!q.Until.IsZero() && !e.Time.Before(q.Until):
		return false
	}
	return true
}
