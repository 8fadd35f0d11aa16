package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/screening"
)

// phpINI are the settings of the PHP storefront: PHP's built-in defaults
// (the server runs with -n, no php.ini), except variables_order and
// request_order, which are php.ini-production's: $_REQUEST merges $_GET and
// $_POST, $_POST winning. Warnings go to the server's log, not into the
// JSON answer.
var phpINI = map[string]string{
	"variables_order":          "GPCS",
	"request_order":            "GP",
	"max_input_vars":           "1000",
	"file_uploads":             "1",
	"enable_post_data_reading": "1",
	"post_max_size":            "8M",
	"upload_max_filesize":      "2M",
	"display_errors":           "0",
	"log_errors":               "1",
}

// recordingOrders accepts every order and records what was screened, so
// that a test can compare it with what the storefront acted on.
type recordingOrders struct {
	mu     sync.Mutex
	orders []screening.Order
}

func (r *recordingOrders) Submit(ctx context.Context, owner orders.Owner, o screening.Order) (orders.Result, error) {
	if owner != orders.CheckoutOwner {
		return orders.Result{}, fmt.Errorf("intercepted checkout submitted as %q, want the checkout owner", owner)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.orders = append(r.orders, o)
	return orders.Result{OrderID: o.OrderID, Decision: screening.Accept, Score: 0}, nil
}

// take returns the orders recorded since the last call.
func (r *recordingOrders) take() []screening.Order {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.orders
	r.orders = nil
	return o
}

// phpSeen is what the PHP router (testdata/php/router.php) parsed.
type phpSeen struct {
	Method, Path, URI string
	Post, Get         map[string]any
	Request           map[string]any
	Files             map[string]any
	Screening         map[string]string
	// Readings are how the profiles' storefronts read their checkout
	// parameter (php_query_test.go).
	Readings map[string]string
}

// TestPHPDifferential sends the corpus of ambiguous checkouts
// (testdata/checkouts) through a gateway with the demo storefront's
// interception routes in front of a real PHP, and checks the product's
// rule: whenever PHP received a request, every order field PHP acts on
// (in $_POST and in $_REQUEST) is the value the gateway screened;
// otherwise the gateway refused it with a 4xx. The same requests, read by
// net/http as a Go storefront would, must give the same order too.
//
// It runs against two PHP configurations: php.ini-production's
// request_order (GP), and PHP's own defaults with no php.ini, where
// $_REQUEST also merges cookies (variables_order EGPCS, no request_order).
func TestPHPDifferential(t *testing.T) {
	noINI := map[string]string{"display_errors": "0", "log_errors": "1"}
	for name, ini := range map[string]map[string]string{"production": phpINI, "no php.ini": noINI} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testPHPDifferential(t, ini)
		})
	}
}

func testPHPDifferential(t *testing.T, ini map[string]string) {
	php := testenv.StartPHPServer(t, "testdata/php/router.php", ini)
	routes := screening.DemoInterceptRoutes()
	for i := range routes {
		routes[i].SetDefaults()
	}
	form := routes[0] // POST /checkout, the form route every case aims at
	rec := &recordingOrders{}
	public, _ := startGateway(t, Config{}, Deps{
		Upstream:  mustURL(t, php.URL),
		Intercept: NewInterceptor(routes, rec, slog.New(slog.DiscardHandler)),
	})
	addr := strings.TrimPrefix(public, "http://")
	log := &seenLog{path: filepath.Join(php.Dir, "seen.jsonl")}

	for _, c := range loadCheckoutCases(t, "testdata/checkouts") {
		t.Run(c.name, func(t *testing.T) {
			resp, answer := sendRaw(t, addr, string(c.raw()))
			status := resp.StatusCode
			orders := rec.take()
			seen := log.next(t)
			switch {
			case len(seen) == 0:
				if status < 400 || status >= 500 {
					t.Fatalf("PHP saw nothing, but the gateway answered %d (want a 4xx): %s", status, answer)
				}
				if c.want != "refused" {
					t.Fatalf("refused with %d, want forwarded: %s", status, answer)
				}
				return
			case len(seen) > 1:
				t.Fatalf("PHP saw %d requests for one", len(seen))
			}
			s := seen[0]
			if c.want != "forwarded" {
				t.Errorf("forwarded (PHP answered %d), want refused", status)
			}
			if len(orders) != 1 {
				for _, reading := range []map[string]any{s.Post, s.Request} {
					if k, ok := mappedKey(form, reading); ok {
						t.Fatalf("PHP received field %q of a checkout the gateway did not screen (%d orders)", k, len(orders))
					}
				}
				return
			}
			screened := orders[0]
			for _, r := range []struct {
				name string
				form url.Values
			}{
				{"PHP $_POST", phpValues(s.Post)},
				{"PHP $_REQUEST", phpValues(s.Request)},
			} {
				checkSameOrder(t, form, r.name, r.form, screened)
			}
			if got := s.Screening["HTTP_X_SCREENING_DECISION"]; got != "accept" {
				t.Errorf("PHP got X-Screening-Decision %q, want accept", got)
			}
			if goForm, ok := c.goForm(); ok {
				checkSameOrder(t, form, "Go net/http Request.Form", goForm, screened)
			}
		})
	}
}

// checkSameOrder maps a storefront's reading of the form with the same
// route and checks that it gives the order the gateway screened.
func checkSameOrder(t *testing.T, route screening.InterceptRoute, reader string, form url.Values, screened screening.Order) {
	t.Helper()
	ip, err := netip.ParseAddr(screened.IP)
	if err != nil {
		t.Fatalf("screened order has IP %q: %v", screened.IP, err)
	}
	acted, err := route.MapOrder("application/x-www-form-urlencoded", "", nil, []byte(form.Encode()), ip, screened.UserAgent, screened.AcceptLanguage)
	if err != nil {
		t.Errorf("the gateway screened an order, but %s (%v) gives none: %v", reader, form, err)
		return
	}
	if diff := cmp.Diff(screened, acted); diff != "" {
		t.Errorf("%s acts on another order than the one screened (-screened +%s):\n%s", reader, reader, diff)
	}
}

// phpValues turns a PHP superglobal, as the router encodes it, into form
// values: a string as it is, an array as "key[]" (which the route refuses
// for a mapped field).
func phpValues(m map[string]any) url.Values {
	v := url.Values{}
	for k, x := range m {
		if s, ok := x.(string); ok {
			v.Add(k, s)
			continue
		}
		v.Add(k+"[]", fmt.Sprint(x))
	}
	return v
}

// mappedKey returns a key of a PHP superglobal that the route maps.
func mappedKey(route screening.InterceptRoute, m map[string]any) (string, bool) {
	for k := range m {
		for _, name := range route.Fields {
			if k == name {
				return k, true
			}
		}
	}
	return "", false
}

// seenLog reads the lines the PHP router appended since the last call.
type seenLog struct {
	path   string
	offset int
}

func (l *seenLog) next(t *testing.T) []phpSeen {
	t.Helper()
	b, err := os.ReadFile(l.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	b = b[l.offset:]
	l.offset += len(b)
	var out []phpSeen
	for line := range bytes.Lines(b) {
		var s phpSeen
		if err := json.Unmarshal(line, &s); err != nil {
			t.Fatalf("PHP router wrote %q: %v", line, err)
		}
		out = append(out, s)
	}
	return out
}

// TestPHPMutatedCheckouts is the fuzz property against the real PHP:
// the forwarded cases of the corpus are mutated (bytes from the
// separators, quotes, escapes and names the parsers disagree on are
// inserted into the body, Content-Type and query, or bytes deleted), and
// whatever MapOrder accepts is sent to PHP directly, which must act on the
// order screened ($_POST and $_REQUEST). Deterministic, so that a failure
// reproduces; run longer with -php.mutants.
func TestPHPMutatedCheckouts(t *testing.T) {
	php := testenv.StartPHPServer(t, "testdata/php/router.php", phpINI)
	route := screening.DemoInterceptRoutes()[0]
	route.SetDefaults()
	var seeds []checkoutCase
	for _, c := range loadCheckoutCases(t, "testdata/checkouts") {
		if c.want == "forwarded" {
			seeds = append(seeds, c)
		}
	}
	bodyTokens := []string{" ", "\t", "\r", "\n", "\r\n", `"`, "'", ";", "=", `\`, "--X", "[", "]", ".", "%", "+", "\x00",
		"name", "filename", "*", ":", ",", "%00", "%zz", "&", "country", "\r\n--X\r\n", "\r\n--X--\r\n",
		"Content-Disposition: form-data; name=\"country\"\r\n\r\nDE\r\n", "\xc0", "é", "boundary=", `"X"`, "X"}
	queryTokens := []string{"&", ";", "=", "%", "%00", "%zz", "+", ".", "[", "]", "country", "card_bin", "card", "bin", "_", "%63", "%5B", "%2E", "%20"}
	rng := rand.New(rand.NewPCG(7, 1))
	insert := func(s string, toks []string) string {
		p := rng.IntN(len(s) + 1)
		return s[:p] + toks[rng.IntN(len(toks))] + s[p:]
	}
	ip := netip.MustParseAddr("127.0.0.1")
	client := &http.Client{Timeout: 10 * time.Second}
	accepted, tried := 0, 0
	for ; accepted < *phpMutants && tried < 1000**phpMutants; tried++ {
		c := seeds[rng.IntN(len(seeds))]
		body, ct, query := string(c.body), c.header[0], "utm=1"
		ct = strings.TrimPrefix(ct, "Content-Type: ")
		for range 1 + rng.IntN(3) {
			switch rng.IntN(6) {
			case 0, 1, 2:
				body = insert(body, bodyTokens)
			case 3:
				p := rng.IntN(len(body))
				body = body[:p] + body[min(len(body), p+1+rng.IntN(8)):]
			case 4:
				ct = insert(ct, bodyTokens)
			case 5:
				query = insert(query, queryTokens)
			}
		}
		if strings.ContainsAny(ct, "\r\n\x00") {
			continue // no HTTP server delivers such a header
		}
		screened, err := route.MapOrder(ct, query, nil, []byte(body), ip, "", "")
		if err != nil {
			continue
		}
		req, err := http.NewRequest("POST", php.URL+"/checkout?"+query, strings.NewReader(body))
		if err != nil {
			continue // no client sends that URL
		}
		accepted++
		req.Header.Set("Content-Type", ct)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var s phpSeen
		err = json.NewDecoder(resp.Body).Decode(&s)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("decoding PHP's answer: %v", err)
		}
		for _, r := range []struct {
			name string
			form url.Values
		}{{"PHP $_POST", phpValues(s.Post)}, {"PHP $_REQUEST", phpValues(s.Request)}} {
			checkSameOrder(t, route, r.name, r.form, screened)
		}
		if t.Failed() {
			t.Fatalf("Content-Type %q, query %q, body %q", ct, query, body)
		}
	}
	t.Logf("%d mutants, %d accepted and sent to PHP", tried, accepted)
	if accepted < *phpMutants {
		t.Errorf("only %d of %d mutants were accepted: the mutations no longer exercise the gateway", accepted, *phpMutants)
	}
}

var phpMutants = flag.Int("php.mutants", 300, "accepted mutants TestPHPMutatedCheckouts sends to PHP")
