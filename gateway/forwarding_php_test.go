package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/internal/testenv"
)

// TestForwardingPHPReaders is the storefront's side of finding 6 of issue
// 7: behind the gateway, PHP code that reads the client address the ways
// shops commonly do (a first-match snippet over Client-IP, X-Forwarded-For,
// ...; WooCommerce; CDN-first; Symfony/Laravel's trusted-proxy walk;
// Forwarded) finds the address the gateway judged, and no variable PHP made
// of the request headers carries an address the client wrote to pose as
// another.
func TestForwardingPHPReaders(t *testing.T) {
	php := testenv.StartPHPServer(t, "testdata/client_ip_readers.php", nil).URL
	const spoof = "203.0.113.66"
	// Header names PHP shops read a client address from; every one carries
	// the spoofed address.
	spoofNames := []string{
		"Client-Ip", "X-Client-Ip", "X-Real-Ip", "True-Client-Ip", "Cf-Connecting-Ip", "Fastly-Client-Ip",
		"X-Cluster-Client-Ip", "X-Forwarded", "Forwarded-For", "X-Original-Forwarded-For", "X-Proxyuser-Ip",
		"X-Originating-Ip", "X-Remote-Ip", "X-Remote-Addr", "X-Real-Client-Ip", "Incap-Client-Ip",
		"X-Sucuri-Clientip", "Remote-Addr", "X-Client-Address", "X-Forwarded-For-Original", "Cf-Connecting-Ipv6",
	}
	tests := []struct {
		mode    string
		chain   http.Header // what the trusted proxy in front wrote
		decided string
	}{
		{"auto", http.Header{"X-Forwarded-For": {spoof + ", 192.0.2.7"}}, "192.0.2.7"},
		{"x-forwarded-for", http.Header{"X-Forwarded-For": {"192.0.2.7"}, "Forwarded": {"for=" + spoof}}, "192.0.2.7"},
		// The proxy writes only Forwarded and passes the client's
		// X-Forwarded-For through.
		{"forwarded", http.Header{"X-Forwarded-For": {spoof}, "Forwarded": {`for="[2001:db8::7]:4711";proto=https`}}, "2001:db8::7"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			pub, _ := startGateway(t, Config{TrustedProxies: []string{"127.0.0.1"}, ForwardedHeader: tt.mode}, Deps{Upstream: mustURL(t, php)})
			req, _ := http.NewRequest("GET", pub+"/index.php", nil)
			for _, h := range spoofNames {
				req.Header.Set(h, spoof)
			}
			for k, v := range tt.chain {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var got struct {
				HTTP    map[string]string `json:"http"`
				Readers map[string]string `json:"readers"`
			}
			if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &got) != nil {
				t.Fatalf("status %d, body %s: want PHP's JSON", resp.StatusCode, body)
			}
			want := map[string]string{}
			for k := range got.Readers {
				want[k] = tt.decided
			}
			if diff := cmp.Diff(want, got.Readers); diff != "" {
				t.Errorf("client address as PHP readers find it (-want +got):\n%s", diff)
			}
			for k, v := range got.HTTP {
				if strings.Contains(v, spoof) {
					t.Errorf("$_SERVER[%s] = %q carries the client's spoofed address", k, v)
				}
			}
			if len(got.Readers) != 5 {
				t.Errorf("readers = %v, want five", got.Readers)
			}
		})
	}
}
