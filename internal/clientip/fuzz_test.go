package clientip

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// candidates is an independent, deliberately naive oracle: every address
// that can be read out of s by cutting it at every separator the two header
// grammars use, optionally dropping a ":port" suffix. Resolve must never
// answer with anything outside this set.
func candidates(s string, into map[netip.Addr]bool) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return strings.ContainsRune(",;=\"[] \t\n", r)
	})
	for _, f := range fields {
		try := []string{f}
		if i := strings.LastIndexByte(f, ':'); i >= 0 {
			try = append(try, f[:i])
		}
		for _, c := range try {
			if a, err := netip.ParseAddr(c); err == nil {
				into[a.Unmap().WithZone("")] = true
			}
		}
	}
}

func FuzzResolve(f *testing.F) {
	seeds := []struct{ remote, xff, fwd string }{
		{"10.0.0.2:1", "6.6.6.6, 81.2.69.142, 10.1.2.3", ""},
		{"[::1]:443", "[2001:db8::1]:4711, fd00::1", ""},
		{"10.0.0.2:1", "", `for=6.6.6.6, for="[2001:db8::1]:4711";proto=https`},
		{"10.0.0.2:1", "", `for=unknown, for=_hidden;by="a,b"`},
		{"[::ffff:10.0.0.2]:1", "::ffff:89.160.20.112", `For="[fe80::1%25eth0]"`},
		{"198.51.100.1:5555", "1.2.3.4", "for=1.2.3.4"},
		{"@", "", ""},
		{"10.0.0.2:1", "\x00\xff,,,[", `for="`},
	}
	for _, s := range seeds {
		f.Add(s.remote, s.xff, s.fwd, uint8(0))
	}
	prefixes := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("fd00::/8"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("127.0.0.0/8"),
	}
	resolvers := []*Resolver{
		NewResolver(prefixes),
		NewResolver(prefixes, WithHeader(HeaderXForwardedFor)),
		NewResolver(prefixes, WithHeader(HeaderForwarded)),
		NewResolver([]netip.Prefix{netip.MustParsePrefix("::/0")}), // trust everyone
	}
	f.Fuzz(func(t *testing.T, remote, xff, fwd string, which uint8) {
		r := resolvers[int(which)%len(resolvers)]
		req := &http.Request{RemoteAddr: remote, Header: http.Header{}}
		// Several lines per header: split on newline as a client would send them.
		if xff != "" {
			req.Header["X-Forwarded-For"] = strings.Split(xff, "\n")
		}
		if fwd != "" {
			req.Header["Forwarded"] = strings.Split(fwd, "\n")
		}
		got, err := r.Resolve(req)
		if err != nil && (got.IsValid() || !errors.Is(err, ErrUnattributable)) {
			t.Fatalf("Resolve = %v, %v: a refusal must wrap ErrUnattributable and give no address", got, err)
		}
		peer, ok := parseNode(remote, false)
		if !ok {
			if err == nil {
				t.Fatalf("Resolve(%q) = %v, nil for a peer that is no address, want a refusal", remote, got)
			}
			return
		}
		if got.IsValid() && (got.Is4In6() || got.Zone() != "") {
			t.Fatalf("Resolve = %v, want unmapped and zone-free", got)
		}
		if !r.Trusted(peer) {
			if got != peer || err != nil {
				t.Fatalf("Resolve with untrusted peer %q = %v, %v, want the peer", remote, got, err)
			}
			return
		}
		// The header the resolver walks: pinned, or in auto mode
		// X-Forwarded-For when it has content, else Forwarded.
		walked := r.header
		if walked == HeaderAuto {
			walked = HeaderForwarded
			if hasContent(req.Header["X-Forwarded-For"]) {
				walked = HeaderXForwardedFor
			}
		}
		value := fwd
		if walked == HeaderXForwardedFor {
			value = xff
		}
		if !hasContent(strings.Split(value, "\n")) {
			if got != peer || err != nil {
				t.Fatalf("Resolve(%q, no walked header) = %v, %v, want the peer", remote, got, err)
			}
			return
		}
		// A header was present: a refusal, or an address written in that
		// header, never the trusted peer's address taken from RemoteAddr.
		if err != nil {
			return
		}
		seen := map[netip.Addr]bool{}
		candidates(value, seen)
		if !seen[got] {
			t.Fatalf("Resolve(%q, xff %q, fwd %q) = %v, which is not in the walked header", remote, xff, fwd, got)
		}
	})
}

func FuzzParseElement(f *testing.F) {
	for _, s := range []string{
		`for=192.0.2.60;proto=http;by=203.0.113.43`,
		`for="[2001:db8:cafe::17]:4711"`,
		`for=unknown`, `for="_gazonk"`, `For="[2001:db8::1]";for=1.2.3.4`,
		`for=""`, `for="[::1]:_x"`, `=;;;=`, `for="\"`, `for=1.2.3.4;host="a\"b";proto=HTTPS`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, elem string) {
		e, reason := parseElement(elem)
		if reason != "" {
			if e.addr.IsValid() {
				t.Fatalf("parseElement(%q) = %v, %q: want zero element on failure", elem, e.addr, reason)
			}
			return
		}
		seen := map[netip.Addr]bool{}
		candidates(elem, seen)
		if !seen[e.addr] {
			t.Fatalf("parseElement(%q) = %v, not in the input", elem, e.addr)
		}
		// What the gateway writes from it reads back the same.
		host := ""
		if PlainHost(e.host) {
			host = e.host
		}
		out := FormatForwarded(e.addr, PlainProto(e.proto), host)
		back, reason := parseElement(out)
		if reason != "" || back.addr != e.addr || back.host != host || back.proto != PlainProto(e.proto) {
			t.Fatalf("parseElement(FormatForwarded(%v, %q, %q) = %s) = %+v, %q", e.addr, PlainProto(e.proto), host, out, back, reason)
		}
	})
}

// FuzzFormatForwarded: whatever host and proto it is given, the element the
// gateway writes is one element naming exactly the client it decided on;
// plain values read back unchanged.
func FuzzFormatForwarded(f *testing.F) {
	f.Add([]byte{192, 0, 2, 7}, "https", "shop.example:8443")
	f.Add(netip.MustParseAddr("2001:db8::1").AsSlice(), "http", "[2001:db8::2]:80")
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4}, `"`, `a", for=6.6.6.6;x="`)
	f.Fuzz(func(t *testing.T, b []byte, proto, host string) {
		ip, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		for _, s := range []string{proto, host} {
			if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
				return // not a header value; net/http refuses it
			}
		}
		out := FormatForwarded(ip, proto, host)
		bounds, ok := splitQuoted(out, ',', nil)
		if !ok || len(bounds) != 2 {
			t.Fatalf("FormatForwarded(%v, %q, %q) = %s: not exactly one element", ip, proto, host, out)
		}
		e, reason := parseElement(out)
		if reason != "" || e.addr != ip.Unmap() {
			t.Fatalf("parseElement(FormatForwarded(%v, %q, %q) = %s) = %v, %q", ip, proto, host, out, e.addr, reason)
		}
		if PlainHost(host) && e.host != host {
			t.Fatalf("FormatForwarded host %q read back as %q", host, e.host)
		}
		if p := PlainProto(proto); p != "" && PlainProto(e.proto) != p {
			t.Fatalf("FormatForwarded proto %q read back as %q", proto, e.proto)
		}
	})
}

// FuzzPlainHost: what PlainHost accepts, net/url reads as exactly that host,
// with no user info, path, query or list separator in it.
func FuzzPlainHost(f *testing.F) {
	for _, s := range []string{"shop.example", "shop.example:8443", "[2001:db8::1]:443", "192.0.2.1", "a@b", "a,b", "[::1", "x:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if !PlainHost(h) {
			return
		}
		u, err := url.Parse("http://" + h + "/p")
		if err != nil || u.Host != h || u.User != nil || u.Path != "/p" || u.RawQuery != "" {
			t.Fatalf("PlainHost(%q) = true, but url.Parse reads %+v, %v", h, u, err)
		}
		if strings.ContainsAny(h, ",;\"\\ \t@/?#_") {
			t.Fatalf("PlainHost(%q) = true for a value with a separator", h)
		}
	})
}

func FuzzParseNode(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "1.2.3.4:80", "[::1]:80", "::1", "[1.2.3.4]", "fe80::1%eth0", "[::1]:_p", "[", "1.2.3.4:"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, obf bool) {
		ip, ok := parseNode(s, obf)
		if !ok {
			return
		}
		seen := map[netip.Addr]bool{}
		candidates(s, seen)
		if !seen[ip] {
			t.Fatalf("parseNode(%q) = %v, not in the input", s, ip)
		}
		// What parses with a strict port must also parse when obfuscated
		// ports are allowed, to the same address.
		if !obf {
			if ip2, ok2 := parseNode(s, true); !ok2 || ip2 != ip {
				t.Fatalf("parseNode(%q, true) = %v, %v; strict gave %v", s, ip2, ok2, ip)
			}
		}
	})
}

// refNode is an independent reading of one X-Forwarded-For element by
// net/netip alone: "addr", "addr:port" or "[v6addr]:port" (ParseAddrPort,
// with a port of at most five digits), "[v6addr]", with a zone only of
// interface-name characters.
func refNode(e string) (netip.Addr, bool) {
	var a netip.Addr
	if ap, err := netip.ParseAddrPort(e); err == nil {
		if len(e)-strings.LastIndexByte(e, ':')-1 > 5 {
			return netip.Addr{}, false // the documented rule: at most five digits
		}
		a = ap.Addr()
	} else if b, err := netip.ParseAddr(e); err == nil {
		a = b
	} else if len(e) > 2 && e[0] == '[' && e[len(e)-1] == ']' {
		b, err := netip.ParseAddr(e[1 : len(e)-1])
		if err != nil || !b.Is6() {
			return netip.Addr{}, false
		}
		a = b
	} else {
		return netip.Addr{}, false
	}
	if strings.Trim(a.Zone(), "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// FuzzXFFReference compares the X-Forwarded-For walk with a plain reference
// implementation of the documented rule: the lines joined into one list,
// walked from the right past trusted hops; an empty or unparsable element
// reached is a refusal.
func FuzzXFFReference(f *testing.F) {
	for _, s := range []string{
		"6.6.6.6, 81.2.69.142, 10.1.2.3", "[2001:db8::1]:4711, fd00::1", "81.2.69.142:99999",
		"81.2.69.142,\n10.0.0.1", "x, 10.0.0.1", ",", "fe80::1%eth0", "[::ffff:1.2.3.4]:80", "1.2.3.4:0080",
	} {
		f.Add(s)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	r := NewResolver(trusted, WithHeader(HeaderXForwardedFor))
	f.Fuzz(func(t *testing.T, xff string) {
		lines := strings.Split(xff, "\n")
		if !hasContent(lines) {
			return
		}
		var want netip.Addr
		refused := false
		elems := strings.Split(strings.Join(lines, ","), ",")
		for i := len(elems) - 1; i >= 0; i-- {
			a, ok := refNode(strings.Trim(elems[i], " \t"))
			if !ok {
				refused = true
				break
			}
			want = a
			if !r.Trusted(a) {
				break
			}
		}
		got, err := r.Resolve(&http.Request{RemoteAddr: "10.0.0.2:1", Header: http.Header{"X-Forwarded-For": lines}})
		if refused != (err != nil) || !refused && got != want {
			t.Fatalf("Resolve(xff %q) = %v, %v; reference: %v, refused %v", lines, got, err, want, refused)
		}
	})
}
