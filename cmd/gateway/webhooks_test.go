package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// provisioning is a provisioning team's receiver on loopback for the
// acceptance flows: it answers 500 to the first order.cleared delivery and
// acknowledges everything else, and records what it got.
type provisioning struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []provDelivery
}

type provDelivery struct {
	id, ts, sig string
	body        []byte
	typ         string
	sid         string
	status      int
}

// provSecret is the endpoint's signing secret in the flows.
const provSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// startProvisioning starts the receiver and adds the webhook settings to
// env.
func startProvisioning(t *testing.T, env map[string]string) *provisioning {
	p := &provisioning{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var ev struct {
			Type string `json:"type"`
			Data struct {
				ScreeningID string `json:"screening_id"`
			} `json:"data"`
		}
		_ = json.Unmarshal(b, &ev)
		d := provDelivery{id: r.Header.Get("webhook-id"), ts: r.Header.Get("webhook-timestamp"), sig: r.Header.Get("webhook-signature"),
			body: b, typ: ev.Type, sid: ev.Data.ScreeningID, status: http.StatusNoContent}
		p.mu.Lock()
		first := true
		for _, g := range p.got {
			first = first && g.typ != "order.cleared"
		}
		if ev.Type == "order.cleared" && first {
			d.status = http.StatusInternalServerError
		}
		p.got = append(p.got, d)
		p.mu.Unlock()
		w.WriteHeader(d.status)
	}))
	t.Cleanup(p.srv.Close)
	env["GATEWAY_WEBHOOKS"] = `[{"name": "provisioning", "url": "` + p.srv.URL + `/hooks", "secret": "` + provSecret + `"}]`
	env["GATEWAY_WEBHOOK_DELIVERY_RETRY_SCHEDULE"] = "100ms,200ms,400ms"
	return p
}

// checkCleared waits for the order's order.cleared to be acknowledged and
// checks the way there: the first attempt answered 500, the retry carried
// the same webhook-id, every delivery verifies (Standard Webhooks, checked
// here from the specification) and order.held came too.
func (p *provisioning) checkCleared(t *testing.T, sid string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var cleared []provDelivery
	held := false
	for {
		p.mu.Lock()
		got := append([]provDelivery(nil), p.got...)
		p.mu.Unlock()
		cleared, held = nil, false
		for _, d := range got {
			if d.sid != sid {
				continue
			}
			if err := verifyStandardWebhook(provSecret, d); err != nil {
				t.Fatalf("%s delivery %s: %v", d.typ, d.id, err)
			}
			switch d.typ {
			case "order.cleared":
				cleared = append(cleared, d)
			case "order.held":
				held = true
			}
		}
		if len(cleared) >= 2 && held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("provisioning got %d order.cleared deliveries (held: %v) of %s after 30s", len(cleared), held, sid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if cleared[0].status != 500 || cleared[1].status != 204 || cleared[0].id != cleared[1].id || !strings.HasPrefix(cleared[0].id, "msg_") {
		t.Errorf("order.cleared deliveries: %+v / %+v, want 500 then 204 with one webhook-id", cleared[0], cleared[1])
	}
	if strings.Contains(string(cleared[1].body), "verify_email") || strings.Contains(string(cleared[1].body), "@") {
		t.Errorf("order.cleared body carries a link or an address: %s", cleared[1].body)
	}
}

// verifyStandardWebhook: HMAC-SHA256 with the base64-decoded secret over
// "id.timestamp.body", one of the space-separated "v1,<base64>" matching.
func verifyStandardWebhook(secret string, d provDelivery) error {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(d.id + "." + d.ts + "."))
	mac.Write(d.body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(d.sig) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return io.ErrUnexpectedEOF
}
