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
// Unparsable hops. An element that is not an address ("unknown", an
// obfuscated identifier such as "_hidden", a Forwarded element without a
// "for" parameter, or garbage) ends the walk: nothing to the left of it can be
// attributed to a hop we trust, so the resolver answers with the last good
// hop, which is the trusted proxy that reported the unparsable value (or the
// socket peer when that value is the rightmost element). The answer is
// therefore always an address that appears in the input, never a guess.
//
// Addresses are returned without zone and with IPv4-mapped IPv6 unmapped,
// so ::ffff:192.0.2.1 and 192.0.2.1 are the same client.
package clientip
