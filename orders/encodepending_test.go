package orders

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/vpsgate/gateway/screening"
)

// encodePending writes the bytes json.Marshal writes for every body the
// commit sends, only without scanning the documents again.
func TestEncodePending(t *testing.T) {
	answer, err := json.Marshal(Result{ScreeningID: "scr_x", Status: StatusHeld,
		Links: map[string]string{"verify_email": "https://shop.example/_gateway/verify-email?token=a&b=<c>"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 9, 0, 0, 123, time.UTC)
	tests := []struct {
		name string
		body any
	}{
		{"event", pendingEvent{Type: "order.held", Time: now, Data: json.RawMessage(`{"screening_id":"scr_x","status":"held"}`)}},
		{"audit entry, created", AuditEntry{ID: "scr_x/v1", Time: now, Actor: "key:shop", Action: "order.created", Order: "scr_x", After: answer}},
		{"audit entry, changed", AuditEntry{ID: "scr_x/v2", Time: now, Actor: "officer", Action: "order.reviewed", Order: "scr_x",
			Account: "key:shop/a1", Addr: "198.51.100.0", Before: answer, After: answer}},
		{"audit entry, no documents", AuditEntry{ID: "a/b", Time: now, Actor: "system", Action: "account.flagged", Account: "key:shop/a1"}},
		{"account entry", pendingAccount{Owner: shop, Account: "a1", Order: "scr_x", Created: now}},
		{"mail", pendingMail{Owner: shop, Account: "a1", Email: "ann@example.com", Ref: "scr_x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			got, err := encodePending(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encodePending(%s) =\n%s\nwant\n%s", tc.name, got, want)
			}
		})
	}
}

// BenchmarkEncodePending encodes the audit entry of a new rejected order
// whose answer has the two reasons of scripts/bench-screening.sh's orders.
func BenchmarkEncodePending(b *testing.B) {
	answer, err := json.Marshal(Result{ScreeningID: "scr_Bq1Zd2K7SaZpgNMRlY61xQ", OrderID: "load-1795943827-5", Owner: shop,
		Status: StatusRejected, Decision: screening.Reject, Score: 90, Reasons: []screening.Reason{
			{Code: "minfraud_ip_risk_high", Detail: "minFraud rates the IP address's risk at 99 (of 99)."},
			{Code: "minfraud_disposition_reject", Detail: "A custom rule at minFraud rejects this transaction."}},
		Requirements: Requirements{EmailVerification: NotRequired, KYC: NotRequired, ManualReview: NotRequired},
		Links:        map[string]string{}, CreatedAt: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	e := AuditEntry{ID: "scr_x/v1", Time: time.Now(), Actor: "key:shop", Action: "order.created", Order: "scr_x", After: answer}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodePending(e); err != nil {
			b.Fatal(err)
		}
	}
}
