package orders

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/internal/testenv"
)

// slowOutbox delivers slowly, so that a process can be killed mid-relay.
type slowOutbox struct {
	next  EventAppender
	delay time.Duration
}

func (o slowOutbox) Append(ctx context.Context, e events.Event) (string, error) {
	time.Sleep(o.delay)
	return o.next.Append(ctx, e)
}

// Environment of the helper process of TestRelaySurvivesSIGKILL.
const (
	envHelper = "ORDERS_TEST_RELAY_HELPER"
	envURL    = "ORDERS_TEST_RELAY_URL"
	envPrefix = "ORDERS_TEST_RELAY_PREFIX"
)

// TestRelayHelperProcess is the gateway process that dies: it commits
// orders (printing each screening id once committed) and relays them
// slowly until it is killed. It does nothing in a normal test run.
func TestRelayHelperProcess(t *testing.T) {
	if os.Getenv(envHelper) == "" {
		t.Skip("helper process of TestRelaySurvivesSIGKILL")
	}
	opts, err := redis.ParseURL(os.Getenv(envURL))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	st := newStack(t, rdb, os.Getenv(envPrefix), emailOnly, "doomed")
	st.relay.d.Outbox = slowOutbox{next: st.outbox, delay: 20 * time.Millisecond}
	st.relay.batch = nil // one slow append at a time
	ctx := context.Background()
	go st.relay.Run(ctx, 10*time.Millisecond)
	for i := 0; ; i++ {
		o := testOrder(fmt.Sprintf("KILL-%d", i), fmt.Sprintf("k%d", i), fmt.Sprintf("k%d@example.com", i))
		o.IP = fmt.Sprintf("198.%d.%d.7", 18+i/250, i%250)
		o.Payment.CardLast4 = fmt.Sprintf("%04d", 1000+i)
		o.Billing.Address = fmt.Sprintf("%d Main St", i)
		res, err := st.svc.Submit(ctx, shop, o)
		if err != nil {
			fmt.Println("error", err)
			continue
		}
		fmt.Println("sid", res.ScreeningID)
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRelaySurvivesSIGKILL: a gateway process committing orders and
// relaying their events is killed with SIGKILL mid-way; another process's
// relay takes over the entries the dead one had read and not delivered.
// Every committed order's creation event reaches the shared outbox (at
// least once), and no pending entry is left behind.
func TestRelaySurvivesSIGKILL(t *testing.T) {
	url := testenv.RedisURL(t)
	prefix := testenv.KeyPrefix(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestRelayHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelper+"=1", envURL+"="+url, envPrefix+"="+prefix)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var sids []string
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(sids) < 40 {
		if sid, ok := strings.CutPrefix(sc.Text(), "sid "); ok {
			sids = append(sids, sid)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Lines written before the kill: those orders are committed too.
	for sc.Scan() {
		if sid, ok := strings.CutPrefix(sc.Text(), "sid "); ok {
			sids = append(sids, sid)
		}
	}
	_ = cmd.Wait()

	rdb := testenv.RedisClient(t)
	st := newStack(t, rdb, prefix, emailOnly, "survivor")
	before := st.published(t)
	if len(before) >= len(sids) {
		t.Fatalf("the killed process had relayed %d events of %d orders: kill it sooner to test anything", len(before), len(sids))
	}
	time.Sleep(300 * time.Millisecond) // ClaimAfter of the dead consumer's entries
	st.drain(t)
	evs := st.published(t)
	for _, sid := range sids {
		if got := eventTypes(evs, sid); len(got) == 0 || got[0] != events.OrderHeld {
			t.Errorf("order %s: events %v, want order.held (lost with the killed process)", sid, got)
		}
	}
	for sh := range Shards {
		if n, err := rdb.XLen(context.Background(), st.svc.pendingKey(sh)).Result(); err != nil || n != 0 {
			t.Errorf("shard %d: %d entries still pending (%v)", sh, n, err)
		}
	}
	t.Logf("%d orders committed by the killed process, %d events relayed before the kill, %d after", len(sids), len(before), len(evs)-len(before))
}

// batchAudit is memAudit taking batches, as the audit package's
// AppendBatch does (all or nothing), that refuses the entries of one
// order (an entry the log will not take).
type batchAudit struct {
	*memAudit
	mu      sync.Mutex
	batches int
	refuse  string // an order whose entries are refused
}

func (a *batchAudit) refused(e AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refuse != "" && e.Order == a.refuse {
		return fmt.Errorf("entry %s refused", e.ID)
	}
	return nil
}

func (a *batchAudit) Append(ctx context.Context, e AuditEntry) error {
	if err := a.refused(e); err != nil {
		return err
	}
	return a.memAudit.Append(ctx, e)
}

func (a *batchAudit) AppendBatch(ctx context.Context, es []AuditEntry) error {
	for _, e := range es {
		if err := a.refused(e); err != nil {
			return err
		}
	}
	a.mu.Lock()
	a.batches++
	a.mu.Unlock()
	for _, e := range es {
		if err := a.memAudit.Append(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// The relay hands each shard batch's audit entries to the log in one
// AppendBatch; a batch the log refuses is appended entry by entry, so only
// the refused entry stays pending, and it goes once the log takes it.
func TestRelayAppendsAuditInBatches(t *testing.T) {
	t.Parallel()
	rdb := testenv.RedisClient(t)
	st := newStack(t, rdb, testenv.KeyPrefix(t), HoldsConfig{KYCWhen: KYCNever, ExpireAfter: time.Hour}, "p1")
	log := &batchAudit{memAudit: st.audit}
	relay, err := st.svc.NewRelay(RelayDeps{Outbox: st.outbox, Audit: log, Consumer: "p1", ClaimAfter: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	st.relay = relay
	ctx := t.Context()
	const orders = 40
	var ids []string
	for i := range orders {
		res, err := st.svc.Submit(ctx, shop, testOrder(fmt.Sprintf("B-%d", i), strconv.Itoa(i), "b@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ScreeningID)
	}
	log.refuse = ids[7]
	n, err := relay.RunOnce(ctx)
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("RunOnce error = %v; want the refused entry", err)
	}
	if got := len(st.audit.actions()); got != orders-1 {
		t.Errorf("after one pass %d entries appended (%d delivered); want all but the refused one, %d", got, n, orders-1)
	}
	if log.batches == 0 || log.batches > Shards {
		t.Errorf("%d batches; want one per shard with entries", log.batches)
	}
	log.mu.Lock()
	log.refuse = ""
	log.mu.Unlock()
	// The relay re-reads its own undelivered entries every ClaimAfter/2.
	time.Sleep(100 * time.Millisecond)
	st.drain(t)
	if got := len(st.audit.actions()); got != orders {
		t.Errorf("after the log took it, %d entries; want %d", got, orders)
	}
}
