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

// Client is what a Resolver decided about a request.
type Client struct {
	// Addr is the client address: unmapped, without zone.
	Addr netip.Addr
	// PeerTrusted reports whether the socket peer is a trusted proxy.
	PeerTrusted bool
	// Header is the forwarding header that named Addr; HeaderAuto when
	// none did (the peer is the client).
	Header Header
	// Proto ("http" or "https") and Host (a plain host[:port]) are what the
	// trusted chain says the client asked for: from the Forwarded element
	// that named the client when Forwarded decided, else from
	// X-Forwarded-Proto and X-Forwarded-Host. Empty when the peer is not
	// trusted, when the chain does not say, or when what it says is not a
	// plain value (see PlainProto and PlainHost): the caller then uses what
	// it saw itself.
	Proto, Host string
}

// ErrUnattributable is wrapped by every refusal of Resolve: a trusted peer
// sent a forwarding header from which the client cannot be told.
var ErrUnattributable = errors.New("the client address cannot be attributed")

// ChainError says why a forwarding header from a trusted peer cannot be
// attributed. Its text names the header and the problem, never the value
// (which holds client addresses and whatever else a client wrote).
type ChainError struct {
	Header string // "X-Forwarded-For", "Forwarded", or "RemoteAddr"
	Reason string
}

func (e *ChainError) Error() string {
	return e.Header + ": " + e.Reason + ": " + ErrUnattributable.Error()
}

func (e *ChainError) Unwrap() error { return ErrUnattributable }

// Reasons of a ChainError.
const (
	reasonEmpty        = "an empty list element where a hop was expected"
	reasonNotAddr      = "an element that is not an IP address with an optional port"
	reasonUnterminated = "an unterminated quoted string"
	reasonNoFor        = "an element without a for parameter"
	reasonHidden       = "an unknown or obfuscated node where the client was expected"
	reasonRepeated     = "a parameter repeated in one element"
	reasonSyntax       = "a parameter that is not token=value"
	reasonPeer         = "the socket peer is not an IP address"
)

func xffError(reason string) error { return &ChainError{Header: "X-Forwarded-For", Reason: reason} }
func fwdError(reason string) error { return &ChainError{Header: "Forwarded", Reason: reason} }

// Resolve returns the client address of req: the socket peer unless it is a
// trusted proxy, else the first untrusted hop in the forwarding header walked
// from the right (see the package documentation for what is refused). The
// error wraps ErrUnattributable; the address is then invalid, never the
// proxy's own.
func (r *Resolver) Resolve(req *http.Request) (netip.Addr, error) {
	c, err := r.resolve(req)
	return c.Addr, err
}

// resolve decides the whole Client.
func (r *Resolver) resolve(req *http.Request) (Client, error) {
	peer, ok := parseNode(req.RemoteAddr, false)
	if !ok {
		// A Unix socket or a handler called without a connection: no
		// address to judge, and none to fall back to.
		return Client{}, &ChainError{Header: "RemoteAddr", Reason: reasonPeer}
	}
	if !r.Trusted(peer) {
		return Client{Addr: peer}, nil
	}
	c := Client{Addr: peer, PeerTrusted: true}
	xff, fwd := req.Header["X-Forwarded-For"], req.Header["Forwarded"]
	walk := r.header
	if walk == HeaderAuto {
		walk = HeaderForwarded
		if hasContent(xff) {
			walk = HeaderXForwardedFor
		}
	}
	var err error
	switch {
	case walk == HeaderForwarded && hasContent(fwd):
		c.Header = HeaderForwarded
		err = r.walkForwarded(fwd, &c)
	case walk == HeaderXForwardedFor && hasContent(xff):
		c.Header = HeaderXForwardedFor
		c.Addr, err = r.walkXFF(xff)
	}
	if err != nil {
		return Client{PeerTrusted: true}, err
	}
	// A proxy that manages Forwarded only passes X-Forwarded-Proto and
	// X-Forwarded-Host through from the client, as it does X-Forwarded-For:
	// with Forwarded pinned they are the client's, not the proxy's.
	if c.Header != HeaderForwarded && r.header != HeaderForwarded {
		c.Proto = PlainProto(single(req.Header["X-Forwarded-Proto"]))
		if h := single(req.Header["X-Forwarded-Host"]); PlainHost(h) {
			c.Host = h
		}
	}
	return c, nil
}

// single returns the only line of a header, or "" when there are several
// (two values would be two readings).
func single(lines []string) string {
	if len(lines) != 1 {
		return ""
	}
	return lines[0]
}

// Middleware resolves the client address and stores it in the request
// context (see FromContext and ClientFromContext). A request whose trusted
// peer sent a forwarding chain that cannot be attributed goes to refuse
// instead of next, with the error from Resolve; nil refuse answers a plain
// 400. Before next runs, every header that claims a client address, scheme
// or host (see IsForwardingHeader) is removed, whoever sent it: what the
// resolver believed is in the context, and nothing behind the gateway may
// read a different claim.
func (r *Resolver) Middleware(next http.Handler, refuse func(http.ResponseWriter, *http.Request, error)) http.Handler {
	if refuse == nil {
		refuse = func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c, err := r.resolve(req)
		StripForwarding(req.Header)
		if err != nil {
			refuse(w, req, err)
			return
		}
		next.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), ctxKey{}, c)))
	})
}

type ctxKey struct{}

// NewContext returns a copy of ctx carrying ip as the client address (of a
// request from an untrusted peer).
func NewContext(ctx context.Context, ip netip.Addr) context.Context {
	return context.WithValue(ctx, ctxKey{}, Client{Addr: ip})
}

// FromContext returns the client address stored by NewContext (or
// Middleware). ok is false when none was stored or the stored one is invalid.
func FromContext(ctx context.Context) (ip netip.Addr, ok bool) {
	c, ok := ClientFromContext(ctx)
	return c.Addr, ok
}

// ClientFromContext returns the Client stored by Middleware (or
// NewContext). ok is false when none was stored or its address is invalid.
func ClientFromContext(ctx context.Context) (c Client, ok bool) {
	c, ok = ctx.Value(ctxKey{}).(Client)
	return c, ok && c.Addr.IsValid()
}

// hasContent reports whether a header has a line with more than optional
// whitespace: a blank header counts as absent.
func hasContent(lines []string) bool {
	for _, l := range lines {
		if trimOWS(l) != "" {
			return true
		}
	}
	return false
}

// walkXFF walks X-Forwarded-For lines, last line first, each comma list from
// the right, and returns the first untrusted hop (or the leftmost hop when
// all are trusted). The lines are one list (RFC 9110 section 5.3), so a
// blank line is an empty element. Every element the walk reaches was
// written by a trusted proxy and must be an address: an empty one, or one
// that does not parse, means the hop to its left cannot be attributed, and
// the walk refuses rather than answer with the trusted proxy that wrote it.
// Elements left of the client are the client's own and are not read.
func (r *Resolver) walkXFF(lines []string) (netip.Addr, error) {
	var last netip.Addr
	for i := len(lines) - 1; i >= 0; i-- {
		s := lines[i]
		end := len(s)
		for end >= 0 {
			start := strings.LastIndexByte(s[:end], ',') + 1
			elem := trimOWS(s[start:end])
			end = start - 1
			if elem == "" {
				return netip.Addr{}, xffError(reasonEmpty)
			}
			ip, ok := parseNode(elem, false)
			if !ok {
				return netip.Addr{}, xffError(reasonNotAddr)
			}
			if !r.Trusted(ip) {
				return ip, nil
			}
			last = ip
		}
	}
	return last, nil
}

// maxStackElems bounds the per-line element index kept on the stack; longer
// lines still work, they just spill to the heap.
const maxStackElems = 16

// walkForwarded walks RFC 7239 Forwarded lines, last line first, each
// element list from the right, and sets c.Addr, c.Proto and c.Host from the
// element that names the client (the first untrusted hop, or the leftmost
// element when all are trusted). Commas inside quoted strings do not split,
// so a line with an unterminated quote cannot be split at all and is
// refused wherever the quote is. Every element the walk reaches must be a
// well-formed element with exactly one for= naming an address.
func (r *Resolver) walkForwarded(lines []string, c *Client) error {
	var buf [maxStackElems * 2]int
	found := false
	for i := len(lines) - 1; i >= 0; i-- {
		s := lines[i]
		bounds, ok := splitQuoted(s, ',', buf[:0])
		if !ok {
			return fwdError(reasonUnterminated)
		}
		for j := len(bounds) - 2; j >= 0; j -= 2 {
			elem := trimOWS(s[bounds[j]:bounds[j+1]])
			if elem == "" {
				return fwdError(reasonEmpty)
			}
			e, reason := parseElement(elem)
			if reason != "" {
				return fwdError(reason)
			}
			c.Addr, c.Proto, c.Host, found = e.addr, PlainProto(e.proto), "", true
			if PlainHost(e.host) {
				c.Host = e.host
			}
			if !r.Trusted(e.addr) {
				return nil
			}
		}
	}
	if !found {
		return fwdError(reasonEmpty)
	}
	return nil
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

// element is one parsed Forwarded element. proto and host are the raw
// values (quotes removed), checked by the caller.
type element struct {
	addr        netip.Addr
	proto, host string
}

// parseElement parses one Forwarded element: pairs separated by ';' (empty
// pairs allowed, optional whitespace around them), each a token, '=', and
// a token or quoted-string, no parameter twice, exactly one for= naming an
// address. It returns a reason when the element cannot be attributed.
func parseElement(elem string) (element, string) {
	var buf [16]int
	pairs, ok := splitQuoted(elem, ';', buf[:0])
	if !ok {
		return element{}, reasonUnterminated
	}
	var (
		e      element
		forVal string
		quoted bool
		hasFor bool
	)
	for j := 0; j < len(pairs); j += 2 {
		pair := trimOWS(elem[pairs[j]:pairs[j+1]])
		if pair == "" {
			continue
		}
		eq := strings.IndexByte(pair, '=')
		if eq < 0 {
			return element{}, reasonSyntax
		}
		name, val := pair[:eq], pair[eq+1:]
		raw, q, ok := paramValue(val)
		if !isToken(name) || !ok {
			return element{}, reasonSyntax
		}
		// RFC 7239 section 4: a parameter must not occur twice in one
		// element. Elements are short: the quadratic check is cheap.
		for k := 0; k < j; k += 2 {
			prev := trimOWS(elem[pairs[k]:pairs[k+1]])
			if pn, _, ok := strings.Cut(prev, "="); ok && strings.EqualFold(pn, name) {
				return element{}, reasonRepeated
			}
		}
		switch {
		case strings.EqualFold(name, "for"):
			forVal, quoted, hasFor = raw, q, true
		case strings.EqualFold(name, "proto"):
			e.proto = raw
		case strings.EqualFold(name, "host"):
			e.host = raw
		}
	}
	if !hasFor {
		return element{}, reasonNoFor
	}
	if strings.EqualFold(forVal, "unknown") || forVal != "" && forVal[0] == '_' {
		return element{}, reasonHidden
	}
	if quoted && strings.IndexByte(forVal, '\\') >= 0 {
		// A quoted-pair would make the address differ from its text; no
		// proxy writes one.
		return element{}, reasonNotAddr
	}
	ip, ok := parseNode(forVal, true)
	if !ok {
		return element{}, reasonNotAddr
	}
	e.addr = ip
	return e, ""
}

// paramValue checks a Forwarded parameter value: a quoted-string (returned
// without its quotes, quoted-pairs left as they are) or an unquoted run of
// token characters, ':', '[' and ']'. RFC 7239 wants the last three quoted,
// but proxies configured as "for=$remote_addr" write IPv6 and ports bare,
// and they split nothing, so reading them is not ambiguous.
func paramValue(v string) (raw string, quoted, ok bool) {
	if v == "" {
		return "", false, false
	}
	if v[0] == '"' {
		if len(v) < 2 || v[len(v)-1] != '"' {
			return "", false, false
		}
		in := v[1 : len(v)-1]
		for i := 0; i < len(in); i++ {
			switch c := in[i]; {
			case c == '\\':
				if i+1 == len(in) {
					return "", false, false
				}
				i++
			case c == '"', c < 0x20 && c != '\t', c == 0x7f:
				return "", false, false
			}
		}
		return in, true, true
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !isTchar(c) && c != ':' && c != '[' && c != ']' {
			return "", false, false
		}
	}
	return v, false, true
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// isTchar reports whether c may appear in an RFC 9110 token.
func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
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
	return numericPort(p)
}

// numericPort reports whether p is a decimal port number, 0 to 65535, of at
// most five digits.
func numericPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
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
