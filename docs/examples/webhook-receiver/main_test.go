package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	newSecret  = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24tdGVzdHM="
)

func sign(secret, id string, ts int64, body string) string {
	k, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	m := hmac.New(sha256.New, k)
	m.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "." + body))
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestVerifySpecExample(t *testing.T) {
	v, err := NewVerifier([]string{specSecret}, func() time.Time { return time.Unix(1614265330, 0) })
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"test": 2432232314}`)); err != nil {
		t.Fatalf("the specification's example: %v", err)
	}
}

func TestReceiver(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	// The receiver knows the old and the new secret (rotation).
	v, err := NewVerifier([]string{specSecret, newSecret}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	var acted []string
	fail := false
	rc := &Receiver{Verifier: v, Act: func(id string, e Event) error {
		if fail {
			return http.ErrHandlerTimeout
		}
		acted = append(acted, id+" "+e.Type)
		return nil
	}}
	body := `{"type":"order.cleared","timestamp":"2027-01-15T08:00:00Z","data":{"screening_id":"scr_1"}}`
	post := func(id string, ts int64, sig, body string) int {
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("webhook-signature", sig)
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		return w.Code
	}
	ts := now.Unix()
	for _, tt := range []struct {
		name string
		id   string
		ts   int64
		sig  string
		body string
		want int
	}{
		{"bad signature", "msg_1", ts, "v1,AAAA", body, 401},
		{"unknown version", "msg_1", ts, "v2," + strings.TrimPrefix(sign(specSecret, "msg_1", ts, body), "v1,"), body, 401},
		{"stale", "msg_1", ts - 3600, sign(specSecret, "msg_1", ts-3600, body), body, 401},
		{"future", "msg_1", ts + 3600, sign(specSecret, "msg_1", ts+3600, body), body, 401},
		{"body changed", "msg_1", ts, sign(specSecret, "msg_1", ts, body), strings.Replace(body, "scr_1", "scr_2", 1), 401},
		{"id changed", "msg_2", ts, sign(specSecret, "msg_1", ts, body), body, 401},
		{"old secret, one of two signatures", "msg_1", ts, "v1,AAAA " + sign(specSecret, "msg_1", ts, body), body, 204},
		{"duplicate", "msg_1", ts + 5, sign(newSecret, "msg_1", ts+5, body), body, 204},
		{"not an event", "msg_3", ts, sign(newSecret, "msg_3", ts, `{}`), `{}`, 400},
	} {
		if got := post(tt.id, tt.ts, tt.sig, tt.body); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	fail = true
	if got := post("msg_4", ts, sign(newSecret, "msg_4", ts, body), body); got != 500 {
		t.Errorf("failing action: %d", got)
	}
	fail = false
	if got := post("msg_4", ts, sign(newSecret, "msg_4", ts, body), body); got != 204 {
		t.Errorf("retry: %d", got)
	}
	if got := strings.Join(acted, ","); got != "msg_1 order.cleared,msg_4 order.cleared" {
		t.Errorf("acted on %s, want each id once", got)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("msg_1", "1800000000", "v1,AAAA v1,BBBB", []byte(`{}`))
	f.Add("", "", "", []byte(nil))
	f.Add("msg_1", "-1", "v1,", []byte("x"))
	v, _ := NewVerifier([]string{specSecret}, func() time.Time { return time.Unix(1_800_000_000, 0) })
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		if err := v.Verify(id, ts, sig, body); err == nil {
			// Only a signature of the key verifies.
			n, _ := strconv.ParseInt(ts, 10, 64)
			if !strings.Contains(sig, strings.TrimPrefix(sign(specSecret, id, n, string(body)), "v1,")) {
				t.Fatalf("Verify accepted %q %q %q", id, ts, sig)
			}
		}
	})
}
