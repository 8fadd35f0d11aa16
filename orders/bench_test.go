package orders

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/vpsgate/gateway/screening"
)

// countingAudit is an audit log that takes batches and keeps only their
// count: the relay's own work is measured, not the hash chain's (audit's
// BenchmarkAppendBatch measures that).
type countingAudit struct{ n atomic.Int64 }

func (a *countingAudit) Append(context.Context, AuditEntry) error {
	a.n.Add(1)
	return nil
}

func (a *countingAudit) AppendBatch(_ context.Context, es []AuditEntry) error {
	a.n.Add(int64(len(es)))
	return nil
}

// benchStack is a stack on a private redis-server without persistence.
func benchStack(b *testing.B) *stack {
	b.Helper()
	_, rdb := privateRedis(b)
	return newStack(b, rdb, "bench:", emailOnly, "bench")
}

// benchOrders returns n orders of n customers of their own (none rejected
// by velocity), so every one is held with the same pending work: its
// creation event, audit entry, account entry and verification mail.
func benchOrders(n int) []screening.Order {
	out := make([]screening.Order, n)
	for i := range out {
		o := testOrder(fmt.Sprintf("B-%d", i), fmt.Sprintf("b%d", i), fmt.Sprintf("b%d@example.com", i))
		o.IP = fmt.Sprintf("198.%d.%d.7", 18+i/250%2, i%250)
		o.Payment.CardLast4 = fmt.Sprintf("%04d", i%10000)
		o.Billing.Address = fmt.Sprintf("%d Main St", i)
		out[i] = o
	}
	return out
}

// BenchmarkSubmit is the request path of a new order: Service.Submit
// (the screening pipeline with the real velocity counters and blocklist,
// then the commit script) on a private redis-server, one goroutine;
// minFraud is off. allocs/op is the figure to compare.
func BenchmarkSubmit(b *testing.B) {
	st := benchStack(b)
	ctx := context.Background()
	ords := benchOrders(b.N + 1)
	if _, err := st.svc.Submit(ctx, shop, ords[b.N]); err != nil { // scripts loaded, connection open
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := st.svc.Submit(ctx, shop, ords[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRelay is the relay's work per order: b.N held orders are
// committed first (not timed), then the relay moves their pending entries
// (event, audit entry, account entry, mail request) on until none is
// left. The audit log only counts entries (see countingAudit).
func BenchmarkRelay(b *testing.B) {
	st := benchStack(b)
	audit := &countingAudit{}
	st.relay.d.Audit = audit
	ctx := context.Background()
	for _, o := range benchOrders(b.N) {
		if _, err := st.svc.Submit(ctx, shop, o); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for {
		n, err := st.relay.RunOnce(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	b.StopTimer()
	if got := audit.n.Load(); got != int64(b.N) {
		b.Fatalf("relayed %d audit entries, want %d", got, b.N)
	}
}
