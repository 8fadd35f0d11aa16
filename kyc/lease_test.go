package kyc

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestWorkerKilled: the worker that holds the lease dies (stops
// renewing); another process's worker takes the lease over once it lapses
// (3 worker intervals, real time in Redis) and does the retention work.
func TestWorkerKilled(t *testing.T) {
	rdb, prefix := standalone(t)
	e := newEnv(t, rdb, prefix, Config{Retention: time.Second, WorkerInterval: time.Second}, "", "p1")
	ctx := context.Background()
	other := *e.svc
	other.d.Consumer = "p2"
	// w1 takes the lease, then is killed: it never runs again.
	if err := e.svc.WorkOnce(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	link, _ := e.approved(t, "k", 30)
	e.advance(time.Hour)
	// While w1's lease lasts, w2 does nothing.
	if ok, err := other.hold(ctx, "w2"); err != nil || ok {
		t.Fatalf("w2 took a lease w1 holds: %v %v", ok, err)
	}
	if err := other.WorkOnce(ctx, "w2"); err != nil {
		t.Fatal(err)
	}
	if got := e.caseOf(t, link); got.Redacted {
		t.Fatal("w2 worked without the lease")
	}
	// Once it lapses, w2 takes it and does the work.
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := other.hold(ctx, "w2")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("w2 never took over the lease of the killed w1")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := other.WorkOnce(ctx, "w2"); err != nil {
		t.Fatal(err)
	}
	if got := e.caseOf(t, link); !got.Redacted {
		t.Errorf("case not redacted by the surviving worker: %+v", got)
	}
	if objs := e.objects(t); len(objs) != 0 {
		t.Errorf("documents left: %v", objs)
	}
}

// TestRelayProcessKilled: a process whose relay read the pending entries
// and died before delivering them leaves them to another process's relay,
// which takes them over once idle: nothing is lost.
func TestRelayProcessKilled(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		e := newEnv(t, rdb, prefix, Config{}, "", "p1")
		ctx := context.Background()
		e.uploaded(t, "r", 31)
		// p1 reads the entries, then is killed before delivering.
		if err := rdb.XGroupCreateMkStream(ctx, e.svc.pendingKey(), relayGroup, "0").Err(); err != nil {
			t.Fatal(err)
		}
		got, err := e.svc.readGroup(ctx, ">")
		if err != nil || len(got) != 3 {
			t.Fatalf("p1 read %d entries, %v; want the upload's 3", len(got), err)
		}
		other := *e.svc
		other.d.Consumer = "p2"
		other.claimIdle = 50 * time.Millisecond
		deadline := time.Now().Add(15 * time.Second)
		for len(e.audit.actions()) == 0 {
			if _, err := other.RelayOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatal("p2 never took over p1's entries")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if a := e.audit.actions(); len(a) != 1 || a[0] != "kyc.submitted" {
			t.Errorf("audit %v", a)
		}
		if ev := e.published(t); len(ev) != 1 || ev[0].Type != "kyc.submitted" {
			t.Errorf("events %v", ev)
		}
		if n, err := rdb.XLen(ctx, e.svc.pendingKey()).Result(); err != nil || n != 0 {
			t.Errorf("pending stream keeps %d entries (%v)", n, err)
		}
	})
}
