package orders

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/internal/fakeclock"
	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/screening"
	"github.com/vpsgate/gateway/screening/blocklist"
	"github.com/vpsgate/gateway/screening/ident"
	"github.com/vpsgate/gateway/screening/velocity"
)

// The GeoIP databases and the geo policy are the only stand-ins: everything
// that touches Redis is the real code on a real server.
type usLocator struct{}

func (usLocator) LocateIP(context.Context, netip.Addr) (screening.IPInfo, error) {
	return screening.IPInfo{Country: "US", RegisteredCountry: "US", ASN: 64500}, nil
}

type noBlockedCountries struct{}

func (noBlockedCountries) IsBlockedCountry(string) bool { return false }

// memAudit is the audit log's contract (idempotent by entry ID) in memory:
// part A's real log is merged later.
type memAudit struct {
	mu      sync.Mutex
	entries map[string]AuditEntry
	order   []string
}

func (a *memAudit) Append(_ context.Context, e AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.entries == nil {
		a.entries = map[string]AuditEntry{}
	}
	if _, ok := a.entries[e.ID]; ok {
		return nil
	}
	a.entries[e.ID] = e
	a.order = append(a.order, e.ID)
	return nil
}

func (a *memAudit) actions() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, id := range a.order {
		out = append(out, a.entries[id].Action)
	}
	return out
}

// memMailer records verification and kyc_request mail requests (part
// V's contract, and the kyc package's).
type memMailer struct {
	mu      sync.Mutex
	refs    []string
	kycRefs []string
}

func (m *memMailer) SendKYCRequest(_ context.Context, owner, orderID, email, link, ref string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.kycRefs = append(m.kycRefs, owner+"|"+orderID+"|"+email+"|"+link+"|"+ref)
	return nil
}

func (m *memMailer) kycRequests() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.kycRefs)
}

func (m *memMailer) SendVerification(_ context.Context, owner, account, email, ref string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refs = append(m.refs, owner+"|"+account+"|"+email+"|"+ref)
	return nil
}

// fakeLinks makes verification links as part V will (its token is not
// this package's business).
type fakeLinks struct{}

func (fakeLinks) VerifyEmailLink(owner, account, email string) (string, error) {
	return "https://shop.example/_gateway/verify-email?token=" + account, nil
}

// stack is the orders service as cmd/gateway wires it, on one Redis
// client: the real screener (velocity, blocklists), the real event outbox.
type stack struct {
	rdb    redis.UniversalClient
	svc    *Service
	relay  *Relay
	outbox *events.Outbox
	audit  *memAudit
	mailer *memMailer
	clock  *fakeclock.Clock
	mu     sync.Mutex
	// submitted counts submitApart's orders.
	submitted int
}

func (st *stack) now() time.Time          { return st.clock.Now() }
func (st *stack) advance(d time.Duration) { st.clock.Advance(d) }

// newStack builds a stack on rdb under prefix with the holds policy hc.
// consumer names it as a gateway process.
func newStack(t testing.TB, rdb redis.UniversalClient, prefix string, hc HoldsConfig, consumer string) *stack {
	t.Helper()
	cfg := screening.Config{HashKey: "0123456789abcdef0123456789abcdef", KeyPrefix: prefix,
		Velocity: velocity.Config{Timeout: 5 * time.Second, KeyPrefix: prefix + "v:"}}
	cfg.SetDefaults()
	h, err := ident.NewHasher([]byte(cfg.HashKey))
	if err != nil {
		t.Fatal(err)
	}
	counter, err := velocity.New(cfg.Velocity, rdb, h)
	if err != nil {
		t.Fatal(err)
	}
	blocks := blocklist.New(rdb, h, prefix+"bl:", ident.EmailProvider)
	screener, err := screening.New(cfg, screening.Deps{Locator: usLocator{}, Policy: noBlockedCountries{},
		Velocity: counter, Blocklist: blocks, Redis: rdb}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	hc.SetDefaults()
	policy, err := NewPolicy(hc)
	if err != nil {
		t.Fatal(err)
	}
	st := &stack{rdb: rdb, outbox: events.New(rdb, prefix+"events", 0), audit: &memAudit{}, mailer: &memMailer{},
		clock: fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))}
	st.svc, err = New(cfg, rdb, Deps{Screener: screener, Effects: ScoringEffects{Velocity: counter, Blocklist: blocks},
		Links: fakeLinks{}, KYCLinks: fakeKYCLinks{}, Policy: policy, PublicURL: "https://shop.example"}, st.now)
	if err != nil {
		t.Fatal(err)
	}
	st.relay, err = st.svc.NewRelay(RelayDeps{Outbox: st.outbox, Audit: st.audit, Mailer: st.mailer, KYCMailer: st.mailer, Consumer: consumer, ClaimAfter: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// published returns the types of the events in the shared outbox, per
// screening id (from the event data) or "" for others.
func (st *stack) published(t testing.TB) []events.Stored {
	t.Helper()
	var all []events.Stored
	from := ""
	for {
		got, err := st.outbox.Range(context.Background(), from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			return all
		}
		all = append(all, got...)
		from = got[len(got)-1].ID
	}
}

// drain runs the relay until nothing is pending.
func (st *stack) drain(t testing.TB) {
	t.Helper()
	for range 100 {
		n, err := st.relay.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("relay never drained")
}

func testOrder(id, account, email string) screening.Order {
	return screening.Order{
		OrderID:        id,
		Account:        screening.Account{ID: account, Email: email, Name: "Ann Lee", Phone: "+14155550100"},
		IP:             "198.51.100.7",
		UserAgent:      "Mozilla/5.0",
		AcceptLanguage: "en-US",
		Billing: screening.Billing{FirstName: "Ann", LastName: "Lee", Country: "US", Region: "CA",
			City: "San Francisco", Postal: "94107", Address: "1 Main St"},
		Payment:  screening.Payment{Processor: "stripe", Method: "card", CardBIN: "411111", CardLast4: "1111"},
		Amount:   "12.00",
		Currency: "USD",
		Items:    []screening.Item{{SKU: "vps-1", Category: "vps", Price: "12.00", Quantity: 1}},
	}
}

// submitApart submits testOrder(id, account, email) of owner with another
// IP, card and address than every earlier one of the stack: for tests
// about accounts and addresses, not the velocity rules.
func (st *stack) submitApart(t testing.TB, owner Owner, id, account, email string) Result {
	t.Helper()
	st.mu.Lock()
	st.submitted++
	n := st.submitted
	st.mu.Unlock()
	o := testOrder(id, account, email)
	o.IP = fmt.Sprintf("198.51.100.%d", n)
	o.Payment.CardLast4 = fmt.Sprintf("%04d", n)
	o.Billing.Address = fmt.Sprintf("%d Main St", n)
	res, err := st.svc.Submit(context.Background(), owner, o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// privateRedis starts a redis-server of the test's own, without
// persistence, and returns it with a client on it (closed at cleanup).
func privateRedis(t testing.TB) (*testenv.RedisProcess, *redis.Client) {
	t.Helper()
	srv := testenv.StartRedis(t, "--appendonly", "no", "--save", "")
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	return srv, rdb
}

// backends runs f on a standalone server and on the three-node Cluster,
// each with a client of its own per "process" (n of them).
func backends(t *testing.T, f func(t *testing.T, clients func() redis.UniversalClient, prefix string)) {
	t.Run("standalone", func(t *testing.T) {
		url := testenv.RedisURL(t)
		prefix := testenv.KeyPrefix(t)
		f(t, func() redis.UniversalClient {
			opts, err := redis.ParseURL(url)
			if err != nil {
				t.Fatal(err)
			}
			c := redis.NewClient(opts)
			t.Cleanup(func() { c.Close() })
			return c
		}, prefix)
	})
	t.Run("cluster", func(t *testing.T) {
		addrs := testenv.RedisClusterAddrs(t)
		_, prefix := testenv.RedisClusterClient(t)
		f(t, func() redis.UniversalClient {
			c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
			t.Cleanup(func() { c.Close() })
			return c
		}, prefix)
	})
}
