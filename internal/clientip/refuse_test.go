package clientip

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// TestResolveRefusesUnattributable covers the whole class of finding 5 of
// issue 7: from a trusted peer, every element the walk reaches that names
// no hop is refused, never answered with the trusted proxy's address. The
// value in every case holds 81.2.69.142 (GB) to the left, which the old
// walk skipped to answer with a trusted hop.
func TestResolveRefusesUnattributable(t *testing.T) {
	t.Parallel()
	xff := []struct{ name, value string }{
		{"trailing comma", "81.2.69.142,"},
		{"empty element between trusted hops", "81.2.69.142,,10.0.0.7"},
		{"only commas", ", ,"},
		{"garbage", "81.2.69.142, nonsense"},
		{"garbage behind a trusted hop", "81.2.69.142, nonsense, 10.0.0.7"},
		{"unknown", "81.2.69.142, unknown"},
		{"obfuscated identifier", "81.2.69.142, _hidden"},
		{"port not numeric", "81.2.69.142:http"},
		{"port too long", "81.2.69.142:123456"},
		{"port above 65535", "81.2.69.142:99999"},
		{"empty port", "81.2.69.142:"},
		{"IPv4 in brackets", "[81.2.69.142]"},
		{"leading zeros", "081.2.69.142"},
		{"quoted address", `"81.2.69.142"`},
		{"two addresses in one element", "81.2.69.142 10.0.0.7"},
		{"bad zone", "fe80::1%e/0"},
		{"host name", "81.2.69.142, proxy.example"},
	}
	fwd := []struct{ name, value string }{
		{"issue 7 reproduction: unterminated quote swallows the proxy's element", `for="x, for=198.51.100.7`},
		{"unterminated quote at the end", `for="81.2.69.142`},
		{"unterminated quote in a parameter", `for=81.2.69.142;host="shop`},
		{"trailing comma", `for=81.2.69.142,`},
		{"empty element", `for=81.2.69.142,, for=10.0.0.7`},
		{"unknown behind a trusted hop", `for=81.2.69.142, for=unknown, for=10.0.0.8`},
		{"unknown in capitals", `for=81.2.69.142, FOR=UNKNOWN`},
		{"obfuscated node", `for=81.2.69.142, for=_hidden`},
		{"obfuscated node quoted with port", `for=81.2.69.142, for="_hidden:80"`},
		{"element without for", `for=81.2.69.142, proto=https`},
		{"repeated for", `for=81.2.69.142;for=1.1.1.1`},
		{"repeated other parameter", `for=81.2.69.142;proto=http;Proto=https`},
		{"quoted-pair in for", `for="81.2.69.14\2"`},
		{"parameter without value", `for=81.2.69.142;by`},
		{"parameter without name", `for=81.2.69.142;=x`},
		{"space in a value", `for=81.2.69.142;by=a b`},
		{"space after =", `for= 81.2.69.142`},
		{"space before =", `for =81.2.69.142`},
		{"text after a quoted string", `for="81.2.69.142"x`},
		{"control character in a quoted string", "for=81.2.69.142;host=\"a\x01b\""},
		{"empty for", `for=""`},
		{"IPv4 in brackets", `for="[81.2.69.142]"`},
		{"port not numeric", `for="81.2.69.142:http"`},
		{"port above 65535", `for="[2001:db8::1]:65536"`},
		{"host name", `for=proxy.example`},
	}
	type tc struct {
		name, header, value string
		opts                []Option
		lines               []string
	}
	var cases []tc
	for _, c := range xff {
		cases = append(cases, tc{name: "X-Forwarded-For/" + c.name, header: "X-Forwarded-For", value: c.value})
		cases = append(cases, tc{name: "X-Forwarded-For pinned/" + c.name, header: "X-Forwarded-For", value: c.value, opts: []Option{WithHeader(HeaderXForwardedFor)}})
	}
	for _, c := range fwd {
		cases = append(cases, tc{name: "Forwarded/" + c.name, header: "Forwarded", value: c.value})
		cases = append(cases, tc{name: "Forwarded pinned/" + c.name, header: "Forwarded", value: c.value, opts: []Option{WithHeader(HeaderForwarded)}})
	}
	cases = append(cases,
		tc{name: "X-Forwarded-For/blank line after the list", header: "X-Forwarded-For", lines: []string{"81.2.69.142", ""}},
		tc{name: "Forwarded/blank line after the list", header: "Forwarded", lines: []string{"for=81.2.69.142", " "}},
	)
	r := func(opts []Option) *Resolver { return NewResolver(mustPrefixes(t, trustedSet...), opts...) }
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			lines := c.lines
			if lines == nil {
				lines = []string{c.value}
			}
			req := newReq("10.0.0.2:1", map[string][]string{c.header: lines})
			got, err := r(c.opts).Resolve(req)
			var ce *ChainError
			if !errors.As(err, &ce) || !errors.Is(err, ErrUnattributable) || got.IsValid() {
				t.Fatalf("Resolve(%s: %q) = %v, %v, want a *ChainError refusal", c.header, lines, got, err)
			}
			if ce.Header != c.header {
				t.Errorf("ChainError.Header = %q, want %q", ce.Header, c.header)
			}
			// The message is shown to the client and logged: it names the
			// problem, never an address from the header.
			if strings.Contains(err.Error(), "81.2.69.142") || strings.Contains(err.Error(), "10.0.0") {
				t.Errorf("error %q repeats the header's value", err)
			}
		})
	}
}

// TestResolveClientView: the scheme and host the trusted chain reports, and
// which header decided.
func TestResolveClientView(t *testing.T) {
	t.Parallel()
	gb := netip.MustParseAddr("81.2.69.142")
	tests := []struct {
		name   string
		remote string
		hdr    map[string][]string
		opts   []Option
		want   Client
	}{
		{name: "untrusted peer's X-Forwarded-Proto and Host are not believed", remote: "198.51.100.1:1",
			hdr:  map[string][]string{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"shop.example"}},
			want: Client{Addr: netip.MustParseAddr("198.51.100.1")}},
		{name: "XFF decides, X- headers give scheme and host", remote: "10.0.0.2:1",
			hdr:  map[string][]string{"X-Forwarded-For": {"81.2.69.142"}, "X-Forwarded-Proto": {"HTTPS"}, "X-Forwarded-Host": {"shop.example:8443"}},
			want: Client{Addr: gb, PeerTrusted: true, Header: HeaderXForwardedFor, Proto: "https", Host: "shop.example:8443"}},
		{name: "trusted peer without a chain: X- headers believed", remote: "10.0.0.2:1",
			hdr:  map[string][]string{"X-Forwarded-Proto": {"http"}, "X-Forwarded-Host": {"[2001:db8::1]:80"}},
			want: Client{Addr: netip.MustParseAddr("10.0.0.2"), PeerTrusted: true, Proto: "http", Host: "[2001:db8::1]:80"}},
		{name: "not plain values are dropped", remote: "10.0.0.2:1",
			hdr:  map[string][]string{"X-Forwarded-For": {"81.2.69.142"}, "X-Forwarded-Proto": {"https, http"}, "X-Forwarded-Host": {"evil.example/x?"}},
			want: Client{Addr: gb, PeerTrusted: true, Header: HeaderXForwardedFor}},
		{name: "two lines are two readings", remote: "10.0.0.2:1",
			hdr:  map[string][]string{"X-Forwarded-For": {"81.2.69.142"}, "X-Forwarded-Proto": {"https", "http"}, "X-Forwarded-Host": {"a.example", "b.example"}},
			want: Client{Addr: gb, PeerTrusted: true, Header: HeaderXForwardedFor}},
		{name: "Forwarded decides: the element that named the client", remote: "10.0.0.2:1",
			hdr: map[string][]string{
				"Forwarded":         {`for=6.6.6.6;proto=http;host=evil.example, for=81.2.69.142;proto=https;host="shop.example:8443", for=10.0.0.7;proto=http;host=lb.internal`},
				"X-Forwarded-Proto": {"http"}, "X-Forwarded-Host": {"evil.example"},
			},
			want: Client{Addr: gb, PeerTrusted: true, Header: HeaderForwarded, Proto: "https", Host: "shop.example:8443"}},
		{name: "Forwarded pinned, no chain: X- headers are the client's", remote: "10.0.0.2:1", opts: []Option{WithHeader(HeaderForwarded)},
			hdr:  map[string][]string{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil.example"}},
			want: Client{Addr: netip.MustParseAddr("10.0.0.2"), PeerTrusted: true}},
		{name: "Forwarded with a bad host", remote: "10.0.0.2:1",
			hdr:  map[string][]string{"Forwarded": {`for=81.2.69.142;proto=ftp;host="a@evil.example"`}},
			want: Client{Addr: gb, PeerTrusted: true, Header: HeaderForwarded}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := NewResolver(mustPrefixes(t, trustedSet...), tt.opts...).resolve(newReq(tt.remote, tt.hdr))
			if err != nil || got != tt.want {
				t.Errorf("resolve(%s, %v) = %+v, %v, want %+v", tt.remote, tt.hdr, got, err, tt.want)
			}
		})
	}
}

func TestIsForwardingHeader(t *testing.T) {
	t.Parallel()
	yes := []string{
		"X-Forwarded-For", "Forwarded", "X-Forwarded", "Forwarded-For", "X-Original-Forwarded-For",
		"X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Ssl",
		"X-Forwarded-Server", "X-Forwarded-Scheme", "X-Real-Ip", "True-Client-Ip", "Cf-Connecting-Ip",
		"Cf-Connecting-Ipv6", "Cf-Pseudo-Ipv4", "X-Client-Ip", "X-Cluster-Client-Ip", "Fastly-Client-Ip",
		"Client-Ip", "X-Proxyuser-Ip", "X-Originating-Ip", "X-Remote-Ip", "X-Remote-Addr", "X-Real-Client-Ip",
		"Incap-Client-Ip", "Wl-Proxy-Client-Ip", "Proxy-Client-Ip", "X-Appengine-User-Ip", "X-Sucuri-Clientip",
		"X-Azure-Clientip", "X-Azure-Socketip", "X-Envoy-External-Address", "X-Scheme", "X-Url-Scheme",
		"Front-End-Https", "X-Original-Host", "x-real-ip", "X-FORWARDED-FOR",
	}
	no := []string{"Accept", "Host", "X-Request-Id", "X-Client-Country", "X-Screening-Decision", "Content-Type", "Cookie", "Zip", "X-Tip"}
	checkPredicate(t, "IsForwardingHeader", IsForwardingHeader, yes, no)
}

// checkPredicate checks that f holds for every yes and for no no.
func checkPredicate(t *testing.T, name string, f func(string) bool, yes, no []string) {
	t.Helper()
	for want, list := range map[bool][]string{true: yes, false: no} {
		for _, s := range list {
			if got := f(s); got != want {
				t.Errorf("%s(%q) = %v, want %v", name, s, got, want)
			}
		}
	}
}

func TestPlainHost(t *testing.T) {
	t.Parallel()
	yes := []string{"shop.example", "SHOP.example.", "shop.example:8443", "192.0.2.1", "192.0.2.1:80", "[2001:db8::1]", "[2001:db8::1]:443", "localhost", "xn--bcher-kva.example"}
	no := []string{"", "shop.example:", "shop.example:99999", "shop.example:123456", "shop.example:x", "a,b", "a b", "a@b", "a/b", "a?b", "a#b",
		"a_b.example", `"a"`, "a;b", "[2001:db8::1", "[192.0.2.1]", "[fe80::1%eth0]", "[2001:db8::1]x", "[2001:db8::1]:", "2001:db8::1",
		".example", "-a.example", "a\\b", "a\x00b", strings.Repeat("a", 300)}
	checkPredicate(t, "PlainHost", PlainHost, yes, no)
}

func TestFormatForwarded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ip          string
		proto, host string
		want        string
	}{
		{"192.0.2.7", "https", "shop.example", "for=192.0.2.7;host=shop.example;proto=https"},
		{"192.0.2.7", "http", "shop.example:8080", `for=192.0.2.7;host="shop.example:8080";proto=http`},
		{"2001:db8::1", "https", "[2001:db8::2]:443", `for="[2001:db8::1]";host="[2001:db8::2]:443";proto=https`},
		{"2001:db8::1", "", "", `for="[2001:db8::1]"`},
		{"", "http", `a"b\`, `for=unknown;host="a\"b\\";proto=http`},
	}
	for _, tt := range tests {
		var ip netip.Addr
		if tt.ip != "" {
			ip = netip.MustParseAddr(tt.ip)
		}
		if got := FormatForwarded(ip, tt.proto, tt.host); got != tt.want {
			t.Errorf("FormatForwarded(%v, %q, %q) = %s, want %s", ip, tt.proto, tt.host, got, tt.want)
		}
	}
}

// TestResolveClientLinesNotRead: header lines are split one by one, and
// the client's own lines, left of the proxy's, are not read, so a broken
// quote there cannot swallow the proxy's element.
func TestResolveClientLinesNotRead(t *testing.T) {
	t.Parallel()
	r := NewResolver(mustPrefixes(t, trustedSet...))
	req := newReq("10.0.0.2:1", map[string][]string{"Forwarded": {`for="x`, `for=198.51.100.7`}})
	if got, err := r.Resolve(req); err != nil || got != netip.MustParseAddr("198.51.100.7") {
		t.Errorf("Resolve(client line, proxy line) = %v, %v, want 198.51.100.7", got, err)
	}
}
