package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/internal/testenv"
)

// TestMain sets gin's process-wide mode as main does.
func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("listen: \":9080\"\n"), 0o600)
	os.WriteFile(bad, []byte("listen: \"nope\"\ngeoblock_typo: 1\n"), 0o600)
	risky := filepath.Join(dir, "risky.yaml")
	acked := filepath.Join(dir, "acked.yaml")
	os.WriteFile(risky, []byte("trusted_proxies: [0.0.0.0/0]\ngeoblock:\n  exempt_paths: [\"/\"]\n"), 0o600)
	os.WriteFile(acked, []byte("trusted_proxies: [0.0.0.0/0]\nacknowledge_risks: [trusted_proxies_public_range]\n"), 0o600)

	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"good file", []string{"check-config", "-config", good}, nil, 0, "configuration OK", ""},
		{"from GATEWAY_CONFIG", []string{"check-config"}, map[string]string{"GATEWAY_CONFIG": good}, 0, "configuration OK (" + good, ""},
		{"unknown key", []string{"check-config", "-config", bad}, nil, 2, "", "geoblock_typo"},
		{"bad env value", []string{"check-config"}, map[string]string{"GATEWAY_LISTEN": "nope"}, 2, "", `listen: "nope": must be host:port`},
		{"missing file", []string{"check-config", "-config", filepath.Join(dir, "none.yaml")}, nil, 2, "", "no such file"},
		{"trusted everyone refused", []string{"check-config", "-config", risky}, nil, 2, "", `trusted_proxies: "0.0.0.0/0": trusts more public address space`},
		{"whole-site exemption refused", []string{"check-config", "-config", risky}, nil, 2, "", `geoblock.exempt_paths: "/": exempts every path from the geo-block, so it blocks nobody (use mode: report to observe without blocking); refused unless acknowledge_risks lists exempt_paths_whole_site`},
		{"trusted everyone from env refused", []string{"check-config"}, map[string]string{"GATEWAY_TRUSTED_PROXIES": "::/0"}, 2, "", "refused unless acknowledge_risks lists trusted_proxies_public_range"},
		{"acknowledged still warned", []string{"check-config", "-config", acked}, nil, 0, "configuration OK", `WARNING: trusted_proxies = "0.0.0.0/0": trusts more public address space than a /8`},
		{"default warns about unknown allow", []string{"check-config", "-config", good}, nil, 0, "configuration OK", "WARNING: geoblock.unknown = \"allow\""},
		{"unknown command", []string{"frobnicate"}, nil, 2, "", `unknown command "frobnicate"`},
		{"stray argument", []string{"version", "extra"}, nil, 2, "", `unexpected argument "extra"`},
		{"version", []string{"version"}, nil, 0, "gateway dev", ""},
		{"help", []string{"check-config", "-h"}, nil, 0, "", "usage: gateway check-config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, strings.NewReader(""), &out, &errb, tt.env)
			if code != tt.wantCode {
				t.Errorf("exit = %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("stdout = %q, want it to contain %q", out.String(), tt.wantOut)
			}
			if !strings.Contains(errb.String(), tt.wantErr) {
				t.Errorf("stderr = %q, want it to contain %q", errb.String(), tt.wantErr)
			}
		})
	}
}

// serveInProcess runs `gateway serve` in this process with env as its whole
// environment and returns the public and admin base URLs once both answer.
func serveInProcess(t *testing.T, env map[string]string) (public, admin string, logs *testenv.Buffer) {
	t.Helper()
	// A test that needs the public address beforehand (for public_url)
	// sets GATEWAY_LISTEN itself.
	pubAddr, admAddr := env["GATEWAY_LISTEN"], testenv.FreeAddr(t)
	if pubAddr == "" {
		pubAddr = testenv.FreeAddr(t)
	}
	env["GATEWAY_LISTEN"] = pubAddr
	env["GATEWAY_ADMIN_LISTEN"] = admAddr
	if _, ok := env["GATEWAY_DATA_DIR"]; !ok {
		env["GATEWAY_DATA_DIR"] = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs = &testenv.Buffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, strings.NewReader(""), io.Discard, logs, env) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d; logs:\n%s", code, logs.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not stop within 30s of cancel")
		}
	})
	public, admin = "http://"+pubAddr, "http://"+admAddr
	waitFor(t, admin+"/healthz", 200, done, logs)
	return public, admin, logs
}

// waitFor polls url until it answers status; it gives up when the server
// exits or after a generous bound (start-up includes embedded servers).
func waitFor(t *testing.T, url string, status int, done chan int, logs *testenv.Buffer) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		select {
		case code := <-done:
			done <- code // for the cleanup, which waits for it
			t.Fatalf("serve exited early with %d; logs:\n%s", code, logs.String())
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			if resp.StatusCode == status {
				return last
			}
			last = resp.Status + " " + last
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered %d; last: %s\nlogs:\n%s", url, status, last, logs.String())
	return ""
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeZeroConfig is the embedded-mode smoke test: no configuration at
// all serves the demo storefront through the proxy, with every dependency
// in-process, and reports ready.
func TestServeZeroConfig(t *testing.T) {
	public, admin, logs := serveInProcess(t, map[string]string{})
	waitFor(t, admin+"/readyz", 200, nil, logs)
	code, body := get(t, public+"/")
	if code != 200 || !strings.Contains(body, "Demo VPS") {
		t.Errorf("GET / through the proxy = %d, want the demo storefront; body:\n%.300s", code, body)
	}
	if code, body := get(t, admin+"/metrics"); code != 200 || !strings.Contains(body, `listener="public"`) {
		t.Errorf("/metrics = %d, no public request counted", code)
	}
	if !strings.Contains(logs.String(), "EMBEDDED MODE") {
		t.Errorf("start-up did not announce embedded mode; logs:\n%s", logs.String())
	}
}

// TestServeRecoversWhenRedisReturns proves that the gateway starts while
// Redis is down, reports it on /readyz, and recovers by itself when Redis
// comes back, against a real redis-server.
func TestServeRecoversWhenRedisReturns(t *testing.T) {
	rp := testenv.StartRedis(t)
	s3 := testenv.S3(t)
	_, bucket := testenv.Bucket(t)
	rp.Stop()
	env := map[string]string{
		"GATEWAY_REDIS_URL":          rp.URL(),
		"GATEWAY_S3_ENDPOINT":        s3.Endpoint,
		"GATEWAY_S3_ACCESS_KEY":      s3.AccessKey,
		"GATEWAY_S3_SECRET_KEY":      s3.SecretKey,
		"GATEWAY_S3_BUCKET":          bucket,
		"GATEWAY_SCREENING_HASH_KEY": "0123456789abcdef0123456789abcdef",
	}
	_, admin, logs := serveInProcess(t, env)
	body := waitFor(t, admin+"/readyz", 503, nil, logs)
	if !strings.Contains(body, `"redis":`) || strings.Contains(body, `"redis":"ok"`) || !strings.Contains(body, `"s3":"ok"`) {
		t.Errorf("/readyz with Redis down = %s, want redis failing and s3 ok", body)
	}
	rp.Start()
	waitFor(t, admin+"/readyz", 200, nil, logs)
	rp.Stop()
	waitFor(t, admin+"/readyz", 503, nil, logs)
	rp.Start()
	waitFor(t, admin+"/readyz", 200, nil, logs)
}

func TestAuthCommands(t *testing.T) {
	secret := "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name     string
		args     []string
		stdin    string
		env      map[string]string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{name: "hash-key", args: []string{"hash-key"}, stdin: "sk_live_0123456789abcdefghij\n", wantOut: "sha256:"},
		{name: "hash-key short", args: []string{"hash-key"}, stdin: "short\n", wantCode: 2, wantErr: "at least 24"},
		{name: "hash-key empty stdin", args: []string{"hash-key"}, stdin: "", wantCode: 2, wantErr: "nothing on stdin"},
		{name: "hash-password", args: []string{"hash-password"}, stdin: "correct horse battery\n", wantOut: "$2a$12$"},
		{name: "hash-password short", args: []string{"hash-password"}, stdin: "pw\n", wantCode: 2, wantErr: "at least 12"},
		{name: "token", args: []string{"token", "-sub", "alice", "-role", "admin"}, env: map[string]string{"GATEWAY_AUTH_JWT_SECRET": secret}, wantOut: "eyJ"},
		{name: "token no secret", args: []string{"token", "-sub", "alice"}, wantCode: 2, wantErr: "jwt_secret is not set"},
		{name: "token no sub", args: []string{"token"}, wantCode: 2, wantErr: "-sub is required"},
		{name: "token ttl past max", args: []string{"token", "-sub", "a", "-ttl", "48h"}, env: map[string]string{"GATEWAY_AUTH_JWT_SECRET": secret}, wantCode: 2, wantErr: "token_max_ttl"},
		{name: "token ttl at max", args: []string{"token", "-sub", "a", "-ttl", "24h"}, env: map[string]string{"GATEWAY_AUTH_JWT_SECRET": secret}, wantOut: "eyJ"},
		{name: "token bad role", args: []string{"token", "-sub", "a", "-role", "root"}, env: map[string]string{"GATEWAY_AUTH_JWT_SECRET": secret}, wantCode: 2, wantErr: `role "root"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, strings.NewReader(tt.stdin), &out, &errb, tt.env)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) || !strings.Contains(errb.String(), tt.wantErr) {
				t.Errorf("exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", code, tt.wantCode, out.String(), tt.wantOut, errb.String(), tt.wantErr)
			}
		})
	}
}

func post(t *testing.T, url, key, ctype, body string) (int, http.Header, string) {
	t.Helper()
	h := http.Header{}
	if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
	return postHeaders(t, url, ctype, body, h)
}

// postHeaders is post with the client's own headers.
func postHeaders(t *testing.T, url, ctype, body string, h http.Header) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header = h.Clone()
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestServeScreensOrders runs the whole product against a real Redis and
// MinIO: the order API (accept, reject, idempotent replay, conflict), the
// demo storefront's checkout through interception, and Redis going away
// (503 with Retry-After, nothing recorded) and coming back.
func TestServeScreensOrders(t *testing.T) {
	rp := testenv.StartRedis(t)
	s3 := testenv.S3(t)
	_, bucket := testenv.Bucket(t)
	const apiKey = "shop-key-0123456789abcdefghij"
	env := map[string]string{
		"GATEWAY_REDIS_URL":                  rp.URL(),
		"GATEWAY_S3_ENDPOINT":                s3.Endpoint,
		"GATEWAY_S3_ACCESS_KEY":              s3.AccessKey,
		"GATEWAY_S3_SECRET_KEY":              s3.SecretKey,
		"GATEWAY_S3_BUCKET":                  bucket,
		"GATEWAY_SCREENING_HASH_KEY":         "0123456789abcdef0123456789abcdef",
		"GATEWAY_AUTH_API_KEYS":              `[{"name": "shop", "key_hash": "` + authHash(apiKey) + `"}]`,
		"GATEWAY_TRUSTED_PROXIES":            "127.0.0.1",
		"GATEWAY_SCREENING_VELOCITY_TIMEOUT": "2s",
	}
	public, admin, logs := serveInProcess(t, env)
	waitFor(t, admin+"/readyz", 200, nil, logs)

	order := `{"order_id":"INV-1","account":{"id":"42","email":"ann@example.com"},"ip":"192.0.2.7",
		"billing":{"country":"US"},"amount":"12.00","currency":"USD"}`
	code, _, body := post(t, admin+"/api/v1/orders", apiKey, "application/json", order)
	if code != 200 || !strings.Contains(body, `"decision":"accept"`) || !strings.Contains(body, `"status":"held"`) {
		t.Fatalf("POST order = %d %s, want 200 accept/held", code, body)
	}
	code, _, again := post(t, admin+"/api/v1/orders", apiKey, "application/json", order)
	if code != 200 || again != body {
		t.Errorf("replay = %d %s, want the same answer %s", code, again, body)
	}
	code, _, _ = post(t, admin+"/api/v1/orders", apiKey, "application/json", strings.Replace(order, "12.00", "99.00", 1))
	if code != 409 {
		t.Errorf("same id, different body = %d, want 409", code)
	}
	eu := `{"order_id":"INV-2","account":{"id":"43","email":"bob@example.com"},"ip":"192.0.2.8",
		"billing":{"country":"DE"},"amount":"12.00","currency":"EUR"}`
	code, _, body = post(t, admin+"/api/v1/orders", apiKey, "application/json", eu)
	if code != 200 || !strings.Contains(body, `"decision":"reject"`) || !strings.Contains(body, "billing_country_blocked") {
		t.Errorf("EU billing order = %d %s, want reject with billing_country_blocked", code, body)
	}
	if code, _, _ := post(t, admin+"/api/v1/orders", "", "application/json", order); code != 401 {
		t.Errorf("no API key = %d, want 401", code)
	}

	// The demo storefront's checkout goes through interception.
	form := "order_id=DEMO-1&email=carol%40example.com&name=Carol+Doe&country=US&plan=vps-s1&amount=5.00&currency=USD&card_bin=411111&card_last4=1111"
	req, _ := http.NewRequest("POST", public+"/checkout", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", "192.0.2.9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "accept") || !strings.Contains(string(page), "DEMO-1") {
		t.Errorf("demo checkout = %d, want the shop's confirmation showing the screening decision:\n%.500s", resp.StatusCode, page)
	}
	code, body = get(t, admin+"/api/v1/orders/DEMO-1")
	if code != 401 {
		t.Errorf("GET order without key = %d %s, want 401", code, body)
	}

	// Redis goes away: 503 with Retry-After, and the same order succeeds
	// once it is back.
	rp.Stop()
	late := strings.Replace(order, "INV-1", "INV-3", 1)
	code, hdr, body := post(t, admin+"/api/v1/orders", apiKey, "application/json", late)
	if code != 503 || hdr.Get("Retry-After") == "" {
		t.Errorf("POST with Redis down = %d (Retry-After %q) %s, want 503 with Retry-After", code, hdr.Get("Retry-After"), body)
	}
	rp.Start()
	waitFor(t, admin+"/readyz", 200, nil, logs)
	if code, _, body := post(t, admin+"/api/v1/orders", apiKey, "application/json", late); code != 200 {
		t.Errorf("retry after Redis returned = %d %s, want 200", code, body)
	}
}

func authHash(key string) string { return auth.HashKey(key) }

// A start-up failure after the GeoIP databases are open (here: the public
// port is taken) must not leave their reload loop running.
func TestServeFailureStopsBackgroundWork(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	env := map[string]string{
		"GATEWAY_LISTEN":       taken.Addr().String(),
		"GATEWAY_ADMIN_LISTEN": testenv.FreeAddr(t),
		"GATEWAY_DATA_DIR":     t.TempDir(),
	}
	var stderr testenv.Buffer
	if code := run(context.Background(), []string{"serve"}, strings.NewReader(""), io.Discard, &stderr, env); code != exitFailed {
		t.Fatalf("serve on a taken port exited %d, want %d; logs:\n%s", code, exitFailed, stderr.String())
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	if strings.Contains(stacks, "geoblock.(*DB).Run") {
		t.Errorf("the GeoIP reload loop is still running after serve returned:\n%s", stacks)
	}
}
