package gateway

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The public side reads a request path once, the way the most lenient
// storefront behind it could, and matches checkout routes, websocket paths
// and /_gateway/ on that reading (routeKey). What no reading can settle is
// refused before anything else looks at the request (pathAmbiguity).
//
// Matching rule, for a path that is not refused:
//   - percent-decoded once (Go's URL.Path);
//   - cut at a decoded "?" or "#" (a router that decodes before splitting
//     the query off);
//   - "/" and "\" both separate segments (IIS, Windows file systems);
//   - ";parameters" are dropped from every segment (servlet containers);
//   - trailing dots and spaces of a segment are dropped (Windows and IIS
//     serve "checkout." and "checkout " as "checkout");
//   - "." and ".." segments are resolved, empty segments dropped;
//   - case is folded (IIS, case-insensitive file systems and routers),
//     Unicode included: "K" (Kelvin sign) folds like "k".
//
// A route then matches its own key and every key below it at a segment
// boundary: "/checkout" matches "/checkout/index.php" and, for a route
// "/cart.php", PATH_INFO like "/cart.php/x".

// routeKey returns the canonical form of a decoded request path. It does
// not allocate for a path that is already canonical (lower-case, clean, no
// dots or spaces at segment ends), which is every ordinary proxied path.
func routeKey(p string) string {
	if isRouteKey(p) {
		return p
	}
	return canonicalize(p)
}

// isRouteKey reports whether routeKey(p) == p, checked in one pass.
func isRouteKey(p string) bool {
	if p == "/" {
		return true
	}
	if len(p) < 2 || p[0] != '/' || p[len(p)-1] == '/' {
		return false
	}
	segStart := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) {
			c := p[i]
			switch {
			case c >= utf8.RuneSelf, c >= 'A' && c <= 'Z', c == '\\', c == ';', c == '?', c == '#':
				return false
			case c != '/':
				continue
			}
		}
		// p[segStart:i] is a whole segment.
		if i == segStart {
			return false // empty segment: "//"
		}
		if last := p[i-1]; last == '.' || last == ' ' {
			return false // ".", "..", "name.", "name "
		}
		segStart = i + 1
	}
	return true
}

// canonicalize is routeKey's slow path.
func canonicalize(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	p = foldCase(p)
	segs := strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' })
	out := segs[:0]
	for _, s := range segs {
		s, _, _ = strings.Cut(s, ";")
		switch s {
		case ".":
			continue
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			continue
		}
		if s = strings.TrimRight(s, ". "); s != "" {
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/")
}

// foldCase maps every character to one representative of its case-folding
// orbit ("K", "k" and the Kelvin sign all become "k"), so that routers that
// compare upper-cased and those that compare lower-cased agree.
func foldCase(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteByte(c) // not UTF-8: kept as the byte it is
		} else {
			b.WriteRune(foldRune(r))
		}
		i += n
	}
	return b.String()
}

// foldRune maps r to the lower case of the upper case of the smallest rune
// case-equivalent to it: routers that compare upper-cased ("ı" and "ſ"
// upper-case to "I" and "S") and those that compare lower-cased or folded
// ("K", the Kelvin sign, folds to "k") all land on the same rune.
func foldRune(r rune) rune {
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	return unicode.ToLower(unicode.ToUpper(least))
}

// underRoute reports whether key is route or lies below it at a segment
// boundary. Both are routeKeys.
func underRoute(key, route string) bool {
	if route == "/" {
		return true
	}
	return strings.HasPrefix(key, route) && (len(key) == len(route) || key[len(route)] == '/')
}

// gatewayPrefix is the gateway's own namespace on the public side.
const gatewayPrefix = "/_gateway"

// isGatewayPath reports whether the request path is in the gateway's own
// namespace by the matching rule: "/_GATEWAY/x", "//_gateway/x" and
// "/x/../_gateway/" are.
func isGatewayPath(p string) bool {
	return underRoute(routeKey(p), gatewayPrefix)
}

// pathAmbiguity names what makes a request path readable two ways, or
// returns "" when it has one reading. rawPath is URL.RawPath (set only when
// the client's escaping differs from Go's).
func pathAmbiguity(p, rawPath string) string {
	if p == "" || p[0] != '/' {
		return "the path must start with /"
	}
	if rawPath != "" && strings.Contains(strings.ToLower(rawPath), "%2f") {
		// Some servers decode it to a separator (nginx), others refuse it
		// (Apache) or keep it in the segment.
		return "the path contains an encoded slash (%2F)"
	}
	segStart := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) {
			switch c := p[i]; {
			case c < 0x20 || c == 0x7f:
				// NUL ends a C string (a file name at the storefront);
				// other control characters have no place in a path.
				return "the path contains a control character"
			case c == '\\':
				return "the path contains a backslash, a separator on IIS and Windows only"
			case c == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]):
				return "the path is percent-encoded twice"
			case c != '/':
				continue
			}
		}
		if reason := segmentAmbiguity(p[segStart:i]); reason != "" {
			return reason
		}
		segStart = i + 1
	}
	return ""
}

// segmentAmbiguity refuses a segment that some servers resolve as a dot
// segment and others keep as a name: "..;x" (Tomcat drops the parameter and
// goes up), "...", ". ", ".. " (Windows trims dots and spaces).
func segmentAmbiguity(seg string) string {
	if seg == "" || seg == "." || seg == ".." {
		return ""
	}
	name, _, hasParams := strings.Cut(seg, ";")
	if hasParams && (name == "." || name == "..") {
		return "a dot segment carries ;parameters"
	}
	if name != "" && strings.Trim(name, ". ") == "" {
		return "a path segment is only dots and spaces"
	}
	return ""
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
