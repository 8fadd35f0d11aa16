package orders

import (
	"errors"
	"strings"
	"testing"

	"github.com/vpsgate/gateway/screening"
)

func TestDecodeEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body  string
		want  Event
		field string
		err   error
	}{
		{body: `{"type":"chargeback","reason":"4837"}`, want: Event{Type: EventChargeback, Reason: "4837"}},
		{body: `{"type":"cancelled"}`, want: Event{Type: EventCancelled}},
		{body: `{"type":"refunded"}`, field: "type", err: screening.ErrInvalidInput},
		{body: `{}`, field: "type", err: screening.ErrInvalidInput},
		{body: `{"type":"refund","amount":"1"}`, want: Event{Type: EventRefund, Amount: "1"}},
		{body: `{"type":"refund","amount":"-1"}`, field: "amount", err: screening.ErrInvalidInput},
		{body: `{"type":"chargeback","amount":"1"}`, field: "amount", err: screening.ErrInvalidInput},
		{body: `{"type":"refund","coupon":"1"}`, field: "coupon", err: screening.ErrInvalidInput},
		{body: `{"type":"paid","paid_at":"2026-03-01T12:00:00+01:00"}`, want: Event{Type: EventPaid, PaidAt: "2026-03-01T12:00:00+01:00"}},
		{body: `{"type":"paid"}`, field: "paid_at", err: screening.ErrInvalidInput},
		{body: `{"type":"paid","paid_at":"yesterday"}`, field: "paid_at", err: screening.ErrInvalidInput},
		{body: `{"type":"refund","paid_at":"2026-03-01T12:00:00Z"}`, field: "paid_at", err: screening.ErrInvalidInput},
		{body: `{"type":1}`, field: "type", err: screening.ErrInvalidInput},
		{body: `{"type":"refund","reason":"a\u0000b"}`, field: "reason", err: screening.ErrInvalidInput},
		{body: `{"type":"refund","reason":"a\nb"}`, field: "reason", err: screening.ErrInvalidInput},
		{body: `{"type":"refund"} x`, err: screening.ErrInvalidInput},
		{body: `[]`, err: screening.ErrInvalidInput},
		{body: `{"type":`, err: screening.ErrInvalidInput},
		{body: `{"type":"refund","reason":"` + strings.Repeat("a", screening.MaxOrderBytes) + `"}`, err: screening.ErrTooLarge},
	}
	for _, tc := range tests {
		got, err := DecodeEvent(strings.NewReader(tc.body))
		if tc.err == nil {
			if err != nil || got != tc.want {
				t.Errorf("DecodeEvent(%.40q) = %+v, %v, want %+v", tc.body, got, err, tc.want)
			}
			continue
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("DecodeEvent(%.40q) = %v, want %v", tc.body, err, tc.err)
			continue
		}
		var fe *screening.FieldError
		if tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field) {
			t.Errorf("DecodeEvent(%.40q) = %v, want a FieldError for %s", tc.body, err, tc.field)
		}
	}
}

func TestDecodeReview(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		body  string
		want  ManualReview
		field string // "" with want: valid; "-": invalid without a field
	}{
		{name: "accept", body: `{"decision":"accept","reason":" ok "}`, want: ManualReview{Decision: screening.Accept, Reason: "ok"}},
		{name: "reject", body: `{"decision":"reject","reason":"stolen card"}`, want: ManualReview{Decision: screening.Reject, Reason: "stolen card"}},
		{name: "bad decision", body: `{"decision":"review","reason":"x"}`, field: "decision"},
		{name: "no decision", body: `{"reason":"x"}`, field: "decision"},
		{name: "empty reason", body: `{"decision":"accept","reason":"   "}`, field: "reason"},
		{name: "long reason", body: `{"decision":"accept","reason":"` + strings.Repeat("é", 513) + `"}`, field: "reason"},
		{name: "control in reason", body: `{"decision":"accept","reason":"a\u0000b"}`, field: "reason"},
		{name: "unknown field", body: `{"decision":"accept","reason":"x","officer":"me"}`, field: "officer"},
		{name: "wrong type", body: `{"decision":1,"reason":"x"}`, field: "decision"},
		{name: "two values", body: `{"decision":"accept","reason":"x"} {}`, field: "-"},
		{name: "not an object", body: `["accept"]`, field: "-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeReview(strings.NewReader(tc.body))
			if tc.field == "" {
				if err != nil || got != tc.want {
					t.Errorf("DecodeReview() = %+v, %v, want %+v", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, screening.ErrInvalidInput) {
				t.Fatalf("DecodeReview() = %v, want ErrInvalidInput", err)
			}
			if tc.field == "-" {
				return
			}
			fe, ok := errors.AsType[*screening.FieldError](err)
			if !ok || fe.Field != tc.field {
				t.Errorf("DecodeReview() = %v, want a FieldError on %s", err, tc.field)
			}
		})
	}
}
