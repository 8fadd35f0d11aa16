package clientip

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// candidates is an independent, deliberately naive oracle: every address
// that can be read out of s by cutting it at every separator the two header
// grammars use, optionally dropping a ":port" suffix. Resolve must never
// answer with anything outside this set.
func candidates(s string, into map[netip.Addr]bool) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return strings.ContainsRune(",;=\"[] \t", r)
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
		got := r.Resolve(req)
		if !got.IsValid() {
			if _, ok := parseNode(remote, false); ok {
				t.Fatalf("Resolve(%q) = invalid for a parsable peer", remote)
			}
			return
		}
		if got.Is4In6() || got.Zone() != "" {
			t.Fatalf("Resolve = %v, want unmapped and zone-free", got)
		}
		peer, _ := parseNode(remote, false)
		if !r.Trusted(peer) {
			if got != peer {
				t.Fatalf("Resolve with untrusted peer %q = %v, want the peer", remote, got)
			}
			return
		}
		seen := map[netip.Addr]bool{}
		candidates(remote, seen)
		candidates(xff, seen)
		candidates(fwd, seen)
		if !seen[got] {
			t.Fatalf("Resolve(%q, xff %q, fwd %q) = %v, which is not in the input", remote, xff, fwd, got)
		}
	})
}

func FuzzForwardedFor(f *testing.F) {
	for _, s := range []string{
		`for=192.0.2.60;proto=http;by=203.0.113.43`,
		`for="[2001:db8:cafe::17]:4711"`,
		`for=unknown`, `for="_gazonk"`, `For="[2001:db8::1]";for=1.2.3.4`,
		`for=""`, `for="[::1]:_x"`, `=;;;=`, `for="\"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, elem string) {
		ip, ok := forwardedFor(elem)
		if !ok {
			if ip.IsValid() {
				t.Fatalf("forwardedFor(%q) = %v, false: want zero Addr on failure", elem, ip)
			}
			return
		}
		seen := map[netip.Addr]bool{}
		candidates(elem, seen)
		if !seen[ip] {
			t.Fatalf("forwardedFor(%q) = %v, not in the input", elem, ip)
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
