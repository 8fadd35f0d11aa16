package clientip

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Header selects which forwarding header a Resolver trusts behind a trusted
// proxy. See the package documentation for why the default is HeaderAuto.
type Header int

const (
	// HeaderAuto walks X-Forwarded-For when present, else Forwarded.
	HeaderAuto Header = iota
	// HeaderXForwardedFor walks X-Forwarded-For only.
	HeaderXForwardedFor
	// HeaderForwarded walks RFC 7239 Forwarded only.
	HeaderForwarded
)

// ParseHeader maps a configuration value ("auto", "x-forwarded-for",
// "forwarded"; empty means auto) to a Header.
func ParseHeader(s string) (Header, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return HeaderAuto, nil
	case "x-forwarded-for", "xff":
		return HeaderXForwardedFor, nil
	case "forwarded":
		return HeaderForwarded, nil
	}
	return HeaderAuto, fmt.Errorf("unknown forwarding header %q: want auto, x-forwarded-for or forwarded", s)
}

// Option configures a Resolver.
type Option func(*Resolver)

// WithHeader pins the forwarding header a Resolver walks.
func WithHeader(h Header) Option {
	return func(r *Resolver) { r.header = h }
}

// Resolver finds the client address of a request. It is safe for concurrent
// use and does not allocate on the Resolve path for ordinary headers.
type Resolver struct {
	trusted []netip.Prefix
	header  Header
}

// NewResolver returns a Resolver that trusts forwarding headers only from
// peers inside trusted. IPv4-mapped IPv6 prefixes (::ffff:10.0.0.0/104) are
// folded to their IPv4 form because addresses are compared unmapped.
func NewResolver(trusted []netip.Prefix, opts ...Option) *Resolver {
	r := &Resolver{trusted: make([]netip.Prefix, 0, len(trusted))}
	mapped := netip.PrefixFrom(netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff}), 96)
	for _, p := range trusted {
		if !p.IsValid() {
			continue
		}
		p = netip.PrefixFrom(p.Addr().WithZone(""), p.Bits()).Masked()
		switch {
		case p.Addr().Is4In6() && p.Bits() >= 96:
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		case p.Addr().Is6() && p.Overlaps(mapped):
			// A short IPv6 prefix covering the whole mapped range (::/0,
			// ::ffff:0:0/80) also trusts every IPv4 address it maps.
			r.trusted = append(r.trusted, netip.PrefixFrom(netip.IPv4Unspecified(), 0))
		}
		r.trusted = append(r.trusted, p)
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// ParsePrefixes parses trusted proxy entries: CIDRs ("10.0.0.0/8",
// "2001:db8::/32") and bare addresses ("192.0.2.1", "::1"), which stand for
// a single host. Host bits in a CIDR are ignored ("10.0.0.1/8" is
// 10.0.0.0/8). Every bad entry is reported, each error naming it.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	var errs []error
	for _, raw := range list {
		s := strings.TrimSpace(raw)
		if s == "" {
			errs = append(errs, fmt.Errorf("entry %q: empty", raw))
			continue
		}
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("entry %q: not a CIDR: %w", raw, err))
				continue
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %q: not an IP address or CIDR: %w", raw, err))
			continue
		}
		if a.Zone() != "" {
			errs = append(errs, fmt.Errorf("entry %q: zone not allowed", raw))
			continue
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Trusted reports whether ip is inside one of the trusted proxy prefixes.
func (r *Resolver) Trusted(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range r.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Resolve returns the client address of req: the socket peer unless it is a
// trusted proxy, else the first untrusted hop in the forwarding header walked
// from the right. The result is unmapped and has no zone. It is the invalid
// netip.Addr only when RemoteAddr itself is not an address (a Unix socket).
func (r *Resolver) Resolve(req *http.Request) netip.Addr {
	ip, _ := r.resolve(req)
	return ip
}

// resolve also reports whether the socket peer is trusted.
func (r *Resolver) resolve(req *http.Request) (netip.Addr, bool) {
	peer, ok := parseNode(req.RemoteAddr, false)
	if !ok {
		return netip.Addr{}, false
	}
	if !r.Trusted(peer) {
		return peer, false
	}
	switch r.header {
	case HeaderForwarded:
		return r.walkForwarded(req.Header["Forwarded"], peer), true
	case HeaderXForwardedFor:
		return r.walkXFF(req.Header["X-Forwarded-For"], peer), true
	}
	if xff := req.Header["X-Forwarded-For"]; hasContent(xff) {
		return r.walkXFF(xff, peer), true
	}
	return r.walkForwarded(req.Header["Forwarded"], peer), true
}

// strippedHeaders are forwarding headers an untrusted peer must not be able
// to smuggle to anything behind the gateway.
var strippedHeaders = [...]string{
	"X-Forwarded-For",
	"Forwarded",
	"X-Real-Ip",
	"X-Forwarded-Host",
	"X-Forwarded-Proto",
}

// Middleware resolves the client address, stores it in the request context
// (see FromContext) and, for requests whose socket peer is not trusted,
// removes X-Forwarded-For, Forwarded, X-Real-IP, X-Forwarded-Host and
// X-Forwarded-Proto so that no later handler or upstream can be fooled by
// them.
func (r *Resolver) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ip, peerTrusted := r.resolve(req)
		if !peerTrusted {
			for _, h := range strippedHeaders {
				delete(req.Header, h)
			}
		}
		next.ServeHTTP(w, req.WithContext(NewContext(req.Context(), ip)))
	})
}

type ctxKey struct{}

// NewContext returns a copy of ctx carrying ip as the client address.
func NewContext(ctx context.Context, ip netip.Addr) context.Context {
	return context.WithValue(ctx, ctxKey{}, ip)
}

// FromContext returns the client address stored by NewContext (or
// Middleware). ok is false when none was stored or the stored one is invalid.
func FromContext(ctx context.Context) (ip netip.Addr, ok bool) {
	ip, ok = ctx.Value(ctxKey{}).(netip.Addr)
	return ip, ok && ip.IsValid()
}

func hasContent(lines []string) bool {
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			return true
		}
	}
	return false
}

// walkXFF walks X-Forwarded-For lines, last line first, each comma list from
// the right. last is the nearest good hop (initially the socket peer).
func (r *Resolver) walkXFF(lines []string, last netip.Addr) netip.Addr {
	for i := len(lines) - 1; i >= 0; i-- {
		s := lines[i]
		end := len(s)
		for end >= 0 {
			start := strings.LastIndexByte(s[:end], ',') + 1
			elem := trimOWS(s[start:end])
			end = start - 1
			if elem == "" {
				continue // empty list elements are allowed by RFC 9110 list syntax
			}
			ip, ok := parseNode(elem, false)
			if !ok {
				return last
			}
			if !r.Trusted(ip) {
				return ip
			}
			last = ip
		}
	}
	return last
}

// maxStackElems bounds the per-line element index kept on the stack; longer
// lines still work, they just spill to the heap.
const maxStackElems = 16

// walkForwarded walks RFC 7239 Forwarded lines, last line first, each
// element list from the right. Commas inside quoted strings do not split.
func (r *Resolver) walkForwarded(lines []string, last netip.Addr) netip.Addr {
	var buf [maxStackElems * 2]int
	for i := len(lines) - 1; i >= 0; i-- {
		s := lines[i]
		bounds, ok := splitQuoted(s, ',', buf[:0])
		if !ok {
			return last // unterminated quote: the line cannot be attributed
		}
		for j := len(bounds) - 2; j >= 0; j -= 2 {
			elem := trimOWS(s[bounds[j]:bounds[j+1]])
			if elem == "" {
				continue
			}
			ip, ok := forwardedFor(elem)
			if !ok {
				return last
			}
			if !r.Trusted(ip) {
				return ip
			}
			last = ip
		}
	}
	return last
}

// splitQuoted appends start,end index pairs of the sep-separated parts of s
// to dst, ignoring separators inside quoted strings (with backslash
// quoted-pairs). ok is false when a quoted string is not terminated.
func splitQuoted(s string, sep byte, dst []int) ([]int, bool) {
	start := 0
	inQuote := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote && c == '\\':
			i++ // skip the escaped byte
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == sep:
			dst = append(dst, start, i)
			start = i + 1
		}
	}
	if inQuote {
		return dst, false
	}
	return append(dst, start, len(s)), true
}

// forwardedFor extracts the address from the "for" parameter of one
// Forwarded element. It fails for elements without exactly one "for", with
// an "unknown" or obfuscated node, or with anything else unparsable.
func forwardedFor(elem string) (netip.Addr, bool) {
	var buf [16]int
	pairs, ok := splitQuoted(elem, ';', buf[:0])
	if !ok {
		return netip.Addr{}, false
	}
	var (
		val   string
		found bool
	)
	for j := 0; j < len(pairs); j += 2 {
		pair := trimOWS(elem[pairs[j]:pairs[j+1]])
		if pair == "" {
			continue
		}
		eq := strings.IndexByte(pair, '=')
		if eq < 0 {
			return netip.Addr{}, false // a parameter without a value is malformed
		}
		name := trimOWS(pair[:eq])
		if !strings.EqualFold(name, "for") {
			continue
		}
		if found {
			return netip.Addr{}, false // RFC 7239 §4: a parameter must not repeat
		}
		val, found = trimOWS(pair[eq+1:]), true
	}
	if !found {
		return netip.Addr{}, false
	}
	quoted := false
	if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
		val, quoted = val[1:len(val)-1], true
		if strings.IndexByte(val, '\\') >= 0 {
			// A quoted-pair would make the address differ from its text;
			// no proxy writes one, so treat it as garbage.
			return netip.Addr{}, false
		}
	}
	return parseNode(val, quoted)
}

// parseNode parses one hop: "192.0.2.1", "192.0.2.1:80", "2001:db8::1",
// "[2001:db8::1]", "[2001:db8::1]:80", with an optional IPv6 zone. Forwarded
// allows obfuscated ports ("_abc"); obfPort enables them. The result is
// unmapped and zone-free.
func parseNode(s string, obfPort bool) (netip.Addr, bool) {
	var host string
	switch {
	case s == "":
		return netip.Addr{}, false
	case s[0] == '[':
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		host = s[1:end]
		if rest := s[end+1:]; rest != "" {
			if rest[0] != ':' || !validPort(rest[1:], obfPort) {
				return netip.Addr{}, false
			}
		}
		if strings.IndexByte(host, ':') < 0 {
			return netip.Addr{}, false // brackets are for IPv6 only
		}
	default:
		c := strings.IndexByte(s, ':')
		if c >= 0 && strings.IndexByte(s[c+1:], ':') < 0 {
			// Exactly one colon: IPv4 with a port.
			if !validPort(s[c+1:], obfPort) {
				return netip.Addr{}, false
			}
			host = s[:c]
			if strings.IndexByte(host, '.') < 0 {
				return netip.Addr{}, false
			}
		} else {
			host = s
		}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !validZone(ip.Zone()) {
		return netip.Addr{}, false
	}
	return ip.Unmap().WithZone(""), true
}

// validZone accepts interface names and numeric zone indexes; netip accepts
// any bytes after '%', which would let whitespace or separators through.
func validZone(z string) bool {
	for i := 0; i < len(z); i++ {
		c := z[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validPort(p string, obf bool) bool {
	if p == "" {
		return false
	}
	if obf && p[0] == '_' {
		for i := 1; i < len(p); i++ {
			c := p[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
		return len(p) > 1
	}
	if len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// trimOWS trims optional whitespace (SP and HTAB, RFC 9110 §5.6.3).
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
