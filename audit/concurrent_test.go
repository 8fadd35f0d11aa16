package audit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/testenv"
)

// Appenders on separate connections (as separate processes would be),
// eight goroutines on each (which, racing each other, once starved into
// ErrConflict), with an archiver running meanwhile: one unbroken chain,
// every entry once.
func TestConcurrentAppendersOneChain(t *testing.T) {
	t.Parallel()
	onBackends(t, 7, func(t *testing.T, e *env) {
		const clients, perClient, each = 3, 8, 20
		var wg sync.WaitGroup
		errs := make(chan error, clients*perClient+1)
		for c := range clients {
			l := e.newLog(t, e.client())
			for g := range perClient {
				wg.Go(func() {
					for i := range each {
						en := entry(i, e.now)
						en.ID = fmt.Sprintf("c%d-g%d-%d", c, g, i)
						if _, err := l.Append(t.Context(), en); err != nil {
							errs <- err
							return
						}
					}
				})
			}
		}
		ctx, stop := context.WithCancel(t.Context())
		archived := make(chan struct{})
		go func() {
			defer close(archived)
			for ctx.Err() == nil {
				if err := e.arch.Tick(ctx); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
			}
		}()
		wg.Wait()
		stop()
		<-archived
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		e.archiveAll(t)
		sum, err := e.verify(t)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if want := int64(clients * perClient * each); sum.Head.Seq != want || sum.S3Last != want {
			t.Errorf("head %d, archive to %d; want %d entries", sum.Head.Seq, sum.S3Last, want)
		}
	})
}

// envHelper makes the test binary an appender process (see
// TestTwoProcessesOneChain).
const envHelper = "GATEWAY_AUDIT_TEST_APPENDER"

// TestHelperAppender is not a test: it is the body of an appender process.
func TestHelperAppender(t *testing.T) {
	spec := os.Getenv(envHelper)
	if spec == "" {
		t.Skip("helper process for TestTwoProcessesOneChain")
	}
	var prefix, name string
	var n int
	if _, err := fmt.Sscanf(spec, "%s %s %d", &prefix, &name, &n); err != nil {
		t.Fatalf("bad %s %q: %v", envHelper, spec, err)
	}
	l, err := New(testenv.RedisClient(t), prefix, discard())
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		en := entry(i, time.Now())
		en.ID = name + "-" + strconv.Itoa(i)
		if _, err := l.Append(t.Context(), en); err != nil {
			t.Fatal(err)
		}
	}
}

// Two appender processes, and a third killed with SIGKILL in the middle
// of its appends: one unbroken chain, every entry of the two, and of the
// third only whole entries (each append is one script: all or nothing).
func TestTwoProcessesOneChain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 50)
	const each = 150
	start := func(name string, n int) *exec.Cmd {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperAppender$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d", envHelper, e.prefix, name, n))
		out := new(testenv.Buffer)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s output:\n%s", name, out)
			}
		})
		return cmd
	}
	victim := start("p3", 1_000_000)
	cmds := []*exec.Cmd{start("p1", each), start("p2", each)}
	// Kill the third once it is appending (its entries are in the log).
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := e.rdb.HLen(t.Context(), e.log.idsKey()).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no appends within a minute")
		}
		if err := sleep(t.Context(), 5*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := victim.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = victim.Wait()
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("appender process: %v", err)
		}
	}
	e.archiveAll(t)
	sum, err := e.verify(t)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	ids, err := e.rdb.HLen(t.Context(), e.log.idsKey()).Result()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Head.Seq < 2*each || ids != sum.Head.Seq {
		t.Errorf("head seq = %d, ids = %d; want the same, at least %d", sum.Head.Seq, ids, 2*each)
	}
	for _, name := range []string{"p1", "p2"} {
		fields := make([]string, each)
		for i := range fields {
			fields[i] = name + "-" + strconv.Itoa(i)
		}
		seqs, err := e.rdb.HMGet(t.Context(), e.log.idsKey(), fields...).Result()
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range seqs {
			if s == nil {
				t.Errorf("%s is not in the log", fields[i])
			}
		}
	}
}
