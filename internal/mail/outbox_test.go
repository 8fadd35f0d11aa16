package mail

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/embedded"
	"github.com/vpsgate/gateway/internal/testenv"
)

// Environment of the worker process that TestWorkerKilledMidDelivery
// starts from this test binary.
const (
	envWorker        = "GATEWAY_MAIL_TEST_WORKER"
	envWorkerRedis   = "GATEWAY_MAIL_TEST_WORKER_REDIS"
	envWorkerPrefix  = "GATEWAY_MAIL_TEST_WORKER_PREFIX"
	envWorkerSMTP    = "GATEWAY_MAIL_TEST_WORKER_SMTP"
	envWorkerLease   = "GATEWAY_MAIL_TEST_WORKER_LEASE"
	envWorkerTimeout = "GATEWAY_MAIL_TEST_WORKER_TIMEOUT"
)

func TestMain(m *testing.M) {
	if os.Getenv(envWorker) == "1" {
		os.Exit(workerProcess())
	}
	os.Exit(m.Run())
}

// workerProcess is a gateway's mail worker in a process of its own: it
// delivers until it is killed.
func workerProcess() int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	rdb, err := openSpec(os.Getenv(envWorkerRedis))
	if err != nil {
		logger.Error("worker", "error", err)
		return 1
	}
	lease, _ := time.ParseDuration(os.Getenv(envWorkerLease))
	timeout, _ := time.ParseDuration(os.Getenv(envWorkerTimeout))
	s, err := NewSMTPSender(SMTPConfig{URL: os.Getenv(envWorkerSMTP), Timeout: timeout}, Config{From: "no-reply@gateway.test"})
	if err != nil {
		logger.Error("worker", "error", err)
		return 1
	}
	o, err := NewOutbox(rdb, s, testOptions(os.Getenv(envWorkerPrefix), lease), logger, nil)
	if err != nil {
		logger.Error("worker", "error", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	o.Run(ctx)
	return 0
}

// openSpec opens a client from a backend's spec: a redis:// URL, or
// "cluster:" and the nodes' addresses, comma-separated.
func openSpec(spec string) (redis.UniversalClient, error) {
	if addrs, ok := strings.CutPrefix(spec, "cluster:"); ok {
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ",")}), nil
	}
	opts, err := redis.ParseURL(spec)
	if err != nil {
		return nil, err
	}
	return redis.NewClient(opts), nil
}

// backend is a Redis deployment the outbox runs on: rdb, a key prefix of
// the test's own, and the spec a worker process opens (openSpec).
type backend struct {
	rdb    redis.UniversalClient
	prefix string
	spec   string
}

// forEachBackend runs f on the standalone test server and on the
// three-node test Cluster, where the outbox's keys share one slot.
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("standalone", func(t *testing.T) {
		f(t, backend{rdb: testenv.RedisClient(t), prefix: testenv.KeyPrefix(t), spec: testenv.RedisURL(t)})
	})
	t.Run("cluster", func(t *testing.T) {
		c, prefix := testenv.RedisClusterClient(t)
		f(t, backend{rdb: c, prefix: prefix, spec: "cluster:" + strings.Join(testenv.RedisClusterAddrs(t), ",")})
	})
}

func testOptions(prefix string, lease time.Duration) Options {
	return Options{
		Prefix: prefix, Lease: lease, Poll: 100 * time.Millisecond,
		RetryMin: 100 * time.Millisecond, RetryMax: 400 * time.Millisecond,
		DeadAfter: time.Hour, Retention: time.Hour,
	}
}

// worker is an Outbox running in this process, stopped when the test ends.
type worker struct {
	*Outbox
	reg *prometheus.Registry
}

func startWorker(t *testing.T, rdb redis.UniversalClient, s Sender, opts Options) *worker {
	t.Helper()
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	o, err := NewOutbox(rdb, s, opts, logger, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); o.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &worker{Outbox: o, reg: reg}
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func smtpSender(t *testing.T, url string) *SMTPSender {
	t.Helper()
	s, err := NewSMTPSender(SMTPConfig{URL: url, Timeout: 5 * time.Second}, Config{From: "Example Hosting <no-reply@gateway.test>"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// recipient is an address of this test's own on the shared mailpit.
func recipient(t *testing.T, n int) string {
	t.Helper()
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	return fmt.Sprintf("%s-%d-%d@customer.test", name, time.Now().UnixNano()%1e9, n)
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func message(id, to string) Message {
	return Message{ID: id, To: to, Subject: "Subject " + id, Text: "Text of " + id + "\n", HTML: "<p>HTML of " + id + "</p>"}
}

// countByID counts the messages mailpit received for the addresses by
// their Message-ID.
func countByID(t *testing.T, api string, to ...string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, a := range to {
		for _, m := range testenv.MailpitMessages(t, api, a) {
			n[m.MessageID]++
		}
	}
	return n
}

func received(t *testing.T, api string, want int, to ...string) func() bool {
	return func() bool {
		total := 0
		for _, c := range countByID(t, api, to...) {
			total += c
		}
		return total >= want
	}
}

// assertOnce checks that each of ids arrived exactly once.
func assertOnce(t *testing.T, api string, ids []string, to ...string) {
	t.Helper()
	want := map[string]int{}
	for _, id := range ids {
		want[MessageID(id, "gateway.test")] = 1
	}
	if diff := cmp.Diff(want, countByID(t, api, to...)); diff != "" {
		t.Errorf("copies received per Message-ID (-want +got):\n%s", diff)
	}
}

func TestDeliveryToMailpit(t *testing.T) { forEachBackend(t, testDeliveryToMailpit) }

func testDeliveryToMailpit(t *testing.T, b backend) {
	rdb, prefix := b.rdb, b.prefix
	api := testenv.MailpitAPI(t)
	w := startWorker(t, rdb, smtpSender(t, testenv.SMTPURL(t)), testOptions(prefix, time.Minute))

	tpl, err := NewTemplates("Example <Hosting>")
	if err != nil {
		t.Fatal(err)
	}
	link := "https://shop.example/_gateway/verify-email?token=a.b.c&x=1"
	subject, text, html, err := tpl.Render("verify_email", VerifyEmail{Link: link, Expires: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	to := recipient(t, 0)
	if err := w.Enqueue(t.Context(), Message{ID: "screening-1", To: to, Subject: subject, Text: text, HTML: html}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the mail in mailpit", received(t, api, 1, to))

	got := testenv.MailpitMessages(t, api, to)
	if len(got) != 1 {
		t.Fatalf("mailpit has %d messages for %s, want 1", len(got), to)
	}
	m := got[0]
	if diff := cmp.Diff(testenv.MailpitAddress{Name: "Example Hosting", Address: "no-reply@gateway.test"}, m.From); diff != "" {
		t.Errorf("From (-want +got):\n%s", diff)
	}
	if len(m.To) != 1 || m.To[0].Address != to {
		t.Errorf("To = %+v, want %s", m.To, to)
	}
	if m.Subject != "Please confirm your email address for Example <Hosting>" {
		t.Errorf("Subject = %q", m.Subject)
	}
	if want := MessageID("screening-1", "gateway.test"); m.MessageID != want {
		t.Errorf("Message-ID = %q, want %q", m.MessageID, want)
	}
	if ct := strings.Join(m.Headers["Content-Type"], ""); !strings.HasPrefix(ct, "multipart/alternative") {
		t.Errorf("Content-Type = %q, want multipart/alternative", ct)
	}
	if len(m.Headers["Date"]) != 1 {
		t.Errorf("Date header = %q, want one", m.Headers["Date"])
	}
	if !strings.Contains(m.Text, link) || !strings.Contains(m.Text, "24 hours") {
		t.Errorf("text part lacks the link or the expiry:\n%s", m.Text)
	}
	if !strings.Contains(m.HTML, `href="https://shop.example/_gateway/verify-email?token=a.b.c&amp;x=1"`) ||
		!strings.Contains(m.HTML, "Example &lt;Hosting&gt;") {
		t.Errorf("HTML part lacks the escaped link or shop name:\n%s", m.HTML)
	}

	waitFor(t, 5*time.Second, "the sent counter", func() bool { return testutil.ToFloat64(w.m.sent) == 1 })
	// The record stays for idempotency, without the bodies (the link is a
	// credential until used).
	h, err := rdb.HGetAll(t.Context(), prefix+"{outbox}:msg:screening-1").Result()
	if err != nil {
		t.Fatal(err)
	}
	if h["state"] != "sent" || h["text"] != "" || h["html"] != "" {
		t.Errorf("record after sending = %v, want state sent and no bodies", h)
	}
	waitFor(t, 5*time.Second, "an empty queue", func() bool { return testutil.ToFloat64(w.m.depth) == 0 })
}

func TestEnqueueIsIdempotent(t *testing.T) { forEachBackend(t, testEnqueueIsIdempotent) }

func testEnqueueIsIdempotent(t *testing.T, b backend) {
	rdb, prefix := b.rdb, b.prefix
	api := testenv.MailpitAPI(t)
	w := startWorker(t, rdb, smtpSender(t, testenv.SMTPURL(t)), testOptions(prefix, time.Minute))
	to := recipient(t, 0)

	// Twice while queued (or being sent), and once more after the success
	// was recorded: one mail.
	for range 2 {
		if err := w.Enqueue(t.Context(), message("same", to)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "the mail", received(t, api, 1, to))
	waitFor(t, 5*time.Second, "the recorded success", func() bool {
		return rdb.HGet(t.Context(), prefix+"{outbox}:msg:same", "state").Val() == "sent"
	})
	if err := w.Enqueue(t.Context(), message("same", to)); err != nil {
		t.Fatal(err)
	}
	if err := w.Enqueue(t.Context(), message("other", to)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the second mail", received(t, api, 2, to))
	time.Sleep(500 * time.Millisecond) // room for a wrong third copy
	assertOnce(t, api, []string{"same", "other"}, to)
}

func TestEnqueueRefusesBadMessages(t *testing.T) {
	rdb := testenv.RedisClient(t)
	prefix := testenv.KeyPrefix(t)
	o, err := NewOutbox(rdb, nil, testOptions(prefix, time.Minute), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	good := message("id", "a@customer.test")
	tests := []struct {
		name string
		edit func(*Message)
	}{
		{"no id", func(m *Message) { m.ID = "" }},
		{"no subject", func(m *Message) { m.Subject = "" }},
		{"header injection in subject", func(m *Message) { m.Subject = "Hi\r\nBcc: x@evil.test" }},
		{"no text", func(m *Message) { m.Text = "" }},
		{"two recipients", func(m *Message) { m.To = "a@customer.test, b@customer.test" }},
		{"named recipient", func(m *Message) { m.To = "A <a@customer.test>" }},
		{"not an address", func(m *Message) { m.To = "a" }},
		{"too large", func(m *Message) { m.HTML = strings.Repeat("x", maxMessageBytes) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := good
			tt.edit(&m)
			if err := o.Enqueue(t.Context(), m); err == nil {
				t.Fatalf("Enqueue(%+v) succeeded", m)
			}
		})
	}
	if n := rdb.XLen(t.Context(), prefix+"{outbox}:stream").Val(); n != 0 {
		t.Errorf("the stream holds %d entries after refused messages", n)
	}
}

// TestSMTPOutage: while the SMTP server is down every attempt fails and
// is retried with back-off; when it is back, every message goes out once.
func TestSMTPOutage(t *testing.T) { forEachBackend(t, testSMTPOutage) }

func testSMTPOutage(t *testing.T, b backend) {
	rdb, prefix := b.rdb, b.prefix
	mp := testenv.StartMailpit(t)
	mp.Stop()
	w := startWorker(t, rdb, smtpSender(t, mp.SMTPURL()), testOptions(prefix, time.Minute))

	to := recipient(t, 0)
	var ids []string
	for i := range 5 {
		id := fmt.Sprintf("outage-%d", i)
		ids = append(ids, id)
		if err := w.Enqueue(t.Context(), message(id, to)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "failed attempts while mailpit is down", func() bool { return testutil.ToFloat64(w.m.failed) >= 10 })
	waitFor(t, 5*time.Second, "the queue metrics", func() bool {
		return testutil.ToFloat64(w.m.depth) == 5 && testutil.ToFloat64(w.m.oldest) > 0
	})
	if n := testutil.ToFloat64(w.m.sent); n != 0 {
		t.Fatalf("%v sent while the server was down", n)
	}

	mp.Start()
	waitFor(t, 30*time.Second, "every mail after the outage", received(t, mp.API(), 5, to))
	time.Sleep(time.Second) // room for a wrong second copy
	assertOnce(t, mp.API(), ids, to)
	if got := testutil.ToFloat64(w.m.sent); got != 5 {
		t.Errorf("sent counter = %v, want 5", got)
	}
	if n := rdb.ZCard(t.Context(), prefix+"{outbox}:retry").Val() + rdb.ZCard(t.Context(), prefix+"{outbox}:queued").Val(); n != 0 {
		t.Errorf("%d ids left queued or waiting for a retry", n)
	}
}

// TestDeadLetters: a message undeliverable for DeadAfter, and one whose
// recipient the server refuses (5xx), end in the dead letters, counted.
func TestDeadLetters(t *testing.T) {
	t.Run("server down for longer than dead_after", func(t *testing.T) {
		rdb := testenv.RedisClient(t)
		prefix := testenv.KeyPrefix(t)
		opts := testOptions(prefix, time.Minute)
		opts.DeadAfter = 700 * time.Millisecond
		w := startWorker(t, rdb, smtpSender(t, "smtp://"+testenv.FreeAddr(t)), opts)
		if err := w.Enqueue(t.Context(), message("dead", "a@customer.test")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, "the dead letter", func() bool { return testutil.ToFloat64(w.m.dead) == 1 })
		if testutil.ToFloat64(w.m.failed) < 2 {
			t.Errorf("failed attempts = %v, want retries before giving up", testutil.ToFloat64(w.m.failed))
		}
		assertDead(t, rdb, prefix, "dead")
	})
	t.Run("recipient refused", func(t *testing.T) {
		rdb := testenv.RedisClient(t)
		prefix := testenv.KeyPrefix(t)
		mp := testenv.StartMailpit(t, "--smtp-allowed-recipients", `@allowed\.test$`)
		w := startWorker(t, rdb, smtpSender(t, mp.SMTPURL()), testOptions(prefix, time.Minute))
		if err := w.Enqueue(t.Context(), message("refused", "a@customer.test")); err != nil {
			t.Fatal(err)
		}
		if err := w.Enqueue(t.Context(), message("fine", "b@allowed.test")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, "the dead letter", func() bool { return testutil.ToFloat64(w.m.dead) == 1 })
		if got := testutil.ToFloat64(w.m.failed); got != 1 {
			t.Errorf("failed attempts = %v, want 1: a refused recipient is not retried", got)
		}
		assertDead(t, rdb, prefix, "refused")
		waitFor(t, 20*time.Second, "the allowed mail", received(t, mp.API(), 1, "b@allowed.test"))
	})
}

func assertDead(t *testing.T, rdb redis.UniversalClient, prefix, id string) {
	t.Helper()
	h := rdb.HGetAll(t.Context(), prefix+"{outbox}:msg:"+id).Val()
	if h["state"] != "dead" || h["last_error"] == "" || h["text"] != "" || h["html"] != "" {
		t.Errorf("record = %v, want state dead, the last error, no bodies", h)
	}
	if _, err := rdb.ZScore(t.Context(), prefix+"{outbox}:dead", id).Result(); err != nil {
		t.Errorf("not in the dead-letter set: %v", err)
	}
	if n := rdb.ZCard(t.Context(), prefix+"{outbox}:queued").Val(); n != 0 {
		t.Errorf("%d still queued", n)
	}
}

// blackhole accepts SMTP connections and never answers: a worker sending
// to it hangs mid-delivery until its timeout.
func blackhole(t *testing.T) (addr string, accepted func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return len(conns) }
}

// startWorkerProcess runs a worker in a process of its own (this test
// binary, see TestMain).
func startWorkerProcess(t *testing.T, redisSpec, prefix, smtpURL string, lease, timeout time.Duration) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envWorker+"=1", envWorkerRedis+"="+redisSpec, envWorkerPrefix+"="+prefix,
		envWorkerSMTP+"="+smtpURL, envWorkerLease+"="+lease.String(), envWorkerTimeout+"="+timeout.String())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Logf("worker %d: %s", cmd.Process.Pid, sc.Text())
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
	})
	return cmd
}

// TestWorkerKilledMidDelivery: a worker process killed with SIGKILL while
// it holds messages (mid-delivery) loses none: after the lease, two other
// worker processes deliver them and new mail, each message once.
func TestWorkerKilledMidDelivery(t *testing.T) { forEachBackend(t, testWorkerKilledMidDelivery) }

func testWorkerKilledMidDelivery(t *testing.T, b backend) {
	rdb, prefix, redisURL := b.rdb, b.prefix, b.spec
	api := testenv.MailpitAPI(t)
	smtpURL := testenv.SMTPURL(t)
	o, err := NewOutbox(rdb, nil, testOptions(prefix, time.Second), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	to := recipient(t, 0)
	var ids []string
	enqueue := func(n int) {
		for range n {
			id := fmt.Sprintf("msg-%d", len(ids))
			ids = append(ids, id)
			if err := o.Enqueue(t.Context(), message(id, to)); err != nil {
				t.Fatal(err)
			}
		}
	}

	hole, conns := blackhole(t)
	a := startWorkerProcess(t, redisURL, prefix, "smtp://"+hole, time.Second, time.Minute)
	enqueue(3)
	waitFor(t, 20*time.Second, "worker A to hold the mail, mid-delivery", func() bool {
		p, err := rdb.XPending(t.Context(), prefix+"{outbox}:stream", group).Result()
		return err == nil && p.Count == 3 && conns() >= 1
	})
	if err := a.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.Wait()

	startWorkerProcess(t, redisURL, prefix, smtpURL, time.Second, 5*time.Second)
	startWorkerProcess(t, redisURL, prefix, smtpURL, time.Second, 5*time.Second)
	enqueue(10)
	waitFor(t, 60*time.Second, "every mail", received(t, api, len(ids), to))
	time.Sleep(2 * time.Second) // room for a wrong second copy
	assertOnce(t, api, ids, to)
	if p, err := rdb.XPending(t.Context(), prefix+"{outbox}:stream", group).Result(); err != nil || p.Count != 0 {
		t.Errorf("pending after delivery: %+v, %v", p, err)
	}
}

func TestDevOutbox(t *testing.T) {
	rdb := testenv.RedisClient(t)
	prefix := testenv.KeyPrefix(t)
	var logs testenv.Buffer
	dev := NewDevOutbox(rdb, prefix, Config{From: "no-reply@gateway.test"}, slog.New(slog.NewJSONHandler(&logs, nil)))
	w := startWorker(t, rdb, dev, testOptions(prefix, time.Minute))

	link := "http://localhost:8080/_gateway/verify-email?token=x.y.z"
	m := Message{ID: "dev-1", To: "a@customer.test", Subject: "Confirm", Text: "Open " + link + "\n", HTML: "<p>x</p>"}
	if err := w.Enqueue(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the development mail", func() bool {
		l, err := dev.List(t.Context(), 10)
		return err == nil && len(l) == 1
	})
	got, err := dev.List(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := DevMail{ID: "dev-1", MessageID: MessageID("dev-1", "gateway.test"), To: m.To, Subject: m.Subject, Text: m.Text, HTML: m.HTML}
	if diff := cmp.Diff(want, got[0], cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Time" }, cmp.Ignore())); diff != "" {
		t.Errorf("development mail (-want +got):\n%s", diff)
	}
	if !strings.Contains(logs.String(), link) {
		t.Errorf("the log does not show the link:\n%s", logs.String())
	}

	// Bounded: the newest DevMailMax are kept.
	for i := range DevMailMax + 5 {
		if err := dev.Send(t.Context(), message(fmt.Sprint("bulk-", i), "b@customer.test"), func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	all, err := dev.List(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != DevMailMax || all[0].ID != fmt.Sprint("bulk-", DevMailMax+4) {
		t.Errorf("kept %d, newest %q; want %d, newest bulk-%d", len(all), all[0].ID, DevMailMax, DevMailMax+4)
	}
}

// flaky fails its first n sends, then passes them to next.
type flaky struct {
	mu   sync.Mutex
	n    int
	next Sender
}

func (f *flaky) Send(ctx context.Context, m Message, accepted func() error) error {
	f.mu.Lock()
	fail := f.n > 0
	f.n--
	f.mu.Unlock()
	if fail {
		return fmt.Errorf("flaky: failing on purpose")
	}
	return f.next.Send(ctx, m, accepted)
}

// TestEmbeddedRedis runs the outbox on the embedded (in-process) Redis of
// embedded mode: its scripts and stream commands work there too, retries
// included.
func TestEmbeddedRedis(t *testing.T) {
	srv, err := embedded.StartRedis(t.Context(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	dev := NewDevOutbox(rdb, "gw:mail:", Config{From: "no-reply@gateway.test"}, slog.New(slog.DiscardHandler))
	w := startWorker(t, rdb, &flaky{n: 2, next: dev}, testOptions("gw:mail:", time.Minute))
	for _, id := range []string{"a", "b", "a", "c"} {
		if err := w.Enqueue(t.Context(), message(id, "x@customer.test")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "three development mails", func() bool {
		l, err := dev.List(t.Context(), 10)
		return err == nil && len(l) >= 3
	})
	time.Sleep(300 * time.Millisecond) // room for a wrong fourth
	l, err := dev.List(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range l {
		got = append(got, m.ID)
	}
	slices.Sort(got)
	if diff := cmp.Diff([]string{"a", "b", "c"}, got); diff != "" {
		t.Errorf("development mail IDs (-want +got):\n%s", diff)
	}
	if n := testutil.ToFloat64(w.m.failed); n != 2 {
		t.Errorf("failed attempts = %v, want 2", n)
	}
}

// slow is an SMTP server that takes its time: each send waits first.
type slow struct {
	wait time.Duration
	next Sender
}

func (s slow) Send(ctx context.Context, m Message, accepted func() error) error {
	time.Sleep(s.wait)
	return s.next.Send(ctx, m, accepted)
}

// TestSlowWorkerKeepsItsLease: a worker works through its batch slowly,
// so that the later messages of the batch wait longer than the lease;
// another worker takes those over, and no message is sent by both (each
// attempt restarts the lease of its own message, and a message taken over
// is left alone).
func TestSlowWorkerKeepsItsLease(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		api := testenv.MailpitAPI(t)
		opts := testOptions(b.prefix, 2*time.Second)
		// Queued before the first worker starts, so that its first read
		// takes all of them.
		o, err := NewOutbox(b.rdb, nil, opts, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		to := recipient(t, 0)
		var ids []string
		for i := range 6 {
			ids = append(ids, fmt.Sprint("slow-", i))
			if err := o.Enqueue(t.Context(), message(ids[i], to)); err != nil {
				t.Fatal(err)
			}
		}
		startWorker(t, b.rdb, slow{wait: 800 * time.Millisecond, next: smtpSender(t, testenv.SMTPURL(t))}, opts)
		waitFor(t, 10*time.Second, "the first worker to hold every message", func() bool {
			p, err := b.rdb.XPending(t.Context(), b.prefix+"{outbox}:stream", group).Result()
			return err == nil && p.Count == 6
		})
		w2 := startWorker(t, b.rdb, smtpSender(t, testenv.SMTPURL(t)), opts)
		waitFor(t, 30*time.Second, "every mail", received(t, api, len(ids), to))
		time.Sleep(3 * time.Second) // the first worker finishes its batch
		assertOnce(t, api, ids, to)
		if testutil.ToFloat64(w2.m.sent) == 0 {
			t.Error("the second worker took nothing over: the test did not test the lease")
		}
	})
}
