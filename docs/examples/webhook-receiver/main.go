// Command webhook-receiver is an example provisioning endpoint for the
// gateway's webhooks, for provisioning teams to copy: standard library only.
// It verifies every delivery's Standard Webhooks signature, refuses stale
// timestamps, de-duplicates by webhook-id (delivery is at least once), and
// acts on order.cleared.
//
//	WEBHOOK_SECRETS=whsec_...[,whsec_...] go run ./docs/examples/webhook-receiver -listen 127.0.0.1:9000
//
// Several secrets (comma-separated) allow rotating the gateway's secret
// without dropping deliveries.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Tolerance is how far a webhook-timestamp may be from the receiver's
// clock: an older delivery (a replayed capture) is refused.
const Tolerance = 5 * time.Minute

// maxBody bounds a delivery's body.
const maxBody = 1 << 20

// Verifier checks Standard Webhooks signatures.
type Verifier struct {
	keys [][]byte
	now  func() time.Time
}

// NewVerifier takes the endpoint's secrets (whsec_<base64>).
func NewVerifier(secrets []string, now func() time.Time) (*Verifier, error) {
	v := &Verifier{now: now}
	for _, s := range secrets {
		b64, ok := strings.CutPrefix(strings.TrimSpace(s), "whsec_")
		if !ok {
			return nil, errors.New("a secret must start with whsec_")
		}
		k, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(k) == 0 {
			return nil, errors.New("a secret must be whsec_ followed by base64")
		}
		v.keys = append(v.keys, k)
	}
	if len(v.keys) == 0 {
		return nil, errors.New("no secret")
	}
	return v, nil
}

// Verify checks the headers against body: the timestamp within Tolerance,
// and at least one "v1,<signature>" of the space-separated list matching
// HMAC-SHA256(key, id "." timestamp "." body) for one of the keys,
// compared in constant time.
func (v *Verifier) Verify(id, timestamp, signature string, body []byte) error {
	if id == "" || timestamp == "" || signature == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not unix seconds")
	}
	if d := v.now().Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return errors.New("webhook-timestamp is too far from now")
	}
	for _, k := range v.keys {
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte(id + "." + timestamp + "."))
		mac.Write(body)
		want := mac.Sum(nil)
		for _, part := range strings.Fields(signature) {
			version, sig, ok := strings.Cut(part, ",")
			if !ok || version != "v1" {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(sig)
			if err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return errors.New("no valid signature")
}

// Event is a delivery's body.
type Event struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// Receiver is the HTTP handler: verify, de-duplicate, act.
type Receiver struct {
	Verifier *Verifier
	// Act handles a verified event seen for the first time; an error
	// answers 500 and the gateway retries (with the same webhook-id).
	Act func(id string, e Event) error

	mu   sync.Mutex
	seen map[string]time.Time // webhook-id -> when handled
}

// ServeHTTP answers 204 for a handled (or already handled) delivery, 400
// for a body that is not an event, 401 for a bad signature.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	id := r.Header.Get("webhook-id")
	if err := rc.Verifier.Verify(id, r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var e Event
	if err := json.Unmarshal(body, &e); err != nil || e.Type == "" {
		http.Error(w, "not an event", http.StatusBadRequest)
		return
	}
	// One delivery at a time per id: a retry racing its first attempt
	// waits, then finds it handled. A real receiver keeps seen ids in
	// its database, in the transaction that acts on the event.
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.seen == nil {
		rc.seen = map[string]time.Time{}
	}
	if _, dup := rc.seen[id]; dup {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err := rc.Act(id, e); err != nil {
		http.Error(w, "try again later", http.StatusInternalServerError)
		return
	}
	rc.seen[id] = time.Now()
	w.WriteHeader(http.StatusNoContent)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	flag.Parse()
	v, err := NewVerifier(strings.Split(os.Getenv("WEBHOOK_SECRETS"), ","), time.Now)
	if err != nil {
		log.Fatalf("WEBHOOK_SECRETS: %v", err)
	}
	rc := &Receiver{Verifier: v, Act: func(id string, e Event) error {
		if e.Type == "order.cleared" {
			var d struct {
				ScreeningID string `json:"screening_id"`
				OrderID     string `json:"order_id"`
				Version     int64  `json:"version"`
			}
			_ = json.Unmarshal(e.Data, &d)
			fmt.Printf("activate the server of order %s (screening id %s, version %d)\n", d.OrderID, d.ScreeningID, d.Version)
		}
		return nil
	}}
	srv := &http.Server{Addr: *listen, Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
