package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load("", nil)
	if err != nil {
		t.Fatalf("Load(no file) error: %v", err)
	}
	if cfg.Listen != ":8080" || cfg.AdminListen != "127.0.0.1:8081" {
		t.Errorf("listeners = %q, %q; want :8080, 127.0.0.1:8081", cfg.Listen, cfg.AdminListen)
	}
	if got := cfg.Embedded(); !got.Redis || !got.S3 || !got.Upstream {
		t.Errorf("Embedded() = %+v, want redis, s3 and upstream embedded", got)
	}
}

func TestLoadFileAndEnv(t *testing.T) {
	path := writeFile(t, `
listen: ":9000"
upstream: "http://shop.internal:8000"
trusted_proxies: ["10.0.0.0/8"]
redis:
  url: "redis://:${REDIS_PW}@127.0.0.1:6379/2"
s3:
  endpoint: "minio:9000"
  access_key: "ak"
  secret_key: "${S3_SECRET}"
server:
  read_header_timeout: 750ms
screening:
  hash_key: "${HASH_KEY}"
`)
	env := map[string]string{
		"REDIS_PW":                   "pw",
		"S3_SECRET":                  "sk",
		"HASH_KEY":                   "0123456789abcdef0123456789abcdef",
		"GATEWAY_ADMIN_LISTEN":       "127.0.0.1:9001",
		"GATEWAY_TRUSTED_PROXIES":    "192.0.2.1, 2001:db8::/32",
		"GATEWAY_PROXY_DIAL_TIMEOUT": "3s",
		"GATEWAY_S3_SECURE":          "true",
		"GATEWAY_TEST_REDIS_URL":     "ignored: test harness variable",
	}
	cfg, err := Load(path, env)
	if err != nil {
		t.Fatalf("Load error: %v", err)
	}
	got := map[string]any{
		"listen": cfg.Listen, "admin_listen": cfg.AdminListen, "trusted": cfg.TrustedProxies,
		"redis": cfg.Redis.URL, "secret": cfg.S3.SecretKey, "secure": cfg.S3.Secure,
		"rht": cfg.Server.ReadHeaderTimeout, "dial": cfg.Proxy.DialTimeout,
	}
	want := map[string]any{
		"listen": ":9000", "admin_listen": "127.0.0.1:9001", "trusted": []string{"192.0.2.1", "2001:db8::/32"},
		"redis": "redis://:pw@127.0.0.1:6379/2", "secret": "sk", "secure": true,
		"rht": 750 * time.Millisecond, "dial": 3 * time.Second,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load mismatch (-want +got):\n%s", diff)
	}
	red := cfg.Redacted()
	if s := red["redis.url"].(string); strings.Contains(s, "pw") {
		t.Errorf("Redacted redis.url = %q, still holds the password", s)
	}
	if red["s3.secret_key"] != "[redacted]" {
		t.Errorf("Redacted s3.secret_key = %v", red["s3.secret_key"])
	}
}

// TestLoadReportsEveryProblem checks that one run names every bad key, its
// value and what is wrong, so an operator fixes the file in one go.
func TestLoadReportsEveryProblem(t *testing.T) {
	path := writeFile(t, `
listen: "not-an-address"
upstream: "ftp://shop"
trusted_proxies: ["10.0.0.0/33"]
log:
  level: loud
redis:
  mode: ring
s3:
  bucket: "Bad_Bucket"
  secret_key: "${MISSING_SECRET}"
`)
	_, err := Load(path, map[string]string{"GATEWAY_PROXY_DIAL_TIMEOUT": "soon"})
	var cfgErr *Error
	if !errors.As(err, &cfgErr) {
		t.Fatalf("Load error = %v, want *config.Error", err)
	}
	for _, want := range []string{
		`s3.secret_key: "${MISSING_SECRET}": environment variable MISSING_SECRET is not set`,
		`proxy.dial_timeout: "soon"`,
		`listen: "not-an-address": must be host:port`,
		`upstream: "ftp://shop": must be an absolute http://`,
		`trusted_proxies`,
		`log.level: "loud"`,
		`redis.mode: "ring"`,
		`s3.bucket: "Bad_Bucket"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestLoadEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad duration", map[string]string{"GATEWAY_PROXY_DIAL_TIMEOUT": "soon"}, `proxy.dial_timeout: "soon": from GATEWAY_PROXY_DIAL_TIMEOUT: not a duration`},
		{"bad bool", map[string]string{"GATEWAY_S3_SECURE": "maybe"}, `s3.secure: "maybe"`},
		{"bad int", map[string]string{"GATEWAY_REDIS_POOL_SIZE": "many"}, `redis.pool_size: "many"`},
		{"unknown variable", map[string]string{"GATEWAY_LISTEN_PORT": "80"}, `GATEWAY_LISTEN_PORT: no configuration key`},
		{"empty variable is unset", map[string]string{"GATEWAY_GEOBLOCK_COUNTRIES": "", "GATEWAY_LISTEN": "nope"}, `listen: "nope"`},
		{"secret not echoed", map[string]string{"GATEWAY_S3_SECRET_KEY": "hunter2", "GATEWAY_S3_ENDPOINT": "h:1"}, `s3.access_key: is required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("", tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load() error = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error echoes a secret: %v", err)
			}
		})
	}
}

func TestLoadUnknownKey(t *testing.T) {
	path := writeFile(t, "listen: \":8080\"\nlisten_port: 80\n")
	_, err := Load(path, nil)
	if err == nil || !strings.Contains(err.Error(), "listen_port") {
		t.Fatalf("Load() error = %v, want the unknown key named", err)
	}
}

func TestEnvNamesCoverEveryKey(t *testing.T) {
	var cfg Config
	seen := map[string]string{}
	for _, l := range leaves(reflect.ValueOf(&cfg), "") {
		name := EnvName(l.key)
		if prev, dup := seen[name]; dup {
			t.Errorf("keys %s and %s share the variable %s", prev, l.key, name)
		}
		seen[name] = l.key
	}
	for _, want := range []string{"GATEWAY_LISTEN", "GATEWAY_REDIS_URL", "GATEWAY_S3_BUCKET", "GATEWAY_SERVER_READ_TIMEOUT"} {
		if _, ok := seen[want]; !ok {
			t.Errorf("no key for %s", want)
		}
	}
}

func TestRedisModes(t *testing.T) {
	tests := []struct {
		url, mode string
		wantAddrs []string
		master    string
		cluster   bool
		wantErr   bool
	}{
		{url: "redis://127.0.0.1:6379/3", mode: "auto", wantAddrs: []string{"127.0.0.1:6379"}},
		{url: "redis://s1:26379?master_name=mymaster&addr=s2:26379", mode: "auto", wantAddrs: []string{"s1:26379", "s2:26379"}, master: "mymaster"},
		{url: "redis://n1:7000?addr=n2:7000&addr=n3:7000", mode: "auto", wantAddrs: []string{"n1:7000", "n2:7000", "n3:7000"}, cluster: true},
		{url: "redis://n1:7000", mode: "cluster", wantAddrs: []string{"n1:7000"}, cluster: true},
		{url: "http://x", mode: "auto", wantErr: true},
		{url: "redis://s1:26379", mode: "sentinel", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.url+" "+tt.mode, func(t *testing.T) {
			c := RedisConfig{URL: tt.url, Mode: tt.mode}
			o, err := c.UniversalOptions()
			if tt.wantErr {
				if err == nil {
					t.Fatalf("UniversalOptions() = %+v, want error", o)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantAddrs, o.Addrs); diff != "" {
				t.Errorf("Addrs (-want +got):\n%s", diff)
			}
			if o.MasterName != tt.master || o.IsClusterMode != tt.cluster {
				t.Errorf("master=%q cluster=%v, want %q %v", o.MasterName, o.IsClusterMode, tt.master, tt.cluster)
			}
		})
	}
}

// TestExampleConfig keeps configs/gateway.example.yaml complete and true:
// it loads, and it names every key of Config.
func TestExampleConfig(t *testing.T) {
	const path = "../../configs/gateway.example.yaml"
	if _, err := Load(path, nil); err != nil {
		t.Fatalf("the example configuration does not load: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		if n.Kind == yaml.DocumentNode {
			walk(prefix, n.Content[0])
			return
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if prefix != "" {
				key = prefix + "." + key
			}
			documented[key] = true
			walk(key, n.Content[i+1])
		}
	}
	walk("", &root)
	var cfg Config
	for _, l := range leaves(reflect.ValueOf(&cfg), "") {
		if !documented[l.key] {
			t.Errorf("configs/gateway.example.yaml does not document %s", l.key)
		}
	}
	// And the defaults it states are the real ones.
	def, _ := Load("", nil)
	ex, _ := Load(path, nil)
	def.Screening.HashKey, ex.Screening.HashKey = "", ""
	if diff := cmp.Diff(def, ex, cmp.AllowUnexported(Config{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("example file and built-in defaults differ (-defaults +example):\n%s", diff)
	}
}

// TestEmptyEnvIsUnset: an unset ${X} in a compose file arrives as "", which
// must not switch geo-blocking off by emptying the country list.
func TestEmptyEnvIsUnset(t *testing.T) {
	cfg, err := Load("", map[string]string{"GATEWAY_GEOBLOCK_COUNTRIES": "", "GATEWAY_UPSTREAM": " "})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"EEA"}, cfg.Geoblock.Countries); diff != "" {
		t.Errorf("geoblock.countries after an empty variable (-want +got):\n%s", diff)
	}
}
