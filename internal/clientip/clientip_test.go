package clientip

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustPrefixes(t testing.TB, list ...string) []netip.Prefix {
	t.Helper()
	p, err := ParsePrefixes(list)
	if err != nil {
		t.Fatalf("ParsePrefixes(%q): %v", list, err)
	}
	return p
}

// trustedSet is what the table tests trust: a private LAN, a proxy subnet in
// IPv6, loopback, and a single public proxy host.
var trustedSet = []string{"10.0.0.0/8", "fd00::/8", "127.0.0.1", "::1", "203.0.113.7"}

// refused as a wanted address: Resolve must refuse the request.
const refused = "refused"

func newReq(remote string, hdr map[string][]string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	for k, v := range hdr {
		r.Header[http.CanonicalHeaderKey(k)] = v
	}
	return r
}

func TestResolve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		remote string
		hdr    map[string][]string
		opts   []Option
		want   string // "" = invalid Addr
	}{
		{name: "untrusted peer, no headers", remote: "198.51.100.1:5555", want: "198.51.100.1"},
		{name: "spoofed XFF from untrusted peer is ignored", remote: "198.51.100.1:5555",
			hdr: map[string][]string{"X-Forwarded-For": {"89.160.20.112"}}, want: "198.51.100.1"},
		{name: "spoofed Forwarded from untrusted peer is ignored", remote: "198.51.100.1:5555",
			hdr: map[string][]string{"Forwarded": {"for=89.160.20.112"}}, want: "198.51.100.1"},
		{name: "spoofed X-Real-IP is never read", remote: "10.0.0.2:1",
			hdr: map[string][]string{"X-Real-Ip": {"89.160.20.112"}}, want: "10.0.0.2"},
		{name: "trusted peer without headers", remote: "10.0.0.2:1", want: "10.0.0.2"},
		{name: "trusted peer, one hop", remote: "10.0.0.2:1",
			hdr: map[string][]string{"X-Forwarded-For": {"81.2.69.142"}}, want: "81.2.69.142"},
		{name: "client-supplied left part is skipped", remote: "10.0.0.2:1",
			hdr: map[string][]string{"X-Forwarded-For": {"1.1.1.1, 81.2.69.142"}}, want: "81.2.69.142"},
		{name: "chain of trusted proxies", remote: "127.0.0.1:1",
			hdr: map[string][]string{"X-Forwarded-For": {"6.6.6.6, 81.2.69.142, 203.0.113.7, 10.1.2.3"}}, want: "81.2.69.142"},
		{name: "all hops trusted gives the leftmost", remote: "127.0.0.1:1",
			hdr: map[string][]string{"X-Forwarded-For": {"10.9.9.9,10.1.2.3"}}, want: "10.9.9.9"},
		{name: "several header lines are one list", remote: "10.0.0.2:1",
			hdr: map[string][]string{"X-Forwarded-For": {"6.6.6.6, 81.2.69.142", "10.0.0.5"}}, want: "81.2.69.142"},
		{name: "whitespace around elements", remote: "10.0.0.2:1",
			hdr: map[string][]string{"X-Forwarded-For": {"1.1.1.1,, \t81.2.69.142 , \t10.0.0.9 "}}, want: "81.2.69.142"},
		{name: "client's garbage left of the client is not read", remote: "10.0.0.2:1",
			hdr: map[string][]string{"X-Forwarded-For": {`x"y, unknown,,[, 81.2.69.142`}}, want: "81.2.69.142"},
		{name: "XFF with ports", remote: "10.0.0.2:1",
			hdr: map[string][]string{"X-Forwarded-For": {"81.2.69.142:4711, [fd00::1]:80"}}, want: "81.2.69.142"},
		{name: "XFF bracketed IPv6 with port", remote: "10.0.0.2:1",
			hdr: map[string][]string{"X-Forwarded-For": {"[2001:db8::1]:4711"}}, want: "2001:db8::1"},
		{name: "XFF bare IPv6", remote: "[::1]:443",
			hdr: map[string][]string{"X-Forwarded-For": {"2a02:cfc0::1"}}, want: "2a02:cfc0::1"},
		{name: "XFF IPv6 with zone loses the zone", remote: "10.0.0.2:1",
			hdr: map[string][]string{"X-Forwarded-For": {"fe80::1%eth0"}}, want: "fe80::1"},
		{name: "XFF IPv4-mapped is unmapped", remote: "10.0.0.2:1",
			hdr: map[string][]string{"X-Forwarded-For": {"::ffff:89.160.20.112"}}, want: "89.160.20.112"},
		{name: "peer IPv4-mapped trusted as IPv4", remote: "[::ffff:10.0.0.2]:1",
			hdr: map[string][]string{"X-Forwarded-For": {"81.2.69.142"}}, want: "81.2.69.142"},
		{name: "peer IPv4-mapped untrusted is unmapped", remote: "[::ffff:198.51.100.1]:1", want: "198.51.100.1"},
		{name: "trusted hop written IPv4-mapped is skipped", remote: "10.0.0.2:1",
			hdr: map[string][]string{"X-Forwarded-For": {"81.2.69.142, ::ffff:10.3.3.3"}}, want: "81.2.69.142"},
		{name: "peer with zone", remote: "[fe80::1%eth0]:1", want: "fe80::1"},
		{name: "peer without port", remote: "198.51.100.1", want: "198.51.100.1"},
		{name: "unix socket peer", remote: "@", want: refused},
		{name: "empty peer", remote: "", want: refused},
		{name: "XFF blank counts as absent", remote: "10.0.0.2:1",
			hdr: map[string][]string{"X-Forwarded-For": {" ", "\t"}}, want: "10.0.0.2"},

		{name: "Forwarded simple", remote: "10.0.0.2:1",
			hdr: map[string][]string{"Forwarded": {"for=81.2.69.142"}}, want: "81.2.69.142"},
		{name: "Forwarded quoted IPv6 with port", remote: "10.0.0.2:1",
			hdr: map[string][]string{"Forwarded": {`for="[2001:db8::1]:4711"`}}, want: "2001:db8::1"},
		{name: "Forwarded case-insensitive name, other params", remote: "10.0.0.2:1",
			hdr: map[string][]string{"Forwarded": {`proto=https; For="81.2.69.142:80";by=10.0.0.2;host="a,b;c"`}}, want: "81.2.69.142"},
		{name: "Forwarded list and chain", remote: "10.0.0.2:1",
			hdr: map[string][]string{"Forwarded": {`for=6.6.6.6, for=81.2.69.142;proto=http`, `for="[fd00::5]"`}}, want: "81.2.69.142"},
		{name: "Forwarded obfuscated port", remote: "10.0.0.2:1",
			hdr: map[string][]string{"Forwarded": {`for="81.2.69.142:_p1"`}}, want: "81.2.69.142"},
		{name: "Forwarded bare IPv6 and port, as for=$remote_addr writes them", remote: "10.0.0.2:1",
			hdr: map[string][]string{"Forwarded": {`for=[2001:db8::1]:80, for=2001:db8::2`}}, want: "2001:db8::2"},
		{name: "Forwarded empty pairs and OWS around pairs", remote: "10.0.0.2:1",
			hdr: map[string][]string{"Forwarded": {`;for=81.2.69.142 ; ;proto=http;`}}, want: "81.2.69.142"},
		{name: "Forwarded client's own broken elements are not read", remote: "10.0.0.2:1",
			hdr: map[string][]string{"Forwarded": {`for=unknown;for=x, by, for=81.2.69.142`}}, want: "81.2.69.142"},
		{name: "Forwarded blank counts as absent", remote: "10.0.0.2:1",
			hdr: map[string][]string{"Forwarded": {" "}}, want: "10.0.0.2"},
		{name: "Forwarded IPv4-mapped", remote: "10.0.0.2:1",
			hdr: map[string][]string{"Forwarded": {`for="[::ffff:89.160.20.112]"`}}, want: "89.160.20.112"},

		{name: "auto prefers XFF over Forwarded", remote: "10.0.0.2:1",
			hdr: map[string][]string{"X-Forwarded-For": {"81.2.69.142"}, "Forwarded": {"for=6.6.6.6"}}, want: "81.2.69.142"},
		{name: "auto falls back to Forwarded when XFF is blank", remote: "10.0.0.2:1",
			hdr: map[string][]string{"X-Forwarded-For": {" "}, "Forwarded": {"for=81.2.69.142"}}, want: "81.2.69.142"},
		{name: "pinned Forwarded ignores XFF", remote: "10.0.0.2:1", opts: []Option{WithHeader(HeaderForwarded)},
			hdr: map[string][]string{"X-Forwarded-For": {"6.6.6.6"}, "Forwarded": {"for=81.2.69.142"}}, want: "81.2.69.142"},
		{name: "pinned XFF ignores Forwarded", remote: "10.0.0.2:1", opts: []Option{WithHeader(HeaderXForwardedFor)},
			hdr: map[string][]string{"Forwarded": {"for=6.6.6.6"}}, want: "10.0.0.2"},
		{name: "pinned Forwarded refuses a broken Forwarded despite a good XFF", remote: "10.0.0.2:1", opts: []Option{WithHeader(HeaderForwarded)},
			hdr: map[string][]string{"X-Forwarded-For": {"81.2.69.142"}, "Forwarded": {`for="x, for=198.51.100.7`}}, want: refused},
		{name: "auto refuses a broken XFF rather than read Forwarded", remote: "10.0.0.2:1",
			hdr: map[string][]string{"X-Forwarded-For": {"81.2.69.142, nonsense"}, "Forwarded": {"for=81.2.69.142"}}, want: refused},
		{name: "untrusted peer's broken headers are ignored", remote: "198.51.100.1:1",
			hdr: map[string][]string{"X-Forwarded-For": {","}, "Forwarded": {`for="`}}, want: "198.51.100.1"},
	}
	r := func(opts []Option) *Resolver { return NewResolver(mustPrefixes(t, trustedSet...), opts...) }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := r(tt.opts).Resolve(newReq(tt.remote, tt.hdr))
			if tt.want == refused {
				if err == nil || !errors.Is(err, ErrUnattributable) || got.IsValid() {
					t.Errorf("Resolve(%s, %v) = %v, %v, want a refusal wrapping ErrUnattributable", tt.remote, tt.hdr, got, err)
				}
				return
			}
			var want netip.Addr
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if got != want || err != nil {
				t.Errorf("Resolve(%s, %v) = %v, %v, want %v", tt.remote, tt.hdr, got, err, want)
			}
		})
	}
}

func TestNewResolverTrust(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		trusted []string
		ip      string
		want    bool
	}{
		{"mapped prefix folds to IPv4", []string{"::ffff:10.0.0.0/104"}, "10.1.2.3", true},
		{"mapped prefix excludes others", []string{"::ffff:10.0.0.0/104"}, "11.1.2.3", false},
		{"mapped host", []string{"::ffff:192.0.2.1"}, "192.0.2.1", true},
		{"::/0 trusts IPv4 too", []string{"::/0"}, "198.51.100.1", true},
		{"2001:db8::/32 does not trust IPv4", []string{"2001:db8::/32"}, "198.51.100.1", false},
		{"IPv4 prefix trusts mapped form", []string{"10.0.0.0/8"}, "::ffff:10.0.0.1", true},
		{"host bits masked", []string{"10.0.0.1/8"}, "10.200.0.1", true},
		{"no trust", nil, "10.0.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := NewResolver(mustPrefixes(t, tt.trusted...))
			if got := r.Trusted(netip.MustParseAddr(tt.ip)); got != tt.want {
				t.Errorf("Trusted(%s) with %q = %v, want %v", tt.ip, tt.trusted, got, tt.want)
			}
		})
	}
}

func TestParsePrefixes(t *testing.T) {
	t.Parallel()
	got, err := ParsePrefixes([]string{"10.0.0.0/8", " 192.0.2.1 ", "::1", "2001:db8::/32", "10.0.0.1/8"})
	if err != nil {
		t.Fatalf("ParsePrefixes: %v", err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.1/32"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("10.0.0.0/8"),
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("ParsePrefixes mismatch (-want +got):\n%s", diff)
	}

	_, err = ParsePrefixes([]string{"10.0.0.0/8", "10.0.0.0/33", "bogus", "", "fe80::1%eth0", "1.2.3.4"})
	if err == nil {
		t.Fatal("ParsePrefixes(bad entries) = nil error")
	}
	for _, bad := range []string{`"10.0.0.0/33"`, `"bogus"`, `""`, `"fe80::1%eth0"`} {
		if !strings.Contains(err.Error(), bad) {
			t.Errorf("ParsePrefixes error %q does not name entry %s", err, bad)
		}
	}
	if strings.Contains(err.Error(), `"1.2.3.4"`) {
		t.Errorf("ParsePrefixes error %q names a good entry", err)
	}
}

func TestParseHeader(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Header{"": HeaderAuto, "auto": HeaderAuto, "X-Forwarded-For": HeaderXForwardedFor, "forwarded": HeaderForwarded} {
		got, err := ParseHeader(in)
		if err != nil || got != want {
			t.Errorf("ParseHeader(%q) = %v, %v, want %v", in, got, err, want)
		}
	}
	if _, err := ParseHeader("x-real-ip"); err == nil {
		t.Error("ParseHeader(x-real-ip) = nil error")
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	hdrs := map[string][]string{
		"X-Forwarded-For":   {"81.2.69.142"},
		"Forwarded":         {"for=6.6.6.6"},
		"X-Real-Ip":         {"6.6.6.6"},
		"True-Client-Ip":    {"6.6.6.6"},
		"X-Forwarded-Host":  {"shop.example"},
		"X-Forwarded-Proto": {"https"},
		"Accept":            {"text/html"},
	}
	tests := []struct {
		name       string
		remote     string
		hdr        map[string][]string
		want       Client
		wantRefuse bool
	}{
		{name: "untrusted peer", remote: "198.51.100.1:1", hdr: hdrs,
			want: Client{Addr: netip.MustParseAddr("198.51.100.1")}},
		{name: "trusted peer", remote: "10.0.0.2:1", hdr: hdrs,
			want: Client{Addr: netip.MustParseAddr("81.2.69.142"), PeerTrusted: true, Header: HeaderXForwardedFor, Proto: "https", Host: "shop.example"}},
		{name: "trusted peer, unattributable chain", remote: "10.0.0.2:1", wantRefuse: true,
			hdr: map[string][]string{"X-Forwarded-For": {"81.2.69.142, unknown"}, "X-Real-Ip": {"6.6.6.6"}, "Accept": {"text/html"}}},
	}
	r := NewResolver(mustPrefixes(t, trustedSet...))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var (
				got        Client
				gotOK      bool
				refusedErr error
				gotKeys    []string
			)
			next := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				got, gotOK = ClientFromContext(req.Context())
				for k := range req.Header {
					gotKeys = append(gotKeys, k)
				}
			})
			refuse := func(w http.ResponseWriter, req *http.Request, err error) {
				refusedErr = err
				for k := range req.Header {
					gotKeys = append(gotKeys, k)
				}
			}
			r.Middleware(next, refuse).ServeHTTP(httptest.NewRecorder(), newReq(tt.remote, tt.hdr))
			if tt.wantRefuse {
				if !errors.Is(refusedErr, ErrUnattributable) || gotOK {
					t.Errorf("Middleware: refused with %v, next ran: %v; want a refusal only", refusedErr, gotOK)
				}
			} else if refusedErr != nil || !gotOK || got != tt.want {
				t.Errorf("Middleware: client %+v, %v (refused: %v), want %+v", got, gotOK, refusedErr, tt.want)
			}
			// Whoever sent them, no claim about the client survives: what
			// the resolver believed is in the context.
			if diff := cmp.Diff([]string{"Accept"}, gotKeys); diff != "" {
				t.Errorf("headers after Middleware (-want +got):\n%s", diff)
			}
		})
	}

	// Without a refuse function, the refusal is a plain 400.
	rec := httptest.NewRecorder()
	r.Middleware(http.NotFoundHandler(), nil).ServeHTTP(rec, newReq("10.0.0.2:1", map[string][]string{"X-Forwarded-For": {","}}))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("Middleware(nil refuse) status = %d, want 400", rec.Code)
	}
}

func TestContext(t *testing.T) {
	t.Parallel()
	if ip, ok := FromContext(context.Background()); ok {
		t.Errorf("FromContext(empty) = %v, true", ip)
	}
	if ip, ok := FromContext(NewContext(context.Background(), netip.Addr{})); ok {
		t.Errorf("FromContext(invalid) = %v, true", ip)
	}
	want := netip.MustParseAddr("2001:db8::1")
	if ip, ok := FromContext(NewContext(context.Background(), want)); !ok || ip != want {
		t.Errorf("FromContext = %v, %v, want %v, true", ip, ok, want)
	}
}

func TestResolveDoesNotAllocate(t *testing.T) {
	r := NewResolver(mustPrefixes(t, trustedSet...))
	reqs := []*http.Request{
		newReq("10.0.0.2:1", map[string][]string{"X-Forwarded-For": {"6.6.6.6, 81.2.69.142, 10.1.2.3"}}),
		newReq("[::1]:1", map[string][]string{"X-Forwarded-For": {"[2001:db8::1]:4711, fd00::1"}}),
		newReq("10.0.0.2:1", map[string][]string{"Forwarded": {`for=6.6.6.6, for="[2001:db8::1]:4711";proto=https`}}),
		newReq("198.51.100.1:5555", nil),
		newReq("10.0.0.2:1", map[string][]string{"X-Forwarded-For": {"81.2.69.142"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"shop.example:8443"}}),
		newReq("10.0.0.2:1", map[string][]string{"Forwarded": {`for=81.2.69.142;proto=https;host="shop.example:8443", for=10.0.0.7;by=10.0.0.2`}}),
	}
	for _, req := range reqs {
		if n := testing.AllocsPerRun(100, func() { _, _ = r.Resolve(req) }); n != 0 {
			t.Errorf("Resolve(%s %v) allocates %v times, want 0", req.RemoteAddr, req.Header, n)
		}
	}
}

func BenchmarkResolve(b *testing.B) {
	r := NewResolver(mustPrefixes(b, trustedSet...))
	req := newReq("10.0.0.2:1", map[string][]string{"X-Forwarded-For": {"6.6.6.6, 81.2.69.142, 10.1.2.3"}})
	b.ReportAllocs()
	for b.Loop() {
		r.Resolve(req)
	}
}

func BenchmarkResolveForwarded(b *testing.B) {
	r := NewResolver(mustPrefixes(b, trustedSet...))
	req := newReq("10.0.0.2:1", map[string][]string{"Forwarded": {`for=6.6.6.6, for="[2001:db8::1]:4711";proto=https, for=10.1.2.3`}})
	b.ReportAllocs()
	for b.Loop() {
		r.Resolve(req)
	}
}

func BenchmarkResolveUntrustedPeer(b *testing.B) {
	r := NewResolver(mustPrefixes(b, trustedSet...))
	req := newReq("198.51.100.1:5555", map[string][]string{"X-Forwarded-For": {"6.6.6.6"}})
	b.ReportAllocs()
	for b.Loop() {
		r.Resolve(req)
	}
}
