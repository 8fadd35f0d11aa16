package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vpsgate/gateway/internal/testenv"
)

// maxmindCountryDB is MaxMind's test database, in the repository (see
// geoblock/testdata/README.md).
const maxmindCountryDB = "../../geoblock/testdata/GeoIP2-Country-Test.mmdb"

const (
	// startTimeout bounds how long the gateway may take to answer /readyz.
	startTimeout = 30 * time.Second
	// stopTimeout bounds a graceful shutdown before the process is killed.
	stopTimeout = 10 * time.Second
	// startAttempts: a port found free may be taken before the gateway binds.
	startAttempts = 3
	// requestTimeout bounds every request a test makes.
	requestTimeout = 10 * time.Second
)

// build is the gateway binary, built once per test run into buildDir.
var (
	buildDir   string
	buildOnce  sync.Once
	binaryPath string
	buildErr   error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gateway-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: creating build directory:", err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// gatewayBinary builds ./cmd/gateway once and returns its path. It is built
// with -race when this test binary was, so that data races inside the
// gateway (say, between a reload and the lookups of the load) fail the test.
func gatewayBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: builds and runs the gateway binary; skipped with -short")
	}
	buildOnce.Do(func() {
		binaryPath, buildErr = buildGateway(filepath.Join(buildDir, "gateway"))
	})
	if buildErr != nil {
		t.Fatalf("e2e: %v", buildErr)
	}
	return binaryPath
}

func buildGateway(out string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("finding the go command: %w", err)
	}
	gomod, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if _, err := os.Stat(filepath.Join(root, "cmd", "gateway")); err != nil {
		return "", fmt.Errorf("finding the module root from GOMOD %q: %w", gomod, err)
	}
	args := []string{"build", "-o", out}
	if raceEnabled() {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/gateway")
	cmd := exec.Command(goBin, args...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return out, nil
}

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// gatewayProc is one running gateway.
type gatewayProc struct {
	public string // http://127.0.0.1:PORT of the public listener
	admin  string // http://127.0.0.1:PORT of the admin listener
	cmd    *exec.Cmd
	out    *testenv.Buffer // stdout and stderr
	done   chan struct{}
}

// startGateway runs the gateway with env (GATEWAY_* keys; listeners, data
// directory and a clean process environment are added) and waits until its
// /readyz answers 200. It is stopped when the test ends; its output is
// logged when the test failed, and a data race reported in it fails the
// test.
func startGateway(t *testing.T, env map[string]string) *gatewayProc {
	t.Helper()
	bin := gatewayBinary(t)
	dataDir := t.TempDir()
	var errs []error
	for range startAttempts {
		g, err := launch(t, bin, dataDir, env)
		if err == nil {
			return g
		}
		errs = append(errs, err)
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("e2e: starting the gateway: %v", errors.Join(errs...))
	return nil
}

func launch(t *testing.T, bin, dataDir string, env map[string]string) (*gatewayProc, error) {
	public, admin := testenv.FreeAddr(t), testenv.FreeAddr(t)
	g := &gatewayProc{
		public: "http://" + public,
		admin:  "http://" + admin,
		out:    &testenv.Buffer{},
		done:   make(chan struct{}),
	}
	// Only what the process needs: no GATEWAY_* variable of the developer's
	// shell may change the configuration under test.
	procEnv := []string{
		"GATEWAY_LISTEN=" + public,
		"GATEWAY_ADMIN_LISTEN=" + admin,
		"GATEWAY_DATA_DIR=" + dataDir,
		// A race ends the process at once, so the test sees it fail
		// instead of a warning buried in the log.
		"GORACE=halt_on_error=1",
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			procEnv = append(procEnv, k+"="+v)
		}
	}
	for k, v := range env {
		procEnv = append(procEnv, k+"="+v)
	}
	g.cmd = exec.Command(bin, "serve")
	g.cmd.Env = procEnv
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	if err := g.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		_ = g.cmd.Wait() // the exit status is judged from the output
		close(g.done)
	}()
	t.Cleanup(func() {
		g.stop()
		out := g.out.String()
		if strings.Contains(out, "WARNING: DATA RACE") {
			t.Errorf("e2e: the gateway reported a data race")
		}
		if t.Failed() {
			t.Logf("e2e: output of the gateway on %s (last 16 KiB):\n%s", public, tail(out, 16<<10))
		}
	})

	client := newClient()
	defer client.CloseIdleConnections()
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(g.admin + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g, nil
			}
		}
		select {
		case <-g.done:
			return nil, fmt.Errorf("the gateway exited before it was ready:\n%s", tail(g.out.String(), 4<<10))
		case <-deadline.C:
			return nil, fmt.Errorf("the gateway was not ready within %v (last error %v)", startTimeout, err)
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM (a graceful shutdown) and kills the process when it
// does not exit within stopTimeout.
func (g *gatewayProc) stop() {
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-g.done:
	case <-timer.C:
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// echo is what the upstream saw of a request.
type echo struct {
	Path           string   `json:"path"`
	Country        []string `json:"country"`
	XForwardedFor  []string `json:"x_forwarded_for"`
	Forwarded      []string `json:"forwarded"`
	XRealIP        []string `json:"x_real_ip"`
	ForwardedHost  []string `json:"x_forwarded_host"`
	ForwardedProto []string `json:"x_forwarded_proto"`
}

// upstreamHeader marks answers that come from the upstream, so that a test
// can tell a proxied answer from one the gateway wrote itself.
const upstreamHeader = "X-E2e-Upstream"

// startUpstream runs the storefront stand-in: it answers every request with
// the forwarding and country headers it received, as JSON.
func startUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := echo{
			Path:           r.URL.Path,
			Country:        r.Header.Values("X-Client-Country"),
			XForwardedFor:  r.Header.Values("X-Forwarded-For"),
			Forwarded:      r.Header.Values("Forwarded"),
			XRealIP:        r.Header.Values("X-Real-Ip"),
			ForwardedHost:  r.Header.Values("X-Forwarded-Host"),
			ForwardedProto: r.Header.Values("X-Forwarded-Proto"),
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(upstreamHeader, "1")
		_ = json.NewEncoder(w).Encode(e)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newClient() *http.Client {
	return &http.Client{
		// A fresh transport: no proxy from the environment, and a pool big
		// enough for the load test's workers.
		Transport: &http.Transport{MaxIdleConnsPerHost: 16},
		Timeout:   requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// copyDB copies a database into dir (the gateway must never see the shared
// file change) and returns the copy's path.
func copyDB(t *testing.T, src, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("reading test database: %v", err)
	}
	dst := filepath.Join(dir, name)
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatalf("copying test database: %v", err)
	}
	return dst
}

// reply is an answer from the gateway.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func do(ctx context.Context, client *http.Client, url string, header http.Header) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return reply{}, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("reading body of %s: %w", url, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

func mustDo(t *testing.T, client *http.Client, url string, header http.Header) reply {
	t.Helper()
	r, err := do(t.Context(), client, url, header)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return r
}

func (r reply) fromUpstream() bool { return r.header.Get(upstreamHeader) == "1" }

func (r reply) echo(t *testing.T) echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("upstream answer %q: %v", r.body, err)
	}
	return e
}

const wantLink = `</_gateway/blocked>; rel="blocked-by"`

// checkBlocked checks a 451 answer: RFC 7725 status and Link, no caching,
// JSON or HTML as asked, and that the upstream never saw the request.
func checkBlocked(t *testing.T, r reply, wantJSON bool) {
	t.Helper()
	if r.status != http.StatusUnavailableForLegalReasons {
		t.Fatalf("status = %d, want 451; body %q", r.status, r.body)
	}
	if r.fromUpstream() {
		t.Errorf("a blocked request reached the upstream")
	}
	if got := r.header.Get("Link"); got != wantLink {
		t.Errorf("Link = %q, want %q", got, wantLink)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	ct := r.header.Get("Content-Type")
	if wantJSON {
		if !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type = %q, want application/json", ct)
		}
		var body struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatalf("451 body %q is not JSON: %v", r.body, err)
		}
		if body.Error.Code != "unavailable_in_region" || body.Error.Message == "" {
			t.Errorf("451 JSON = %+v, want code unavailable_in_region and a message", body.Error)
		}
		return
	}
	if !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q, want text/html", ct)
	}
	if !bytes.HasPrefix(r.body, []byte("<!doctype html>")) || !bytes.Contains(r.body, []byte("451")) {
		t.Errorf("451 body is not the HTML page: %q", r.body)
	}
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// TestGeoblockTrustedProxy runs the gateway behind a trusted proxy on
// loopback, which tells it the visitor's address in X-Forwarded-For or
// Forwarded, with MaxMind's test database: 89.160.20.112 is SE (EU),
// 2a02:cfc0::1 FR (EU), 81.2.69.142 GB, 2a02:d500::1 has no country.
func TestGeoblockTrustedProxy(t *testing.T) {
	up := startUpstream(t)
	gw := startGateway(t, map[string]string{
		"GATEWAY_UPSTREAM":              up.URL,
		"GATEWAY_TRUSTED_PROXIES":       "127.0.0.1",
		"GATEWAY_GEOIP_COUNTRY_DB":      copyDB(t, maxmindCountryDB, t.TempDir(), "country.mmdb"),
		"GATEWAY_GEOBLOCK_EXEMPT_PATHS": "/healthz,/public/",
	})
	client := newClient()
	t.Cleanup(client.CloseIdleConnections)

	const htmlAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	tests := []struct {
		name   string
		path   string
		header http.Header
		// blocked: a 451, as JSON when wantJSON. refused: a 400 (the
		// client cannot be attributed).
		blocked, wantJSON, refused bool
		// Otherwise the upstream answers; wantCountry is the
		// X-Client-Country it saw (nil: none), wantXFF its
		// X-Forwarded-For (nil: not checked).
		wantCountry []string
		wantXFF     []string
	}{
		{name: "EU by XFF, JSON", path: "/cart", header: hdr("X-Forwarded-For", "89.160.20.112", "Accept", "application/json"), blocked: true, wantJSON: true},
		{name: "EU by XFF, +json type", path: "/cart", header: hdr("X-Forwarded-For", "89.160.20.112", "Accept", "application/problem+json, text/html;q=0.5"), blocked: true, wantJSON: true},
		{name: "EU by XFF, browser", path: "/cart", header: hdr("X-Forwarded-For", "89.160.20.112", "Accept", htmlAccept), blocked: true},
		{name: "EU by XFF, no Accept", path: "/", header: hdr("X-Forwarded-For", "89.160.20.112"), blocked: true},
		{name: "EU IPv6", path: "/", header: hdr("X-Forwarded-For", "2a02:cfc0::1"), blocked: true},
		{name: "EU IPv4-mapped IPv6", path: "/", header: hdr("X-Forwarded-For", "::ffff:89.160.20.112"), blocked: true},
		{name: "EU by Forwarded, quoted with port", path: "/", header: hdr("Forwarded", `for="89.160.20.112:4711";proto=https`), blocked: true},
		{name: "EU by Forwarded, IPv6", path: "/", header: hdr("Forwarded", `for="[2a02:cfc0::1]:443"`), blocked: true},
		{name: "EU visitor prepends a GB address", path: "/", header: hdr("X-Forwarded-For", "81.2.69.142, 89.160.20.112"), blocked: true},
		{name: "EU visitor sends X-Client-Country", path: "/", header: hdr("X-Forwarded-For", "89.160.20.112", "X-Client-Country", "GB"), blocked: true},
		{name: "EU visitor, XFF over Forwarded", path: "/", header: hdr("X-Forwarded-For", "89.160.20.112", "Forwarded", "for=81.2.69.142"), blocked: true},
		{
			name: "GB allowed", path: "/cart", header: hdr("X-Forwarded-For", "81.2.69.142"),
			wantCountry: []string{"GB"}, wantXFF: []string{"81.2.69.142"},
		},
		{
			name: "GB with a forged X-Client-Country", path: "/cart", header: hdr("X-Forwarded-For", "81.2.69.142", "X-Client-Country", "US"),
			wantCountry: []string{"GB"}, wantXFF: []string{"81.2.69.142"},
		},
		{
			name: "no country in the database: geoblock.unknown allows", path: "/", header: hdr("X-Forwarded-For", "2a02:d500::1"),
			wantXFF: []string{"2a02:d500::1"},
		},
		{
			// The trusted proxy reported garbage where the client should
			// be: the request cannot be attributed and is refused, never
			// answered with the proxy's own address (no country, so
			// geoblock.unknown: allow would let an EU visitor in).
			name: "garbage XFF", path: "/", header: hdr("X-Forwarded-For", "89.160.20.112, not-an-ip"), refused: true,
		},
		{name: "exempt exact path", path: "/healthz", header: hdr("X-Forwarded-For", "89.160.20.112")},
		{name: "exempt prefix", path: "/public/terms", header: hdr("X-Forwarded-For", "89.160.20.112")},
		{name: "exempt prefix needs its slash", path: "/publicity", header: hdr("X-Forwarded-For", "89.160.20.112"), blocked: true},
		{name: "exempt prefix cannot be stretched by dot segments", path: "/public/../cart", header: hdr("X-Forwarded-For", "89.160.20.112"), blocked: true},
		{name: "exact exemption is not a prefix", path: "/healthz/x", header: hdr("X-Forwarded-For", "89.160.20.112"), blocked: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustDo(t, client, gw.public+tc.path, tc.header)
			if tc.refused {
				if r.status != http.StatusBadRequest || r.fromUpstream() {
					t.Fatalf("GET %s = %d (from upstream: %v), want 400 from the gateway; body %q", tc.path, r.status, r.fromUpstream(), r.body)
				}
				return
			}
			if tc.blocked {
				checkBlocked(t, r, tc.wantJSON)
				return
			}
			if r.status != http.StatusOK || !r.fromUpstream() {
				t.Fatalf("GET %s = %d (from upstream: %v), want 200 from the upstream; body %q", tc.path, r.status, r.fromUpstream(), r.body)
			}
			e := r.echo(t)
			if e.Path != tc.path {
				t.Errorf("upstream path = %q, want %q", e.Path, tc.path)
			}
			if diff := cmp.Diff(tc.wantCountry, e.Country); diff != "" {
				t.Errorf("X-Client-Country at the upstream (-want +got):\n%s", diff)
			}
			if tc.wantXFF != nil {
				if diff := cmp.Diff(tc.wantXFF, e.XForwardedFor); diff != "" {
					t.Errorf("X-Forwarded-For at the upstream (-want +got):\n%s", diff)
				}
			}
		})
	}

	t.Run("policy page is readable from a blocked country", func(t *testing.T) {
		r := mustDo(t, client, gw.public+"/_gateway/blocked", hdr("X-Forwarded-For", "89.160.20.112"))
		if r.status != http.StatusOK || r.fromUpstream() {
			t.Fatalf("GET /_gateway/blocked = %d (from upstream: %v), want 200 from the gateway", r.status, r.fromUpstream())
		}
		if !bytes.Contains(r.body, []byte("not available in your region")) {
			t.Errorf("policy page = %q, want the explanation", r.body)
		}
	})
}

// TestGeoblockUntrustedPeer runs a gateway that trusts no proxy, so the
// socket peer (127.0.0.1) is the client. With geoblock.unknown=block that
// peer, which the database does not place, is refused: every forwarding or
// country header a client adds to escape must be ignored, and on an exempt
// path, where the request does reach the upstream, none of them may be
// passed on.
func TestGeoblockUntrustedPeer(t *testing.T) {
	up := startUpstream(t)
	gw := startGateway(t, map[string]string{
		"GATEWAY_UPSTREAM":              up.URL,
		"GATEWAY_GEOIP_COUNTRY_DB":      copyDB(t, maxmindCountryDB, t.TempDir(), "country.mmdb"),
		"GATEWAY_GEOBLOCK_UNKNOWN":      "block",
		"GATEWAY_GEOBLOCK_EXEMPT_PATHS": "/public/",
	})
	if !strings.Contains(gw.out.String(), "trusted_proxies is empty") {
		t.Errorf("no start-up warning that forwarded headers are ignored")
	}
	client := newClient()
	t.Cleanup(client.CloseIdleConnections)

	const gb = "81.2.69.142" // allowed, if a spoof worked
	spoofs := []struct {
		name   string
		header http.Header
	}{
		{"X-Forwarded-For", hdr("X-Forwarded-For", gb)},
		{"X-Forwarded-For list", hdr("X-Forwarded-For", gb+", "+gb)},
		{"Forwarded", hdr("Forwarded", "for="+gb)},
		{"Forwarded quoted", hdr("Forwarded", `for="`+gb+`:443"`)},
		{"X-Real-IP", hdr("X-Real-IP", gb)},
		{"X-Client-Country", hdr("X-Client-Country", "GB")},
		{"True-Client-IP and CF-Connecting-IP", hdr("True-Client-IP", gb, "CF-Connecting-IP", gb)},
		{"everything at once", hdr(
			"X-Forwarded-For", gb, "Forwarded", "for="+gb, "X-Real-IP", gb, "X-Client-Country", "GB",
			"X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https",
		)},
	}
	for _, s := range spoofs {
		t.Run("blocked despite "+s.name, func(t *testing.T) {
			checkBlocked(t, mustDo(t, client, gw.public+"/cart", s.header), false)
		})
	}

	t.Run("nothing spoofed reaches the upstream", func(t *testing.T) {
		r := mustDo(t, client, gw.public+"/public/x", spoofs[len(spoofs)-1].header)
		if r.status != http.StatusOK || !r.fromUpstream() {
			t.Fatalf("GET /public/x = %d, want 200 from the upstream; body %q", r.status, r.body)
		}
		got := r.echo(t)
		want := echo{
			Path: "/public/x",
			// Only what the gateway itself adds: the socket peer, and the
			// host and scheme the client really used.
			XForwardedFor:  []string{"127.0.0.1"},
			XRealIP:        []string{"127.0.0.1"},
			Forwarded:      []string{`for=127.0.0.1;host="` + strings.TrimPrefix(gw.public, "http://") + `";proto=http`},
			ForwardedHost:  []string{strings.TrimPrefix(gw.public, "http://")},
			ForwardedProto: []string{"http"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("headers at the upstream (-want +got):\n%s", diff)
		}
	})
}

// TestGeoblockReportMode: in report mode a visitor from a blocked country
// passes (with the country told to the upstream) and is counted as
// would_block on the admin listener's /metrics.
func TestGeoblockReportMode(t *testing.T) {
	up := startUpstream(t)
	gw := startGateway(t, map[string]string{
		"GATEWAY_UPSTREAM":         up.URL,
		"GATEWAY_TRUSTED_PROXIES":  "127.0.0.1",
		"GATEWAY_GEOIP_COUNTRY_DB": copyDB(t, maxmindCountryDB, t.TempDir(), "country.mmdb"),
		"GATEWAY_GEOBLOCK_MODE":    "report",
	})
	client := newClient()
	t.Cleanup(client.CloseIdleConnections)

	const euRequests = 3
	for range euRequests {
		r := mustDo(t, client, gw.public+"/cart", hdr("X-Forwarded-For", "89.160.20.112", "Accept", "application/json"))
		if r.status != http.StatusOK || !r.fromUpstream() {
			t.Fatalf("report mode: GET /cart from SE = %d, want 200 from the upstream; body %q", r.status, r.body)
		}
		if diff := cmp.Diff([]string{"SE"}, r.echo(t).Country); diff != "" {
			t.Errorf("X-Client-Country at the upstream (-want +got):\n%s", diff)
		}
	}
	if r := mustDo(t, client, gw.public+"/", hdr("X-Forwarded-For", "81.2.69.142")); r.status != http.StatusOK {
		t.Fatalf("report mode: GET / from GB = %d, want 200", r.status)
	}

	got := decisions(t, client, gw.admin)
	want := map[string]float64{"would_block/SE": euRequests, "allowed/GB": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("gateway_geoblock_decisions_total by outcome/country (-want +got):\n%s", diff)
	}
	// The request metrics count the same four proxied requests (the
	// gateway caches the metric children per label set).
	fams := scrape(t, client, gw.admin)
	var proxied, observed float64
	for _, m := range fams["gateway_http_requests_total"].GetMetric() {
		if label(m, "listener") == "public" && label(m, "route") == "proxy" && label(m, "method") == "GET" && label(m, "code") == "200" {
			proxied = m.GetCounter().GetValue()
		}
	}
	for _, m := range fams["gateway_http_request_duration_seconds"].GetMetric() {
		if label(m, "listener") == "public" && label(m, "route") == "proxy" {
			observed = float64(m.GetHistogram().GetSampleCount())
		}
	}
	if proxied != euRequests+1 || observed != euRequests+1 {
		t.Errorf("public proxy requests: counted %v, timed %v, want %d each", proxied, observed, euRequests+1)
	}
	if !strings.Contains(gw.out.String(), "geoblock would refuse request (report mode)") {
		t.Errorf("report mode logged no would-block decision")
	}
}

// decisions returns gateway_geoblock_decisions_total as "outcome/country"
// -> count.
func decisions(t *testing.T, client *http.Client, admin string) map[string]float64 {
	t.Helper()
	fams := scrape(t, client, admin)
	out := map[string]float64{}
	for _, m := range fams["gateway_geoblock_decisions_total"].GetMetric() {
		out[label(m, "outcome")+"/"+label(m, "country")] = m.GetCounter().GetValue()
	}
	return out
}

func scrape(t *testing.T, client *http.Client, admin string) map[string]*dto.MetricFamily {
	t.Helper()
	r := mustDo(t, client, admin+"/metrics", hdr("Accept", "text/plain"))
	if r.status != http.StatusOK {
		t.Fatalf("GET /metrics = %d", r.status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// countryCounter returns the value of the counter name{db="country"}, 0 when
// absent.
func countryCounter(t *testing.T, client *http.Client, admin, name string) float64 {
	t.Helper()
	for _, m := range scrape(t, client, admin)[name].GetMetric() {
		if label(m, "db") == "country" {
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// answer is what the load test compares: the status and, for a proxied
// request, the country the upstream was told ("" for none).
type answer struct {
	status  int
	country string
}

func (a answer) String() string { return fmt.Sprintf("%d %q", a.status, a.country) }

// ask sends one request as a visitor from ip and reduces the reply to an
// answer, or an error when it is malformed.
func ask(ctx context.Context, client *http.Client, base, ip string) (answer, error) {
	r, err := do(ctx, client, base+"/cart", hdr("X-Forwarded-For", ip, "Accept", "application/json"))
	if err != nil {
		return answer{}, err
	}
	switch r.status {
	case http.StatusUnavailableForLegalReasons:
		if r.fromUpstream() || r.header.Get("Link") != wantLink || !bytes.Contains(r.body, []byte(`"unavailable_in_region"`)) {
			return answer{}, fmt.Errorf("malformed 451: %v %q", r.header, r.body)
		}
		return answer{status: r.status}, nil
	case http.StatusOK:
		var e echo
		if !r.fromUpstream() || json.Unmarshal(r.body, &e) != nil || len(e.Country) > 1 {
			return answer{}, fmt.Errorf("malformed 200: %v %q", r.header, r.body)
		}
		a := answer{status: r.status}
		if len(e.Country) == 1 {
			a.country = e.Country[0]
		}
		return a, nil
	}
	return answer{}, fmt.Errorf("status %d: %q", r.status, r.body)
}

// TestGeoblockReloadUnderLoad replaces the country database by an atomic
// rename while four clients keep asking, and checks that every answer is
// either the old database's or the new one's: no failed request, no third
// answer, and for each client never the old answer again once it has seen
// the new one. The databases have the format of the real-world
// geo-whois-asn-country and iptoasn-country files and their answers for the
// addresses probed (they disagree), with 65536 more networks each so that
// opening one takes a while (testenv.FlatCountryDB; the real 13 MB files
// stay outside the repository).
func TestGeoblockReloadUnderLoad(t *testing.T) {
	up := startUpstream(t)
	dir := t.TempDir()
	live := filepath.Join(dir, "country.mmdb")
	if err := os.WriteFile(live, testenv.FlatCountryDB(t, testenv.GeoWhoisNetworks(), 1<<16), 0o644); err != nil {
		t.Fatal(err)
	}
	// Staged in the same directory, so the rename is atomic.
	staged := filepath.Join(dir, "country.mmdb.new")
	if err := os.WriteFile(staged, testenv.FlatCountryDB(t, testenv.IPToASNNetworks(), 1<<16), 0o644); err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, map[string]string{
		"GATEWAY_UPSTREAM":              up.URL,
		"GATEWAY_TRUSTED_PROXIES":       "127.0.0.1",
		"GATEWAY_GEOIP_COUNTRY_DB":      live,
		"GATEWAY_GEOIP_RELOAD_INTERVAL": "200ms",
		"GATEWAY_LOG_ACCESS":            "errors",
	})
	client := newClient()
	t.Cleanup(client.CloseIdleConnections)

	// The real files' answers (shared/testdata/geo/README.md):
	// geo-whois-asn-country says FR and AU, iptoasn-country US for both;
	// both say GB for the control.
	blocked := answer{status: http.StatusUnavailableForLegalReasons}
	probes := []struct {
		ip       string
		old, new answer
	}{
		{"1.179.112.1", blocked, answer{http.StatusOK, "US"}},
		{"1.1.1.1", answer{http.StatusOK, "AU"}, answer{http.StatusOK, "US"}},
		{"81.2.69.142", answer{http.StatusOK, "GB"}, answer{http.StatusOK, "GB"}},
	}
	for _, p := range probes {
		got, err := ask(t.Context(), client, gw.public, p.ip)
		if err != nil || got != p.old {
			t.Fatalf("before the reload, %s: %v %v, want %v (did the test databases change?)", p.ip, got, err, p.old)
		}
	}

	const (
		workers = 4
		// warmRequests per worker run on the old database before the swap.
		warmRequests = 30
		// afterRequests per worker run once it has seen every new answer.
		afterRequests = 150
		// maxRequests bounds each worker whatever happens.
		maxRequests = 20000
	)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	var (
		mu       sync.Mutex
		problems []string
		total    atomic.Int64
	)
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		} else if len(problems) == 20 {
			problems = append(problems, "...")
		}
	}
	warm := make(chan struct{}, workers)
	switched := make([]bool, workers) // written by worker w only, read after Wait
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			sawNew := make([]bool, len(probes))
			after := 0
			for i := range maxRequests {
				if ctx.Err() != nil {
					return
				}
				if i == warmRequests {
					warm <- struct{}{}
				}
				pi := (i + w) % len(probes)
				p := probes[pi]
				got, err := ask(ctx, client, gw.public, p.ip)
				total.Add(1)
				switch {
				case err != nil:
					if ctx.Err() == nil {
						report("worker %d, %s: %v", w, p.ip, err)
					}
					continue
				case got == p.new:
					sawNew[pi] = true
				case got == p.old:
					if sawNew[pi] {
						report("worker %d, %s: old answer %v after the new one", w, p.ip, got)
					}
				default:
					report("worker %d, %s: %v is neither the old answer %v nor the new %v", w, p.ip, got, p.old, p.new)
				}
				all := true
				for _, s := range sawNew {
					all = all && s
				}
				if all {
					switched[w] = true
					if after++; after >= afterRequests {
						return
					}
				}
			}
		})
	}

	// Swap only once every worker runs on the old database, so the load
	// overlaps the reload.
	for range workers {
		select {
		case <-warm:
		case <-ctx.Done():
		}
	}
	if err := os.Rename(staged, live); err != nil {
		cancel()
		wg.Wait()
		t.Fatalf("renaming the new database into place: %v", err)
	}
	renamed := time.Now()
	wg.Wait()
	t.Logf("%d requests; the load ended %v after the rename", total.Load(), time.Since(renamed).Round(time.Millisecond))

	for _, p := range problems {
		t.Error(p)
	}
	for w, ok := range switched {
		if !ok {
			t.Errorf("worker %d never saw every new answer within the time limit", w)
		}
	}
	if got := countryCounter(t, client, gw.admin, "gateway_geoip_reloads_total"); got != 1 {
		t.Errorf("gateway_geoip_reloads_total{db=country} = %v, want 1", got)
	}
	if t.Failed() {
		return
	}

	// A broken file renamed over the database is refused and the loaded
	// one stays in service.
	broken := filepath.Join(dir, "country.mmdb.broken")
	if err := os.WriteFile(broken, []byte("this is not a MaxMind DB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(broken, live); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the broken database to be refused", func() bool {
		return countryCounter(t, client, gw.admin, "gateway_geoip_reload_errors_total") >= 1
	})
	for _, p := range probes {
		got, err := ask(t.Context(), client, gw.public, p.ip)
		if err != nil || got != p.new {
			t.Errorf("after refusing a broken file, %s: %v %v, want %v", p.ip, got, err, p.new)
		}
	}
	if !strings.Contains(gw.out.String(), "geoip database refused, keeping the loaded one") {
		t.Errorf("the refused file was not logged")
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("waited %v for %s", timeout, what)
		case <-tick.C:
		}
	}
}
