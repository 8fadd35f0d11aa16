package webhooks_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vpsgate/gateway/webhooks"
)

// TestSignSpecExample checks the sender against the specification's
// published example, and the test's own verifier against it too.
func TestSignSpecExample(t *testing.T) {
	t.Parallel()
	const (
		id   = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		ts   = 1614265330
		body = `{"test": 2432232314}`
		want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	key, err := webhooks.ParseSecret(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := webhooks.Sign([][]byte{key}, id, ts, []byte(body)); got != want {
		t.Errorf("Sign = %q, want the specification's %q", got, want)
	}
	if err := verify([]string{specSecret}, id, "1614265330", []byte(body), want); err != nil {
		t.Errorf("the test's verifier refuses the specification's example: %v", err)
	}
	if err := verify([]string{specSecret}, id, "1614265331", []byte(body), want); err == nil {
		t.Error("the test's verifier accepts another timestamp")
	}
}

// TestSignRotation: every secret signs; a receiver knowing either accepts.
func TestSignRotation(t *testing.T) {
	t.Parallel()
	k1, _ := webhooks.ParseSecret(specSecret)
	k2, err := webhooks.ParseSecret(otherSecret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"order.cleared"}`)
	h := webhooks.Sign([][]byte{k1, k2}, "msg_x", 1700000000, body)
	if parts := strings.Split(h, " "); len(parts) != 2 {
		t.Fatalf("header %q: want two signatures", h)
	}
	for _, s := range []string{specSecret, otherSecret} {
		if err := verify([]string{s}, "msg_x", "1700000000", body, h); err != nil {
			t.Errorf("a receiver with one secret refuses: %v", err)
		}
	}
	if err := verify([]string{"whsec_" + strings.Repeat("QUFB", 8)}, "msg_x", "1700000000", body, h); err == nil {
		t.Error("an unknown secret verifies")
	}
}

func TestParseSecret(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{specSecret, true},
		{otherSecret, true},
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", false},         // no prefix
		{"whsec_", false},                                   // empty
		{"whsec_not base64!", false},                        // not base64
		{"whsec_c2hvcnQ=", false},                           // 5 bytes
		{"whsec_" + strings.Repeat("QUFB", 30), false},      // 90 bytes
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw==", false}, // bad padding
	} {
		_, err := webhooks.ParseSecret(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseSecret(%q) error = %v, want ok %v", tt.in, err, tt.ok)
		}
	}
}

func FuzzParseSecret(f *testing.F) {
	f.Add(specSecret)
	f.Add("whsec_")
	f.Add("whsec_====")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := webhooks.ParseSecret(s)
		if err == nil && (len(k) < 24 || len(k) > 64 || !strings.HasPrefix(s, "whsec_")) {
			t.Fatalf("ParseSecret(%q) accepted a %d-byte key", s, len(k))
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{" 5 ", 5 * time.Second},
		{"-1", 0},
		{"1.5", 0},
		{"abc", 0},
		{"99999999999999999999", 30 * 24 * time.Hour},
		{"Sun, 29 Nov 2026 06:10:00 GMT", 10 * time.Minute},
		{"Sun, 29 Nov 2026 05:00:00 GMT", 0},
	} {
		if got := webhooks.ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "Sun, 29 Nov 2026 06:10:00 GMT", "", "0", "-5", "9999999999999"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d := webhooks.ParseRetryAfter(s, now)
		if d < 0 || d > 30*24*time.Hour {
			t.Fatalf("ParseRetryAfter(%q) = %v, outside [0, 30 days]", s, d)
		}
	})
}
