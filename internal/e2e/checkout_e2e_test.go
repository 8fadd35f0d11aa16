package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpsgate/gateway/internal/testenv"
)

// TestCheckoutBodiesPHP runs the real binary with real Redis in front of
// PHP's built-in server (the router of gateway's differential tests) and
// the demo storefront's interception routes: a checkout PHP would read
// differently (finding 1 of issue 7, the multipart reproduction; finding 2,
// the card in the query string) is refused and never reaches PHP, and a
// plain multipart checkout reaches it screened, with the value screened.
func TestCheckoutBodiesPHP(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped with -short")
	}
	php := testenv.StartPHPServer(t, "../../gateway/testdata/php/router.php", map[string]string{
		"variables_order": "GPCS", "request_order": "GP", "display_errors": "0",
	})
	prefix := testenv.KeyPrefix(t)
	routes := `[{"method":"POST","path":"/checkout","format":"form",
		"fields":{"order_id":"order_id","account.email":"email","billing.country":"country","amount":"amount",
		          "payment.card_bin":"card_bin","payment.card_last4":"card_last4"},
		"defaults":{"currency":"USD"}}]`
	g := startGateway(t, map[string]string{
		"GATEWAY_UPSTREAM":                      php.URL,
		"GATEWAY_REDIS_URL":                     testenv.RedisURL(t),
		"GATEWAY_SCREENING_KEY_PREFIX":          prefix,
		"GATEWAY_SCREENING_VELOCITY_KEY_PREFIX": prefix + "v:",
		"GATEWAY_SCREENING_HASH_KEY":            "0123456789abcdef0123456789abcdef",
		"GATEWAY_INTERCEPT":                     routes,
	})
	part := func(disposition, value string) string {
		return "--X\r\nContent-Disposition: " + disposition + "\r\n\r\n" + value + "\r\n"
	}
	fields := part(`form-data; name="email"`, "ann@example.com") + part(`form-data; name="amount"`, "12.00")
	tests := []struct {
		name        string
		orderID     string
		target      string
		contentType string
		body        string
		wantStatus  int
		wantCountry string // in PHP's $_POST; "" when PHP must see nothing
	}{
		{
			name: "finding 1: attachment and filename=\"\" refused", orderID: "E2E-1", target: "/checkout", contentType: "multipart/form-data; boundary=X",
			body: part(`form-data; name="order_id"`, "E2E-1") + fields +
				part(`attachment; name="country"`, "DE") + part(`form-data; name="country"; filename=""`, "US") + "--X--\r\n",
			wantStatus: 400,
		},
		{
			name: "finding 2: card in the query refused", orderID: "E2E-2", target: "/checkout?card_bin=555555&card_last4=4444",
			contentType: "application/x-www-form-urlencoded",
			body:        "order_id=E2E-2&email=ann%40example.com&amount=12.00&country=US",
			wantStatus:  400,
		},
		{
			name: "plain multipart screened and forwarded", orderID: "E2E-3", target: "/checkout", contentType: "multipart/form-data; boundary=X",
			body:       part(`form-data; name="order_id"`, "E2E-3") + fields + part(`form-data; name="country"`, "US") + "--X--\r\n",
			wantStatus: 200, wantCountry: "US",
		},
	}
	client := newClient()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", g.public+tc.target, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tc.contentType)
			req.Header.Set("Accept", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("POST %s = %d %s, want %d", tc.target, resp.StatusCode, body, tc.wantStatus)
			}
			if tc.wantCountry == "" {
				seen, _ := os.ReadFile(filepath.Join(php.Dir, "seen.jsonl"))
				if bytes.Contains(seen, []byte(tc.orderID)) {
					t.Fatalf("PHP received the refused checkout %s:\n%s", tc.orderID, seen)
				}
				return
			}
			var seen struct {
				Post      map[string]any    `json:"post"`
				Screening map[string]string `json:"screening"`
			}
			if err := json.Unmarshal(body, &seen); err != nil {
				t.Fatalf("decoding PHP's answer %s: %v", body, err)
			}
			if got := seen.Post["country"]; got != tc.wantCountry {
				t.Errorf("PHP's $_POST[country] = %v, want %s", got, tc.wantCountry)
			}
			// The shop learns the order's screening id (not the order_id a
			// visitor chose: intercepted orders have their own namespace).
			if d := seen.Screening["HTTP_X_SCREENING_DECISION"]; d == "" || !strings.HasPrefix(seen.Screening["HTTP_X_SCREENING_ID"], "scr_") {
				t.Errorf("PHP got screening headers %v, want a decision and a screening id for %s", seen.Screening, tc.orderID)
			}
		})
	}
}
