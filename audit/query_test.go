package audit

import (
	"slices"
	"testing"
	"time"
)

func TestQueryFiltersAndPages(t *testing.T) {
	t.Parallel()
	onBackends(t, 100, func(t *testing.T, e *env) {
		e.appendN(t, 12)
		at := func(n int) time.Time { return e.now.Add(time.Duration(n) * time.Minute) }
		// entry(n): actor by n%3 (0 ann, 1 bob, 2 system), action by n%2
		// (0 blocklist.added, 1 order.reviewed), order o-(n%4), account acct-(n%5).
		tests := []struct {
			name  string
			q     Query
			pages [][]int64
		}{
			{"all newest first", Query{Limit: 5}, [][]int64{{12, 11, 10, 9, 8}, {7, 6, 5, 4, 3}, {2, 1}}},
			{"all oldest first", Query{Limit: 5, Oldest: true}, [][]int64{{1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}, {11, 12}}},
			{"order", Query{Order: "o-1", Limit: 2}, [][]int64{{9, 5}, {1}}},
			{"order oldest", Query{Order: "o-1", Limit: 2, Oldest: true}, [][]int64{{1, 5}, {9}}},
			{"account", Query{Account: "key:shop/acct-2"}, [][]int64{{12, 7, 2}}},
			{"actor", Query{Actor: "admin:bob"}, [][]int64{{10, 7, 4, 1}}},
			{"type", Query{Action: "blocklist.added", Limit: 3}, [][]int64{{12, 10, 8}, {6, 4, 2}}},
			{"actor and type", Query{Actor: "admin:bob", Action: "blocklist.added"}, [][]int64{{10, 4}}},
			{"since until", Query{Since: at(3), Until: at(6)}, [][]int64{{5, 4, 3}}},
			{"order and time", Query{Order: "o-0", Since: at(5)}, [][]int64{{12, 8}}},
			{"no match", Query{Order: "o-9"}, [][]int64{{}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				q := tt.q
				for i, want := range tt.pages {
					p, err := e.log.Query(t.Context(), q)
					if err != nil {
						t.Fatal(err)
					}
					if got := seqs(p.Entries); !slices.Equal(got, want) {
						t.Fatalf("page %d = %v, want %v", i+1, got, want)
					}
					last := i == len(tt.pages)-1
					if last != (p.Next == 0) {
						t.Fatalf("page %d: next = %d, last page %v", i+1, p.Next, last)
					}
					q.After = p.Next
				}
			})
		}
	})
}
