// Command loadorders is the load generator of scripts/bench-screening.sh: it
// POSTs orders to a running gateway's /api/v1/orders with a storefront API
// key from N workers, bounded by a count and a duration, and prints the
// throughput, latency percentiles and answers by status and decision.
//
// Orders look like a busy storefront's: every order id is new, while IPs
// (in a few hundred /24 prefixes), customers (account, email, address) and
// cards come from pools, so velocity keys repeat as in real traffic and the
// counters grow as they would. Bodies are built before the clock starts, so
// that the generator spends its CPU on HTTP during the run: it shares the
// machine with the gateway, Redis and the minFraud stub.
//
// With -minfraud-listen it also serves minFraud: every Score, Insights or
// Factors call is answered with a recorded answer (by default MaxMind's own
// Score fixture from screening/minfraud/testdata), so that the gateway's
// minFraud call is in the path, over HTTP on loopback. The number of calls
// it answered is printed, to show that every order went through it.
//
// The last line is machine-readable for the script:
//
//	RESULT orders=20000 seconds=4.012 rps=4985.0 p50_ms=2.1 p99_ms=4.8 max_ms=12.0 ok=20000 errors=0 minfraud_calls=20000
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// options are the command line.
type options struct {
	url            string
	key            string
	workers        int
	count          int
	duration       time.Duration
	rate           float64
	warmup         int
	idPrefix       string
	seed           uint64
	ips            int
	customers      int
	minfraudAddr   string
	minfraudFile   string
	requestTimeout time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "http://127.0.0.1:9090", "gateway admin `URL` (the API is at URL/api/v1/orders)")
	flag.StringVar(&o.key, "key", os.Getenv("LOADORDERS_API_KEY"), "storefront API `key` (default $LOADORDERS_API_KEY)")
	flag.IntVar(&o.workers, "workers", 32, "concurrent requests")
	flag.IntVar(&o.count, "n", 20000, "orders to send at most (warm-up excluded)")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "time to send them in at most")
	flag.Float64Var(&o.rate, "rate", 0, "orders per second at most over all workers, warm-up excluded (0: as fast as the gateway answers); comparing two builds at one rate below both their ceilings measures their CPU per order under the same load")
	flag.IntVar(&o.warmup, "warmup", 500, "orders sent first and not measured (connections, scripts, caches)")
	flag.StringVar(&o.idPrefix, "id-prefix", "", "order id `prefix` (default: load-<unix time>-, new ids on every run)")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the order generator")
	flag.IntVar(&o.ips, "ips", 5000, "distinct client IPs in the pool")
	flag.IntVar(&o.customers, "customers", 20000, "distinct customers (account, email, address) in the pool")
	flag.StringVar(&o.minfraudAddr, "minfraud-listen", "", "serve the minFraud stub on this loopback `address` (host:port)")
	flag.StringVar(&o.minfraudFile, "minfraud-response", "screening/minfraud/testdata/python-score-response.json", "`file` the minFraud stub answers with")
	flag.DurationVar(&o.requestTimeout, "timeout", 10*time.Second, "timeout of one request")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadorders:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	switch {
	case o.key == "":
		return errors.New("no API key: pass -key or set LOADORDERS_API_KEY")
	case o.workers < 1 || o.count < 1 || o.duration <= 0 || o.warmup < 0 || o.rate < 0:
		return errors.New("-workers, -n and -duration must be positive, -warmup and -rate not negative")
	case o.ips < 1 || o.customers < 1:
		return errors.New("-ips and -customers must be positive")
	}
	if o.idPrefix == "" {
		o.idPrefix = "load-" + strconv.FormatInt(time.Now().Unix(), 10) + "-"
	}

	var stub *minfraudStub
	if o.minfraudAddr != "" {
		body, err := os.ReadFile(o.minfraudFile)
		if err != nil {
			return fmt.Errorf("reading the minFraud answer: %w", err)
		}
		if stub, err = startMinfraudStub(o.minfraudAddr, body); err != nil {
			return err
		}
		defer stub.close()
	}

	gen := newGenerator(o)
	warm := gen.bodies(0, o.warmup)
	bodies := gen.bodies(o.warmup, o.count)

	tr := &http.Transport{
		Proxy:               nil, // loopback: never through a proxy from the environment
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        o.workers * 2,
		MaxIdleConnsPerHost: o.workers * 2,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: o.requestTimeout}
	target := strings.TrimSuffix(o.url, "/") + "/api/v1/orders"

	if len(warm) > 0 {
		ws := blast(ctx, client, target, o.key, warm, o.workers, o.duration, 0)
		if ws.ok == 0 {
			return fmt.Errorf("warm-up: no order accepted; answers %v, first error: %v", ws.byStatus, ws.firstErr)
		}
		if stub != nil {
			stub.calls.Store(0)
		}
	}
	cpuBefore := cpuTime()
	s := blast(ctx, client, target, o.key, bodies, o.workers, o.duration, o.rate)
	var mfCalls int64 = -1
	if stub != nil {
		mfCalls = stub.calls.Load()
	}
	s.cpu = cpuTime() - cpuBefore
	s.print(out, o, mfCalls)
	if s.ok == 0 {
		return fmt.Errorf("no order accepted; first error: %v", s.firstErr)
	}
	return nil
}

// generator builds order bodies from pools of identifiers.
type generator struct {
	o         options
	ips       []string
	countries []string
}

// billingCountries: mostly countries the default rules accept, and a few
// EU ones that they reject (billing_country_blocked), as a storefront
// outside the EU sees now and then.
var billingCountries = []string{"US", "US", "US", "CA", "GB", "AU", "JP", "BR", "IN", "CH", "NO", "DE"}

func newGenerator(o options) *generator {
	r := rand.New(rand.NewPCG(o.seed, 0x5eed))
	g := &generator{o: o, countries: billingCountries}
	// IPs in prefixes of ten addresses each: several customers behind one
	// /24 (offices, NAT), as the ip_prefix counters expect.
	prefixes := max(1, o.ips/10)
	nets := make([][3]byte, prefixes)
	for i := range nets {
		nets[i] = publicPrefix(r)
	}
	for i := range o.ips {
		p := nets[i%prefixes]
		g.ips = append(g.ips, fmt.Sprintf("%d.%d.%d.%d", p[0], p[1], p[2], 1+r.IntN(254)))
	}
	return g
}

// publicPrefix returns a random /24 outside private, loopback, multicast
// and other reserved space.
func publicPrefix(r *rand.Rand) [3]byte {
	for {
		a := byte(1 + r.IntN(223))
		b, c := byte(r.IntN(256)), byte(r.IntN(256))
		switch {
		case a == 10, a == 127, a == 0, a >= 224,
			a == 100 && b >= 64 && b < 128,
			a == 169 && b == 254,
			a == 172 && b >= 16 && b < 32,
			a == 192 && b == 168,
			a == 192 && b == 0,
			a == 198 && (b == 18 || b == 19 || b == 51),
			a == 203 && b == 0:
			continue
		}
		return [3]byte{a, b, c}
	}
}

// bodies returns the JSON bodies of orders from to from+n-1.
func (g *generator) bodies(from, n int) [][]byte {
	out := make([][]byte, n)
	for i := range n {
		out[i] = g.body(from + i)
	}
	return out
}

// body is the i-th order. Customer c orders from one of two IPs with one of
// two cards; amounts and plans vary.
func (g *generator) body(i int) []byte {
	// A multiplicative hash spreads consecutive orders over customers.
	c := int((uint64(i)*0x9E3779B97F4A7C15)>>11) % g.o.customers
	cs := strconv.Itoa(c)
	ip := g.ips[(c*2+i%2)%len(g.ips)]
	plan := 1 + c%4
	price := strconv.Itoa(5*plan) + ".00"
	country := g.countries[c%len(g.countries)]
	last4 := strconv.Itoa(1000 + (c*7+i%2)%9000)
	var b bytes.Buffer
	b.Grow(700)
	b.WriteString(`{"order_id":"`)
	b.WriteString(g.o.idPrefix)
	b.WriteString(strconv.Itoa(i))
	b.WriteString(`","account":{"id":"cust-`)
	b.WriteString(cs)
	b.WriteString(`","email":"customer`)
	b.WriteString(cs)
	b.WriteString(`@example.com","name":"Customer `)
	b.WriteString(cs)
	b.WriteString(`","phone":"+1 415 555 `)
	b.WriteString(strconv.Itoa(1000 + c%9000))
	b.WriteString(`"},"ip":"`)
	b.WriteString(ip)
	b.WriteString(`","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0","accept_language":"en-US,en;q=0.8",`)
	b.WriteString(`"billing":{"first_name":"Customer","last_name":"`)
	b.WriteString(cs)
	b.WriteString(`","country":"`)
	b.WriteString(country)
	b.WriteString(`","region":"","city":"Springfield","postal":"`)
	b.WriteString(strconv.Itoa(10000 + c%89999))
	b.WriteString(`","address":"`)
	b.WriteString(strconv.Itoa(1 + c%999))
	b.WriteString(` Main St"},"payment":{"processor":"stripe","method":"card","card_bin":"411111","card_last4":"`)
	b.WriteString(last4)
	b.WriteString(`"},"amount":"`)
	b.WriteString(price)
	b.WriteString(`","currency":"USD","items":[{"sku":"vps-`)
	b.WriteString(strconv.Itoa(plan))
	b.WriteString(`","category":"vps","price":"`)
	b.WriteString(price)
	b.WriteString(`","quantity":1}]}`)
	return b.Bytes()
}

// stats is what one blast measured.
type stats struct {
	sent, ok    int
	elapsed     time.Duration
	latencies   []time.Duration
	byStatus    map[int]int
	byDecision  map[string]int
	transport   int // requests that got no answer
	firstErr    error
	stoppedTime bool          // the duration ran out before every order was sent
	cpu         time.Duration // this process's CPU time (user + system)
}

// cpuTime is the CPU time this process has used, the stub's included.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// blast sends bodies from workers until all are sent or d has passed; with
// rate > 0, order i is not sent before i/rate seconds after the start (a
// gateway that falls behind gets the next ones at once: the rate is a
// ceiling).
func blast(ctx context.Context, client *http.Client, target, key string, bodies [][]byte, workers int, d time.Duration, rate float64) stats {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var next atomic.Int64
	type result struct {
		lat      []time.Duration
		status   map[int]int
		decision map[string]int
		transp   int
		err      error
	}
	results := make([]result, workers)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := result{status: map[int]int{}, decision: map[string]int{}}
			buf := make([]byte, 0, 4096)
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(bodies)) {
					break
				}
				if rate > 0 {
					at := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
					if wait := time.Until(at); wait > 0 {
						select {
						case <-ctx.Done():
						case <-time.After(wait):
						}
						if ctx.Err() != nil {
							break
						}
					}
				}
				t0 := time.Now()
				status, body, err := post(ctx, client, target, key, bodies[i], buf)
				if ctx.Err() != nil {
					// The duration ran out during the request: it is not
					// part of the run, whatever its outcome.
					break
				}
				if err != nil {
					r.transp++
					if r.err == nil {
						r.err = err
					}
					continue
				}
				r.lat = append(r.lat, time.Since(t0))
				r.status[status]++
				if status == http.StatusOK {
					r.decision[decision(body)]++
				} else if r.err == nil {
					r.err = fmt.Errorf("status %d: %s", status, bytes.TrimSpace(body))
				}
				buf = body[:0]
			}
			results[w] = r
		})
	}
	wg.Wait()
	s := stats{elapsed: time.Since(start), byStatus: map[int]int{}, byDecision: map[string]int{}}
	s.stoppedTime = next.Load() < int64(len(bodies))
	for _, r := range results {
		s.latencies = append(s.latencies, r.lat...)
		for k, v := range r.status {
			s.byStatus[k] += v
		}
		for k, v := range r.decision {
			s.byDecision[k] += v
		}
		s.transport += r.transp
		if s.firstErr == nil {
			s.firstErr = r.err
		}
	}
	s.sent = len(s.latencies) + s.transport
	s.ok = s.byStatus[http.StatusOK]
	return s
}

func post(ctx context.Context, client *http.Client, target, key string, body, buf []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	w := bytes.NewBuffer(buf[:0])
	if _, err := io.Copy(w, io.LimitReader(resp.Body, 1<<20)); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, w.Bytes(), nil
}

// decision finds "decision":"..." in an answer without decoding it all.
func decision(body []byte) string {
	const k = `"decision":"`
	i := bytes.Index(body, []byte(k))
	if i < 0 {
		return "?"
	}
	rest := body[i+len(k):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "?"
	}
	return string(rest[:j])
}

func (s stats) print(w io.Writer, o options, mfCalls int64) {
	lat := slices.Clone(s.latencies)
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64) }
	secs := s.elapsed.Seconds()
	rps := float64(len(s.latencies)) / secs
	fmt.Fprintf(w, "loadorders: %d orders in %.3fs from %d workers (-n %d, -duration %s", s.sent, secs, o.workers, o.count, o.duration)
	if o.rate > 0 {
		fmt.Fprintf(w, ", -rate %g", o.rate)
	}
	fmt.Fprint(w, ")")
	if s.stoppedTime {
		fmt.Fprint(w, ", stopped by -duration")
	}
	fmt.Fprintf(w, "\n  throughput  %.1f orders/s\n", rps)
	fmt.Fprintf(w, "  latency     p50 %s ms  p90 %s ms  p99 %s ms  max %s ms\n", ms(pct(0.50)), ms(pct(0.90)), ms(pct(0.99)), ms(pct(1)))
	fmt.Fprintf(w, "  answers     %s", counts(s.byStatus))
	if s.transport > 0 {
		fmt.Fprintf(w, ", %d without an answer", s.transport)
	}
	fmt.Fprintf(w, "\n  decisions   %s\n", counts(s.byDecision))
	if mfCalls >= 0 {
		fmt.Fprintf(w, "  minFraud    %d calls answered by the stub\n", mfCalls)
	}
	cpuPerOrder := 0.0
	if len(s.latencies) > 0 {
		cpuPerOrder = float64(s.cpu.Microseconds()) / float64(len(s.latencies))
	}
	fmt.Fprintf(w, "  own CPU     %.2fs, %.0f us per order (load generator and minFraud stub)\n", s.cpu.Seconds(), cpuPerOrder)
	if s.firstErr != nil {
		fmt.Fprintf(w, "  first error %v\n", s.firstErr)
	}
	errs := s.sent - s.ok
	fmt.Fprintf(w, "RESULT orders=%d seconds=%.3f rps=%.1f p50_ms=%s p99_ms=%s max_ms=%s ok=%d errors=%d minfraud_calls=%d cpu_us_per_order=%.0f\n",
		len(s.latencies), secs, rps, ms(pct(0.50)), ms(pct(0.99)), ms(pct(1)), s.ok, errs, mfCalls, cpuPerOrder)
}

func counts[K comparable](m map[K]int) string {
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range m {
		all = append(all, kv{fmt.Sprint(k), v})
	}
	slices.SortFunc(all, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	parts := make([]string, len(all))
	for i, e := range all {
		parts[i] = e.k + ": " + strconv.Itoa(e.v)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// minfraudStub answers minFraud's scoring endpoints with one recorded
// answer.
type minfraudStub struct {
	srv   *http.Server
	addr  string // host:port it listens on
	calls atomic.Int64
}

func startMinfraudStub(addr string, body []byte) (*minfraudStub, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("-minfraud-listen %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("-minfraud-listen %q: must be a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("minFraud stub: %w", err)
	}
	s := &minfraudStub{addr: ln.Addr().String()}
	mux := http.NewServeMux()
	handler := func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); !ok {
			http.Error(w, `{"code":"AUTHORIZATION_INVALID","error":"no basic auth"}`, http.StatusUnauthorized)
			return
		}
		// Read the request as minFraud would before answering.
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		s.calls.Add(1)
		w.Header().Set("Content-Type", "application/vnd.maxmind.com-minfraud-score+json; charset=UTF-8; version=2.0")
		_, _ = w.Write(body)
	}
	for _, svc := range []string{"score", "insights", "factors"} {
		mux.HandleFunc("POST /minfraud/v2.0/"+svc, handler)
	}
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *minfraudStub) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}
