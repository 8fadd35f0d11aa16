package gateway

import (
	"errors"
	"net/http"
	"strings"
)

// After a 101 Switching Protocols the reverse proxy copies bytes both ways
// and no later request on that connection passes the geo-block or the
// checkout screening. So the only upgrade that is passed on is a websocket
// handshake (GET, "Upgrade: websocket" and nothing else) on a path the
// operator listed in proxy.websocket_paths, in canonical form, that is not
// a geo-block exempt path; the interceptor strips upgrades from checkout
// paths before this. Every other upgrade (h2c, several tokens, other paths,
// other methods) is stripped: the request goes on as an ordinary one, as
// nginx treats an Upgrade it is not configured to pass.

// websocketPaths is proxy.websocket_paths: exact paths, and prefixes
// ending in "/".
type websocketPaths struct {
	exact    map[string]bool
	prefixes []string
}

func newWebsocketPaths(entries []string) websocketPaths {
	ws := websocketPaths{exact: map[string]bool{}}
	for _, e := range entries {
		if strings.HasSuffix(e, "/") {
			ws.prefixes = append(ws.prefixes, e)
		} else {
			ws.exact[e] = true
		}
	}
	return ws
}

// allows reports whether a request path may carry a websocket upgrade: it
// is canonical as sent (so that no other reading of it exists) and listed.
func (ws websocketPaths) allows(p string) bool {
	if !isRouteKey(p) {
		return false
	}
	if ws.exact[p] {
		return true
	}
	for _, pre := range ws.prefixes {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// filterUpgrades removes HTTP2-Settings from every request, and Upgrade from
// every request that is not an allowed websocket handshake. exempt reports
// the geo-block's exempt paths (nil: none).
func filterUpgrades(ws websocketPaths, exempt func(path string) bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		delete(r.Header, "Http2-Settings")
		if _, ok := r.Header["Upgrade"]; !ok {
			next.ServeHTTP(w, r)
			return
		}
		if !websocketHandshake(r) || !ws.allows(r.URL.Path) || exempt != nil && exempt(r.URL.Path) {
			stripUpgrade(r.Header)
		}
		next.ServeHTTP(w, r)
	})
}

// websocketHandshake reports whether r asks for a websocket upgrade and
// nothing else.
func websocketHandshake(r *http.Request) bool {
	up := r.Header["Upgrade"]
	return r.Method == http.MethodGet && len(up) == 1 && strings.EqualFold(strings.TrimSpace(up[0]), "websocket")
}

// stripUpgrade turns an upgrade request into an ordinary one. The reverse
// proxy asks the upstream to switch only when Upgrade is present, and drops
// Connection itself.
func stripUpgrade(h http.Header) {
	delete(h, "Upgrade")
	delete(h, "Http2-Settings")
}

// errUnrequestedSwitch is a 101 from the upstream to a request that did not
// ask for a websocket.
var errUnrequestedSwitch = errors.New("upstream switched protocols without an allowed websocket upgrade")

// refuseUnrequestedSwitch is the proxy's ModifyResponse: a 101 opens a tunnel
// only when the forwarded request was an allowed websocket handshake (the
// only kind filterUpgrades leaves an Upgrade on) and the upstream switched
// to websocket. Otherwise the client gets 502 and no tunnel.
func refuseUnrequestedSwitch(res *http.Response) error {
	if res.StatusCode != http.StatusSwitchingProtocols {
		return nil
	}
	if res.Request == nil || !websocketHandshake(res.Request) || !strings.EqualFold(res.Header.Get("Upgrade"), "websocket") {
		return errUnrequestedSwitch
	}
	return nil
}

// dropTrailers removes the trailers a client declared from the request
// before it is forwarded: a trailer is a header that arrives after the body,
// past every check ("X-Screening-Decision: accept", "X-Forwarded-For"), and
// storefronts that merge trailers into headers would believe it.
func dropTrailers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Trailer != nil || r.Header["Trailer"] != nil {
			// A copy: the server's body reader fills the original's map.
			r2 := *r
			r2.Trailer = nil
			r2.Header = r.Header.Clone()
			delete(r2.Header, "Trailer")
			r = &r2
		}
		next.ServeHTTP(w, r)
	})
}
