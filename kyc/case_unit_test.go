package kyc

import (
	"errors"
	"testing"
	"time"
)

// TestCaseTransitions: the pure transitions of a case, without Redis.
func TestCaseTransitions(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	sub := Submission{LegalName: "Ann Lee", DocumentType: DocPassport, Documents: []Document{{ID: "D1", Side: "front"}}, BillingName: "Ann Lee"}
	c, err := submitted(nil, "C", "key:shop", "1", "", sub, nil, now)
	if err != nil || c.Status != StatusPending || c.Version != 1 || c.Submissions != 1 || c.Documents[0].Submission != 1 {
		t.Fatalf("new case: %+v %v", c, err)
	}
	if _, err := submitted(&c, "C", "key:shop", "1", "", sub, nil, now); !errors.Is(err, ErrConflict) {
		t.Errorf("second upload to a pending case: %v", err)
	}
	for _, to := range []Status{StatusApproved, StatusRejected, StatusResubmission} {
		d, err := decided(c, to, Decision{Reason: "r", Note: "n"}, "officer:o", now, time.Hour)
		if err != nil || d.Status != to || d.Version != 2 || !d.PurgeAt.Equal(now.Add(time.Hour)) || d.DecidedBy != "officer:o" {
			t.Errorf("decided %s: %+v %v", to, d, err)
		}
		if _, err := decided(d, StatusApproved, Decision{}, "officer:o", now, time.Hour); !errors.Is(err, ErrConflict) {
			t.Errorf("deciding a %s case again: %v", to, err)
		}
		if to == StatusResubmission {
			again, err := submitted(&d, "C", "key:shop", "1", "", sub, nil, now)
			if err != nil || again.Status != StatusPending || again.Submissions != 2 || len(again.Documents) != 2 || again.Reason != "" {
				t.Errorf("resubmitted: %+v %v", again, err)
			}
		} else if _, err := submitted(&d, "C", "key:shop", "1", "", sub, nil, now); !errors.Is(err, ErrConflict) {
			t.Errorf("upload to a %s case: %v", to, err)
		}
	}
	r := redacted(c, now)
	if !r.Redacted || !r.Documents[0].Deleted || r.Documents[0].SHA256 != "" || c.Documents[0].Deleted {
		t.Errorf("redacted: %+v (original %+v)", r, c)
	}
}
