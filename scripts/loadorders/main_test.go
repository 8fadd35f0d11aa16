package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpsgate/gateway/screening"
)

func testOptions() options {
	return options{key: "k", workers: 2, count: 50, duration: 10 * time.Second, warmup: 5,
		idPrefix: "t-", seed: 1, ips: 100, customers: 40, requestTimeout: 5 * time.Second}
}

// TestBodiesAreValidOrders: every generated body passes the gateway's own
// decoder, ids are unique, IPs public, and identifiers repeat (the pools).
func TestBodiesAreValidOrders(t *testing.T) {
	g := newGenerator(testOptions())
	ids := map[string]bool{}
	ips := map[string]int{}
	emails := map[string]int{}
	for i, b := range g.bodies(0, 400) {
		o, err := screening.DecodeOrder(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("body %d: %v\n%s", i, err, b)
		}
		if ids[o.OrderID] {
			t.Fatalf("order id %s twice", o.OrderID)
		}
		ids[o.OrderID] = true
		ip := netip.MustParseAddr(o.IP)
		if ip.IsPrivate() || ip.IsLoopback() || !ip.IsGlobalUnicast() {
			t.Errorf("body %d: IP %s is not public", i, ip)
		}
		ips[o.IP]++
		emails[o.Account.Email]++
	}
	if len(emails) > 40 || len(ips) > 80 {
		t.Errorf("%d emails and %d IPs for 40 customers: identifiers do not repeat", len(emails), len(ips))
	}
}

func TestDecision(t *testing.T) {
	for body, want := range map[string]string{
		`{"order_id":"a","status":"held","decision":"review","score":60}`: "review",
		`{"decision":"accept"}`: "accept",
		`{"error":{}}`:          "?",
		`{"decision":"x`:        "?",
	} {
		if got := decision([]byte(body)); got != want {
			t.Errorf("decision(%s) = %q, want %q", body, got, want)
		}
	}
}

// TestRun drives a stand-in of the API and checks the summary.
func TestRun(t *testing.T) {
	o := testOptions()
	var seen atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k" || r.URL.Path != "/api/v1/orders" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		if _, err := screening.DecodeOrder(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		seen.Add(1)
		_, _ = io.WriteString(w, `{"decision":"accept"}`)
	}))
	defer api.Close()
	o.url = api.URL
	var out bytes.Buffer
	if err := run(context.Background(), o, &out); err != nil {
		t.Fatalf("run() = %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "RESULT orders=50 ") || !strings.Contains(out.String(), " errors=0 ") ||
		!strings.Contains(out.String(), "decisions   accept: 50") {
		t.Errorf("summary:\n%s", out.String())
	}
	if n := seen.Load(); n != 55 {
		t.Errorf("API saw %d orders, want 55 (5 warm-up, 50 measured)", n)
	}

	// A wrong key: every answer is an error and run says so.
	o.key = "wrong"
	out.Reset()
	if err := run(context.Background(), o, &out); err == nil {
		t.Errorf("run(wrong key) = nil error\n%s", out.String())
	}
}

func TestMinfraudStub(t *testing.T) {
	if _, err := startMinfraudStub("0.0.0.0:0", nil); err == nil {
		t.Error("startMinfraudStub(0.0.0.0) = nil error, want loopback only")
	}
	stub, err := startMinfraudStub("127.0.0.1:0", []byte(`{"risk_score":1}`))
	if err != nil {
		t.Fatal(err)
	}
	defer stub.close()
	post := func(path string, auth bool) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+stub.addr+path, strings.NewReader(`{"device":{}}`))
		if auth {
			req.SetBasicAuth("1", "key")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("/minfraud/v2.0/score", true); code != 200 || body != `{"risk_score":1}` {
		t.Errorf("score = %d %s", code, body)
	}
	if code, _ := post("/minfraud/v2.0/insights", false); code != http.StatusUnauthorized {
		t.Errorf("without basic auth = %d, want 401", code)
	}
	if code, _ := post("/minfraud/v2.0/other", true); code != http.StatusNotFound {
		t.Errorf("unknown service = %d, want 404", code)
	}
	if n := stub.calls.Load(); n != 1 {
		t.Errorf("stub counted %d calls, want 1", n)
	}
}

// TestRate: with -rate, order i of the measured run is not sent before
// i/rate seconds from its start, whatever the number of workers.
func TestRate(t *testing.T) {
	o := testOptions()
	o.workers, o.count, o.warmup, o.rate = 4, 21, 0, 200
	var (
		mu    sync.Mutex
		times []time.Time
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		_, _ = io.WriteString(w, `{"decision":"accept"}`)
	}))
	defer api.Close()
	o.url = api.URL
	var out bytes.Buffer
	start := time.Now()
	if err := run(context.Background(), o, &out); err != nil {
		t.Fatalf("run() = %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "RESULT orders=21 ") || !strings.Contains(out.String(), "-rate 200") {
		t.Errorf("summary:\n%s", out.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(times) != 21 {
		t.Fatalf("API saw %d orders, want 21", len(times))
	}
	// The last of 21 orders at 200/s is due 100 ms after the start: it
	// cannot have come sooner (a lower bound only; how much later it came
	// depends on the machine).
	last := slices.MaxFunc(times, time.Time.Compare)
	if got := last.Sub(start); got < 100*time.Millisecond {
		t.Errorf("21 orders at -rate 200 sent within %s, want at least 100ms", got)
	}
}
