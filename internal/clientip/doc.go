// Package clientip decides which address a request really comes from. It is
// the first step of the public request flow (before geo-blocking, customer
// pages, order interception and the reverse proxy): the socket peer, unless
// that peer is a trusted proxy, in which case the forwarding headers the proxy
// added are walked from the right, skipping further trusted hops.
//
// Header choice. A trusted proxy appends the address it saw to the header it
// manages and passes every other header through unchanged, so a header the
// proxy does not manage is entirely client controlled. nginx, HAProxy's
// "option forwardfor", Caddy, Traefik, AWS ALB and Cloudflare all manage
// X-Forwarded-For, and none touches Forwarded unless told to. Preferring
// Forwarded whenever it is present would therefore let any client behind
// such a proxy choose its own address by sending "Forwarded: for=1.2.3.4".
// The default (HeaderAuto) consequently walks X-Forwarded-For when the
// request has it and RFC 7239 Forwarded only when it has no X-Forwarded-For
// at all. Deployments whose proxies manage Forwarded only should pin the
// header with WithHeader(HeaderForwarded), and XFF-only deployments may pin
// HeaderXForwardedFor; a pinned header closes the remaining gap (a client
// adding the header the proxy does not manage).
//
// What is refused. Everything to the right of the client in a forwarding
// header was written by proxies the operator trusts, so every element the
// walk reaches must name a hop; if one does not, the hop to its left cannot
// be attributed to anyone we trust and Resolve refuses the request with a
// *ChainError (wrapping ErrUnattributable), which the gateway answers with
// 400 before the geo-block or anything else runs. It never answers with the
// trusted proxy's own address: that address has no country, and
// geoblock.unknown: allow would let anyone through. Refused, in an element
// the walk reaches:
//
//   - an empty list element ("a,,b", a trailing comma, a blank header line
//     among others: all lines of a header are one list);
//   - an element that is not an IP address with an optional numeric port
//     ("unknown", a host name, "1.2.3.4:x", "[1.2.3.4]", garbage);
//   - in Forwarded: a line with an unterminated quoted string (wherever the
//     quote is: the line cannot be split into elements at all), an element
//     without for=, a for= that is "unknown" or an obfuscated identifier
//     ("_hidden"), a for= with a quoted-pair, a parameter that is not
//     token=value, and a parameter repeated in one element.
//
// A RemoteAddr that is not an IP address (a Unix socket) is refused too.
//
// Elements left of the client are the client's own writing and are not
// read: "garbage, 198.51.100.7" from a trusted proxy is 198.51.100.7. Each
// header line is split on its own, so a quote left open in the client's
// line cannot swallow the proxy's line after it. Accepted although RFC 7239
// wants them quoted: a bare IPv6 address or port in for= (proxies
// configured as for=$remote_addr write them; they split nothing). A header
// that is absent or blank (only spaces and tabs) counts as absent, and a
// trusted peer that sent none is itself the client (a health check from the
// load balancer). The fuzz tests check the resulting property: when a
// trusted peer sent a (non-blank) header, the answer is an address written
// in that header or a refusal, never the peer's address from RemoteAddr.
//
// What the storefront is told. Middleware removes every header that claims
// a client address, scheme or host (IsForwardingHeader), whoever sent it;
// the gateway's proxy then writes X-Forwarded-For, X-Real-IP and Forwarded
// from the resolved Client (FormatForwarded), so no reader, whichever
// header or end of the list it reads, finds another client than the one
// judged. Client.Proto and Client.Host carry the scheme and host the
// trusted chain reported, when they are plain values (PlainProto,
// PlainHost): from the Forwarded element that named the client when
// Forwarded decided, from X-Forwarded-Proto and X-Forwarded-Host otherwise,
// but never with Forwarded pinned (a proxy that writes only Forwarded
// passes the X- headers through from the client).
//
// Addresses are returned without zone and with IPv4-mapped IPv6 unmapped,
// so ::ffff:192.0.2.1 and 192.0.2.1 are the same client.
package clientip
