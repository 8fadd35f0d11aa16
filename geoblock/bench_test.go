package geoblock

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/vpsgate/gateway/internal/clientip"
	"github.com/vpsgate/gateway/internal/testenv"
)

// BenchmarkDecision measures one request's geo decision: resolve the client
// IP behind a trusted proxy (X-Forwarded-For), look up its country, apply the
// policy. Target: <= 1 us/op and <= 1 alloc/op. The geo-whois cases read
// the real 8 MB database kept outside the repository, as benchmarks alone
// may (testenv.SharedTestdata: skipped loudly when it is not there).
func BenchmarkDecision(b *testing.B) {
	trusted, err := clientip.ParsePrefixes([]string{"10.0.0.0/8", "fd00::/8"})
	if err != nil {
		b.Fatal(err)
	}
	res := clientip.NewResolver(trusted)
	cases := []struct {
		name, db, remote, xff string
	}{
		{"GeoIP2-Country/IPv4", geoIP2Country, "10.0.0.2:4711", "203.0.113.9, 89.160.20.112"},
		{"GeoIP2-Country/IPv6", geoIP2Country, "[fd00::2]:4711", "2001:db8::9, 2a02:cfc0::1"},
		{"geo-whois/IPv4", "", "10.0.0.2:4711", "203.0.113.9, 89.160.20.112"},
		{"geo-whois/IPv6", "", "[fd00::2]:4711", "2001:db8::9, 2a02:cfc0::1"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if c.db == "" {
				// The real 1M-network database measures lookups at real
				// depth; it lives outside the repository.
				c.db = testenv.SharedTestdata(b, "geo/geo-whois-asn-country.mmdb")
			}
			db := openDB(b, GeoIPConfig{CountryDB: c.db})
			bl := newBlocker(b, Config{ExemptPaths: []string{"/healthz", "/_gateway/"}}, db, nil, nil)
			req := httptest.NewRequest(http.MethodGet, "/cart", nil)
			req.RemoteAddr = c.remote
			req.Header.Set("X-Forwarded-For", c.xff)
			ip, err := res.Resolve(req)
			if err != nil {
				b.Fatal(err)
			}
			if d := bl.Decide(ip, req.URL.Path); d.Country == "" {
				b.Fatalf("Decide(%v) = %+v: no country, the benchmark would not measure a lookup", ip, d)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				ip, _ := res.Resolve(req)
				d := bl.Decide(ip, req.URL.Path)
				if !d.Block {
					b.Fatal("not blocked")
				}
			}
		})
	}
}

// TestDecisionAllocs keeps the benchmark's allocation budget in the test
// suite: at most one allocation per decision.
func TestDecisionAllocs(t *testing.T) {
	trusted, _ := clientip.ParsePrefixes([]string{"10.0.0.0/8"})
	res := clientip.NewResolver(trusted)
	for _, dbPath := range []string{geoIP2Country, geoWhoisDB(t)} {
		db := openDB(t, GeoIPConfig{CountryDB: dbPath})
		bl := newBlocker(t, Config{}, db, nil, nil)
		req := httptest.NewRequest(http.MethodGet, "/cart", nil)
		req.RemoteAddr = "10.0.0.2:1"
		req.Header.Set("X-Forwarded-For", "89.160.20.112")
		bl.Decide(netip.MustParseAddr("89.160.20.112"), "/") // warm the string cache
		if n := testing.AllocsPerRun(200, func() {
			ip, _ := res.Resolve(req)
			bl.Decide(ip, req.URL.Path)
		}); n > 1 {
			t.Errorf("%s: decision allocates %v times, want <= 1", dbPath, n)
		}
	}
}
