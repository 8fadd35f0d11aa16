package clientip

import (
	"net/http"
	"net/netip"
	"strings"
)

// forwardingNames are request headers, besides those IsForwardingHeader
// recognises by their shape, that name a client's scheme or address to
// some storefront stack: PHP frameworks and plugins read them from $_SERVER
// (HTTP_X_SCHEME, HTTP_FRONT_END_HTTPS, ...), IIS and ASP.NET from
// X-Url-Scheme and X-Original-Host.
var forwardingNames = [...]string{
	"X-Scheme", "X-Url-Scheme", "Front-End-Https", "X-Original-Host",
	"X-Coming-From", "Coming-From",
}

// forwardingSuffixes are the last dash-separated words of header names that
// claim a client address: X-Real-IP, True-Client-IP, CF-Connecting-IP(v6),
// CF-Pseudo-IPv4, X-Client-IP, X-Cluster-Client-IP, Fastly-Client-IP,
// Client-IP, X-ProxyUser-Ip, X-Originating-IP, X-Remote-IP, X-Remote-Addr,
// X-Real-Client-IP, Incap-Client-IP, WL-Proxy-Client-IP, X-AppEngine-User-IP,
// X-Sucuri-ClientIP, X-Azure-ClientIP, X-Azure-SocketIP,
// X-Envoy-External-Address, and the next one a CDN invents.
var forwardingSuffixes = [...]string{"ip", "ipv4", "ipv6", "addr", "address", "clientip", "socketip", "userip", "remoteip", "realip"}

// IsForwardingHeader reports whether a request header named name claims
// something about the client that only the gateway may say: its address
// (X-Forwarded-For, Forwarded, X-Real-IP, True-Client-IP, CF-Connecting-IP,
// and every other name whose last word is IP, IPv4, IPv6, Addr, Address or
// ClientIP), or the scheme, host, port or path prefix it used (every name
// containing "Forwarded", X-Scheme, Front-End-Https, ...). Storefronts read
// such headers in all kinds of orders (WooCommerce X-Real-IP first, classic
// PHP snippets Client-IP first, Wordfence CF-Connecting-IP), so any one
// left in place could name another client to the storefront than the one
// the gateway judged. The match is case-insensitive.
func IsForwardingHeader(name string) bool {
	if containsFold(name, "forwarded") {
		return true
	}
	last := name[strings.LastIndexByte(name, '-')+1:]
	for _, s := range forwardingSuffixes {
		if strings.EqualFold(last, s) {
			return true
		}
	}
	for _, n := range forwardingNames {
		if strings.EqualFold(name, n) {
			return true
		}
	}
	return false
}

// StripForwarding removes every header IsForwardingHeader recognises.
func StripForwarding(h http.Header) {
	for k := range h {
		if IsForwardingHeader(k) {
			delete(h, k)
		}
	}
}

// containsFold reports whether s contains the lower-case ASCII word sub,
// ignoring case, without allocating.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// PlainProto returns "http" or "https" when s is one of them (in any case),
// and "" for anything else, including lists ("https, http").
func PlainProto(s string) string {
	switch {
	case strings.EqualFold(s, "https"):
		return "https"
	case strings.EqualFold(s, "http"):
		return "http"
	}
	return ""
}

// PlainHost reports whether h is a plain authority without user info: a DNS
// name of letters, digits, dots and dashes, an IPv4 address, or an IPv6
// address in brackets, each with an optional port of at most five digits
// (not above 65535). Anything else (lists, paths, '@', quotes, spaces,
// underscores) could be read as a different host by the code that builds
// links from it, so the gateway does not pass it on.
func PlainHost(h string) bool {
	if h == "" || len(h) > 255+len(":65535") {
		return false
	}
	host, port := h, ""
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return false
		}
		host, port = h[1:end], h[end+1:]
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return false
		}
		if port != "" {
			if port[0] != ':' {
				return false
			}
			port = port[1:]
			if port == "" {
				return false
			}
		}
	} else {
		if i := strings.IndexByte(h, ':'); i >= 0 {
			host, port = h[:i], h[i+1:]
			if port == "" {
				return false
			}
		}
		if host == "" || host[0] == '.' || host[0] == '-' {
			return false
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
				return false
			}
		}
	}
	return port == "" || numericPort(port)
}

// FormatForwarded writes an RFC 7239 Forwarded element for one hop: for=
// the address (an IPv6 address bracketed and quoted, as section 6 requires),
// host= when host is not empty and proto= when proto is not empty, each
// quoted when it is not a token. An invalid address is written as
// for=unknown.
func FormatForwarded(ip netip.Addr, proto, host string) string {
	var b strings.Builder
	b.WriteString("for=")
	switch {
	case !ip.IsValid():
		b.WriteString("unknown")
	case ip.Is4():
		b.WriteString(ip.String())
	default:
		b.WriteString(`"[`)
		b.WriteString(ip.WithZone("").String())
		b.WriteString(`]"`)
	}
	for _, p := range [...]struct{ name, val string }{{"host", host}, {"proto", proto}} {
		if p.val == "" {
			continue
		}
		b.WriteByte(';')
		b.WriteString(p.name)
		b.WriteByte('=')
		if isToken(p.val) {
			b.WriteString(p.val)
			continue
		}
		b.WriteByte('"')
		for i := 0; i < len(p.val); i++ {
			if c := p.val[i]; c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(p.val[i])
		}
		b.WriteByte('"')
	}
	return b.String()
}
