package orders

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/vpsgate/gateway/internal/kind"
)

// FuzzDecodeEvent: whatever the body, an event is decoded or refused as
// bad input (400) or too large (413); what is accepted is valid and
// re-decodes to itself.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"type":"paid","paid_at":"2026-03-01T12:00:00+01:00"}`))
	f.Add([]byte(`{"type":"refund","amount":"12.50","reason":"outage"}`))
	f.Add([]byte(`{"type":"chargeback","reason":"4837"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := DecodeEvent(bytes.NewReader(body))
		if err != nil {
			if !errors.Is(err, kind.ErrInvalidInput) && !errors.Is(err, kind.ErrTooLarge) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		b, _ := json.Marshal(e)
		again, err := DecodeEvent(bytes.NewReader(b))
		if err != nil || again != e {
			t.Fatalf("re-decoding %s: %+v, %v", b, again, err)
		}
	})
}

// FuzzDecodeFlagRequest: the flags body, as FuzzDecodeEvent.
func FuzzDecodeFlagRequest(f *testing.F) {
	f.Add([]byte(`{"kind":"trial_abuse","reason":"five trials"}`), false)
	f.Add([]byte(`{"kind":"restricted","reason":"dispute withdrawn"}`), true)
	f.Fuzz(func(t *testing.T, body []byte, removing bool) {
		fr, err := DecodeFlagRequest(bytes.NewReader(body), removing)
		if err != nil {
			if !errors.Is(err, kind.ErrInvalidInput) && !errors.Is(err, kind.ErrTooLarge) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		if fr.Kind == "" || fr.Reason == "" || fr.Kind == KindRestricted && !removing {
			t.Fatalf("accepted %+v (removing %v)", fr, removing)
		}
		b, _ := json.Marshal(fr)
		again, err := DecodeFlagRequest(bytes.NewReader(b), removing)
		if err != nil || again != fr {
			t.Fatalf("re-decoding %s: %+v, %v", b, again, err)
		}
	})
}
