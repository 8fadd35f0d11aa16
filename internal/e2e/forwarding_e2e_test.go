package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestForwardingThroughBinary runs issue 7's reproductions of findings 5
// and 6 against the real binary behind a "proxy" on loopback that writes
// only Forwarded (forwarded_header: forwarded), with the bundled demo GeoIP
// database (in the repository): 192.0.2.0/24 is US, 198.51.100.0/24 DE,
// and the proxy's own 127.0.0.1 has no country (geoblock.unknown is allow,
// the default).
func TestForwardingThroughBinary(t *testing.T) {
	up := startUpstream(t)
	gw := startGateway(t, map[string]string{
		"GATEWAY_UPSTREAM":         up.URL,
		"GATEWAY_TRUSTED_PROXIES":  "127.0.0.1",
		"GATEWAY_FORWARDED_HEADER": "forwarded",
	})
	client := newClient()
	t.Cleanup(client.CloseIdleConnections)
	host := strings.TrimPrefix(gw.public, "http://")

	t.Run("finding 6: the storefront reads the client the gateway judged", func(t *testing.T) {
		// The client wrote X-Forwarded-For and X-Real-IP; the proxy,
		// which manages only Forwarded, passed them through.
		r := mustDo(t, client, gw.public+"/cart", hdr(
			"X-Forwarded-For", "203.0.113.9", "X-Real-IP", "203.0.113.9", "True-Client-IP", "203.0.113.9",
			"Forwarded", "for=192.0.2.7",
		))
		if r.status != http.StatusOK || !r.fromUpstream() {
			t.Fatalf("GET /cart = %d, want 200 from the upstream; body %q", r.status, r.body)
		}
		want := echo{
			Path:           "/cart",
			Country:        []string{"US"},
			XForwardedFor:  []string{"192.0.2.7"},
			XRealIP:        []string{"192.0.2.7"},
			Forwarded:      []string{`for=192.0.2.7;host="` + host + `";proto=http`},
			ForwardedHost:  []string{host},
			ForwardedProto: []string{"http"},
		}
		if diff := cmp.Diff(want, r.echo(t)); diff != "" {
			t.Errorf("headers at the upstream (-want +got):\n%s", diff)
		}
	})

	// Finding 5: the unterminated quote swallows the proxy's element; the
	// old resolver answered with the proxy (no country: allowed).
	for _, fwd := range []string{`for="x, for=198.51.100.7`, `for=198.51.100.7, for=unknown`, `for=198.51.100.7,`} {
		t.Run("finding 5: "+fwd, func(t *testing.T) {
			r := mustDo(t, client, gw.public+"/cart", hdr("Forwarded", fwd, "Accept", "application/json"))
			if r.status != http.StatusBadRequest || r.fromUpstream() {
				t.Fatalf("GET /cart with Forwarded %s = %d (from upstream: %v), want 400 from the gateway; body %q", fwd, r.status, r.fromUpstream(), r.body)
			}
			var body struct {
				Error struct{ Code string } `json:"error"`
			}
			if err := json.Unmarshal(r.body, &body); err != nil || body.Error.Code != "unattributable_client" {
				t.Errorf("400 body %q: want JSON code unattributable_client", r.body)
			}
		})
	}
}
