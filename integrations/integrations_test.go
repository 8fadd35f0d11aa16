package integrations_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/testenv"
)

const (
	shopKey   = "shop-key-integrations-0123456789abcdef"
	jwtSecret = "jwt-secret-integrations-0123456789abcdef"
)

// gatewayProc is `gateway serve` running as its own process, as an
// operator runs it.
type gatewayProc struct {
	public, admin string
	cmd           *exec.Cmd
	done          chan struct{}
	logs          *testenv.Buffer
}

// gatewayBinary builds ./cmd/gateway once for all the tests of this run,
// into a directory removed when the run ends (TestMain).
var gatewayBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(buildDir, "gateway")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/gateway")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gateway: %v\n%s", err, out)
	}
	return bin, nil
})

var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "integrations-gateway-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildGateway(t *testing.T) string {
	t.Helper()
	bin, err := gatewayBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// backend is the real servers one gateway runs on: a private Redis (so a
// test can stop it), a bucket of the test MinIO, a private mailpit.
type backend struct {
	redis   *testenv.RedisProcess
	mailpit *testenv.MailpitProcess
	env     map[string]string
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	rp := testenv.StartRedis(t)
	s3 := testenv.S3(t)
	_, bucket := testenv.Bucket(t)
	_, auditBucket := testenv.Bucket(t)
	mp := testenv.StartMailpit(t)
	sum := sha256.Sum256([]byte(shopKey))
	return &backend{redis: rp, mailpit: mp, env: map[string]string{
		"GATEWAY_REDIS_URL":          rp.URL(),
		"GATEWAY_S3_ENDPOINT":        s3.Endpoint,
		"GATEWAY_S3_ACCESS_KEY":      s3.AccessKey,
		"GATEWAY_S3_SECRET_KEY":      s3.SecretKey,
		"GATEWAY_S3_BUCKET":          bucket,
		"GATEWAY_AUDIT_BUCKET":       auditBucket,
		"GATEWAY_SCREENING_HASH_KEY": "0123456789abcdef0123456789abcdef",
		"GATEWAY_AUTH_API_KEYS":      `[{"name": "shop", "key_hash": "sha256:` + hex.EncodeToString(sum[:]) + `"}]`,
		"GATEWAY_AUTH_JWT_SECRET":    jwtSecret,
		"GATEWAY_HOLDS_KYC_WHEN":     "never",
		"GATEWAY_SMTP_URL":           mp.SMTPURL(),
		"GATEWAY_MAIL_FROM":          "shop@example.com",
	}}
}

// start runs the gateway on b until stop or the end of the test, and
// waits until /readyz answers 200.
func (b *backend) start(t *testing.T, bin string) *gatewayProc {
	t.Helper()
	pub, adm := testenv.FreeAddr(t), testenv.FreeAddr(t)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"GATEWAY_LISTEN=" + pub, "GATEWAY_ADMIN_LISTEN=" + adm,
		"GATEWAY_PUBLIC_URL=http://" + pub, "GATEWAY_DATA_DIR=" + t.TempDir()}
	for k, v := range b.env {
		env = append(env, k+"="+v)
	}
	g := &gatewayProc{public: "http://" + pub, admin: "http://" + adm, logs: &testenv.Buffer{}, done: make(chan struct{})}
	g.cmd = exec.Command(bin, "serve")
	g.cmd.Env = env
	g.cmd.Stdout, g.cmd.Stderr = g.logs, g.logs
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("starting the gateway: %v", err)
	}
	go func() { g.cmd.Wait(); close(g.done) }()
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("gateway logs:\n%s", g.logs.String())
		}
	})
	g.waitReady(t)
	return g
}

// waitReady polls /readyz until it answers 200: at start-up, and after a
// dependency came back.
func (g *gatewayProc) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-g.done:
			t.Fatalf("the gateway exited:\n%s", g.logs.String())
		default:
		}
		if resp, err := http.Get(g.admin + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway was not ready after 30s:\n%s", g.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends the gateway (SIGTERM, then SIGKILL) and waits for it.
func (g *gatewayProc) stop() {
	if g.cmd.Process == nil {
		return
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(20 * time.Second):
		g.cmd.Process.Kill()
		<-g.done
	}
}

// verifyEmail clears an order held on email verification the way the
// customer does: the link from the mail in mailpit, then the page's
// Confirm button.
func verifyEmail(t *testing.T, b *backend, g *gatewayProc, email string) {
	t.Helper()
	re := regexp.MustCompile(`http://\S+/_gateway/verify-email\?token=[A-Za-z0-9._-]+`)
	var link string
	deadline := time.Now().Add(30 * time.Second)
	for link == "" {
		for _, m := range testenv.MailpitMessages(t, b.mailpit.API(), email) {
			link = re.FindString(m.Text)
		}
		if link == "" {
			if time.Now().After(deadline) {
				t.Fatalf("no verification mail for %s after 30s\n%s", email, g.logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(g.public+"/_gateway/verify-email", url.Values{"token": {u.Query().Get("token")}, "action": {"confirm"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "verified") {
		t.Fatalf("confirming %s = %d:\n%.500s", email, resp.StatusCode, page)
	}
}

// phpCase is one run of a module's php-cli test: its environment, and
// whether its assertions must hold.
type phpCase map[string]string

// baseCase returns the case maker of one gateway: the module's settings
// (the gateway's admin URL, the right key) and the order's customer.
func baseCase(g *gatewayProc) func(order, email, country string) phpCase {
	return func(order, email, country string) phpCase {
		return phpCase{"VPSGATE_URL": g.admin, "VPSGATE_KEY": shopKey, "ORDER": order, "EMAIL": email, "COUNTRY": country,
			"GATEWAY_CHECK_URL": g.admin, "GATEWAY_CHECK_KEY": shopKey}
	}
}

// with returns a copy of c with the key/value pairs kv set.
func with(c phpCase, kv ...string) phpCase {
	out := phpCase{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// runPHP runs script with php-cli (no php.ini, so the machine's settings
// do not matter) and the case's environment; the script's own assertions
// decide, its exit status is the verdict.
func runPHP(t *testing.T, script string, c phpCase) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.PHP(t), "-n", "-d", "error_reporting=-1", "-d", "display_errors=stderr", script)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range c {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("php %s with %v: %v\n%s", script, c, err, out)
		return
	}
	var res struct {
		OK     bool `json:"ok"`
		Checks int  `json:"checks"`
	}
	if json.Unmarshal(out, &res) != nil || !res.OK || res.Checks == 0 {
		t.Errorf("php %s: not a passing summary (or nothing checked):\n%s", script, out)
		return
	}
	t.Logf("php %s STEP=%s ORDER=%s: %d checks held", script, c["STEP"], c["ORDER"], res.Checks)
}

// brokenGateways are servers that answer like no gateway should: each must
// make the module refuse the activation.
func brokenGateways(t *testing.T, target string) map[string]string {
	t.Helper()
	handlers := map[string]http.HandlerFunc{
		"500 page": func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html>Internal Server Error</html>", 500)
		},
		"garbage": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "\x00\xffnot json{")
		},
		"no status": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"order_id": "1", "decision": "accept"}`)
		},
		"unknown status": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"order_id": "1", "status": "CLEARED"}`)
		},
		"another order": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"order_id": "999", "status": "cleared"}`)
		},
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target+r.URL.Path, http.StatusFound)
		},
	}
	urls := map[string]string{}
	for name, h := range handlers {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		urls[name] = s.URL
	}
	// Accepts connections and never answers: the module's timeout must end
	// the call.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		var held []net.Conn
		for {
			c, err := l.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	urls["silent"] = "http://" + l.Addr().String()
	return urls
}

// deadURL is a loopback address nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	return "http://" + testenv.FreeAddr(t)
}

func uniqueEmail(name string) string {
	return fmt.Sprintf("%s-%d@example.com", name, time.Now().UnixNano())
}
