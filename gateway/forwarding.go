package gateway

import (
	"log/slog"
	"net/http"
	"net/http/httputil"

	"github.com/vpsgate/gateway/internal/clientip"
)

// setForwardingHeaders tells the storefront who the client is, in every
// header a storefront may read it from, and nothing a client wrote: the
// address the gateway judged (the one the geo-block and screening saw) as
// the whole of X-Forwarded-For, X-Real-IP and a rebuilt Forwarded element.
// X-Forwarded-For holds that address alone, without the trusted hops behind
// it or the socket peer: a storefront that trusts only the gateway and
// walks the list from the right (Symfony, Laravel) and one that takes the
// leftmost entry (many WordPress plugins) then read the same client. Every
// other header that claims a client address, scheme or host is removed
// (clientip.IsForwardingHeader), whoever sent it. The scheme and host are
// what a trusted proxy reported when they are plain values, else what the
// gateway saw itself.
func setForwardingHeaders(pr *httputil.ProxyRequest) {
	in, out := pr.In, pr.Out.Header
	clientip.StripForwarding(out)
	c, ok := clientip.ClientFromContext(in.Context())
	if !ok {
		// Not behind clientip's middleware (which always stores a
		// client): no forwarding header was believed, so the socket peer
		// is the client.
		c = clientip.Client{Addr: peerAddr(in)}
	}
	proto, host := c.Proto, c.Host
	if proto == "" {
		proto = "http"
		if in.TLS != nil {
			proto = "https"
		}
	}
	if host == "" && clientip.PlainHost(in.Host) {
		host = in.Host
	}
	if c.Addr.IsValid() {
		addr := []string{c.Addr.String()}
		out["X-Forwarded-For"] = addr
		out["X-Real-Ip"] = addr
	}
	out["Forwarded"] = []string{clientip.FormatForwarded(c.Addr, proto, host)}
	out["X-Forwarded-Proto"] = []string{proto}
	if host != "" {
		out["X-Forwarded-Host"] = []string{host}
	}
}

// refuseUnattributable answers a request whose trusted proxy sent a
// forwarding chain the client cannot be told from (clientip.ChainError):
// 400, before the geo-block or anything else has run, because answering
// with the proxy's own address would let the request through as a client
// of no country.
func refuseUnattributable(logger *slog.Logger) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		logger.InfoContext(r.Context(), "refused a request whose client address cannot be attributed", "error", err)
		writeError(w, r, http.StatusBadRequest, "unattributable_client",
			"The gateway cannot tell which address this request comes from ("+err.Error()+"). It was not forwarded.")
	}
}
