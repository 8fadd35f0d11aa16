package orders

import (
	"fmt"
	"testing"
	"time"

	"github.com/vpsgate/gateway/screening"
)

// TestCreatedDetail: a new order's timeline line reads as it did when it
// was formatted with fmt.Sprintf (stored timelines and their readers
// expect that text).
func TestCreatedDetail(t *testing.T) {
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		d     screening.Decision
		needs Needs
	}{
		{screening.Decision{Outcome: screening.Reject, Score: 99}, Needs{}},
		{screening.Decision{Outcome: screening.Review, Score: 50}, Needs{Email: true}},
		{screening.Decision{Outcome: screening.Accept, Score: 0}, Needs{}},
		{screening.Decision{Outcome: screening.Accept, Score: -3}, Needs{KYC: true}},
	}
	for _, tt := range tests {
		c := Created(Record{ScreeningID: "s"}, tt.d, tt.needs, now, time.Hour)
		want := fmt.Sprintf("decision %s, score %d, status %s", tt.d.Outcome, tt.d.Score, c.Next.Status)
		if c.Entry.Detail != want {
			t.Errorf("%+v: detail %q, want %q", tt.d, c.Entry.Detail, want)
		}
	}
}
