package deploy

import (
	"github.com/vpsgate/gateway/internal/config"

	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/google/go-cmp/cmp"
)

// repoRoot is where docker-compose.yml and the Dockerfile live; go test runs
// in the package directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	return root
}

// loadCompose loads docker-compose.yml as `docker compose` would, with env as
// the only environment (no OS environment, no .env file), so that the
// defaults written in the file are what is tested.
func loadCompose(t *testing.T, env ...string) *types.Project {
	t.Helper()
	root := repoRoot(t)
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(env),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatalf("compose options: %v", err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("loading docker-compose.yml: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("docker-compose.yml: service %q: %v", name, err)
	}
	return s
}

func env(s types.ServiceConfig, key string) string {
	if v := s.Environment[key]; v != nil {
		return *v
	}
	return ""
}

func TestComposeServices(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	for _, name := range []string{"gateway", "redis", "minio", "mailpit", "storefront"} {
		service(t, p, name)
	}
}

func TestComposeGateway(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	gw := service(t, p, "gateway")

	if gw.Build == nil || gw.Build.Context != repoRoot(t) {
		t.Errorf("gateway build = %+v, want the repository root (where the Dockerfile is)", gw.Build)
	}

	type port struct{ HostIP, Published string }
	ports := map[uint32]port{}
	for _, pc := range gw.Ports {
		ports[pc.Target] = port{HostIP: pc.HostIP, Published: pc.Published}
	}
	wantPorts := map[uint32]port{
		8080: {Published: "8080"},
		// The admin side (API, console, metrics) stays on the host's loopback.
		8081: {HostIP: "127.0.0.1", Published: "8081"},
	}
	if diff := cmp.Diff(wantPorts, ports); diff != "" {
		t.Errorf("gateway ports mismatch (-want +got):\n%s", diff)
	}

	for _, dep := range []string{"redis", "minio", "mailpit"} {
		d, ok := gw.DependsOn[dep]
		if !ok {
			t.Errorf("gateway does not depend on %s", dep)
			continue
		}
		if d.Condition != types.ServiceConditionHealthy {
			t.Errorf("gateway depends on %s with condition %q, want %q", dep, d.Condition, types.ServiceConditionHealthy)
		}
		// service_healthy on a service without a health check never starts.
		if hc := service(t, p, dep).HealthCheck; hc == nil || hc.Disable || len(hc.Test) == 0 {
			t.Errorf("%s has no health check, but the gateway waits for it to be healthy", dep)
		}
	}

	want := map[string]string{
		"GATEWAY_REDIS_URL":    "redis://redis:6379/0",
		"GATEWAY_S3_ENDPOINT":  "minio:9000",
		"GATEWAY_S3_BUCKET":    "kyc",
		"GATEWAY_UPSTREAM":     "http://storefront:8090",
		"GATEWAY_ADMIN_LISTEN": "0.0.0.0:8081",
	}
	for key, value := range want {
		if got := env(gw, key); got != value {
			t.Errorf("gateway %s = %q, want %q", key, got, value)
		}
	}
	for _, key := range []string{"GATEWAY_S3_ACCESS_KEY", "GATEWAY_S3_SECRET_KEY"} {
		if env(gw, key) == "" {
			t.Errorf("gateway %s is empty, want a development default", key)
		}
	}
}

// TestComposeWiring checks that every address the gateway is given names a
// service of the file, on the port that service serves.
func TestComposeWiring(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	gw := service(t, p, "gateway")

	tests := []struct {
		key      string
		hostPort func(string) (string, error)
		service  string
		port     string
	}{
		{key: "GATEWAY_REDIS_URL", hostPort: urlHostPort, service: "redis", port: "6379"},
		{key: "GATEWAY_S3_ENDPOINT", hostPort: plainHostPort, service: "minio", port: "9000"},
		{key: "GATEWAY_UPSTREAM", hostPort: urlHostPort, service: "storefront", port: storefrontPort(t, p)},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			hp, err := tt.hostPort(env(gw, tt.key))
			if err != nil {
				t.Fatalf("gateway %s = %q: %v", tt.key, env(gw, tt.key), err)
			}
			host, port, err := net.SplitHostPort(hp)
			if err != nil {
				t.Fatalf("gateway %s = %q: %v", tt.key, env(gw, tt.key), err)
			}
			if host != tt.service || port != tt.port {
				t.Errorf("gateway %s points at %s:%s, want %s:%s", tt.key, host, port, tt.service, tt.port)
			}
			if _, ok := gw.DependsOn[tt.service]; !ok {
				t.Errorf("gateway does not depend on %s, which %s names", tt.service, tt.key)
			}
		})
	}
}

func urlHostPort(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	return u.Host, nil
}

func plainHostPort(s string) (string, error) { return s, nil }

// storefrontPort is the port in the storefront's "-listen :PORT" argument.
func storefrontPort(t *testing.T, p *types.Project) string {
	t.Helper()
	sf := service(t, p, "storefront")
	i := slices.Index(sf.Command, "-listen")
	if i < 0 || i+1 >= len(sf.Command) {
		t.Fatalf("storefront command %q has no -listen ADDR", sf.Command)
	}
	_, port, err := net.SplitHostPort(sf.Command[i+1])
	if err != nil {
		t.Fatalf("storefront -listen %q: %v", sf.Command[i+1], err)
	}
	return port
}

func TestComposeStorefront(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	sf := service(t, p, "storefront")
	gw := service(t, p, "gateway")
	if len(sf.Command) == 0 || sf.Command[0] != "demo-storefront" {
		t.Errorf("storefront command = %q, want the gateway's demo-storefront sub-command", sf.Command)
	}
	if sf.Build == nil || gw.Build == nil || sf.Build.Context != gw.Build.Context || sf.Image != gw.Image {
		t.Errorf("storefront build %+v image %q, want the gateway's image (build %+v, image %q)", sf.Build, sf.Image, gw.Build, gw.Image)
	}
}

func TestComposeRedisAppendOnly(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	r := service(t, p, "redis")
	if !strings.HasPrefix(r.Image, "redis:7") {
		t.Errorf("redis image = %q, want redis:7", r.Image)
	}
	i := slices.Index(r.Command, "--appendonly")
	if i < 0 || i+1 >= len(r.Command) || r.Command[i+1] != "yes" {
		t.Errorf("redis command = %q, want --appendonly yes", r.Command)
	}
	if !hasVolumeAt(r, "/data") {
		t.Errorf("redis volumes = %+v, want a named volume at /data (where the AOF is written)", r.Volumes)
	}
}

func TestComposeMinIO(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	m := service(t, p, "minio")
	i := slices.Index(m.Command, "server")
	if i < 0 || i+1 >= len(m.Command) {
		t.Fatalf("minio command = %q, want server DIR", m.Command)
	}
	if dir := m.Command[i+1]; !hasVolumeAt(m, dir) {
		t.Errorf("minio volumes = %+v, want a named volume at its data directory %s", m.Volumes, dir)
	}
}

func hasVolumeAt(s types.ServiceConfig, target string) bool {
	return slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Type == types.VolumeTypeVolume && v.Target == target
	})
}

// TestComposeCredentials checks that the gateway and MinIO get the same
// credentials, from the defaults and from the environment alike.
func TestComposeCredentials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		env        []string
		wantAccess string
		wantSecret string
	}{
		{name: "defaults"},
		{
			name:       "from the environment",
			env:        []string{"MINIO_ROOT_USER=ops-user", "MINIO_ROOT_PASSWORD=a-long-production-password"},
			wantAccess: "ops-user",
			wantSecret: "a-long-production-password",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := loadCompose(t, tt.env...)
			gw, m := service(t, p, "gateway"), service(t, p, "minio")
			access, secret := env(gw, "GATEWAY_S3_ACCESS_KEY"), env(gw, "GATEWAY_S3_SECRET_KEY")
			if access != env(m, "MINIO_ROOT_USER") || secret != env(m, "MINIO_ROOT_PASSWORD") {
				t.Errorf("gateway S3 keys %q/%q, minio root %q/%q: want the same",
					access, secret, env(m, "MINIO_ROOT_USER"), env(m, "MINIO_ROOT_PASSWORD"))
			}
			// MinIO refuses to start with a password under 8 characters.
			if len(secret) < 8 {
				t.Errorf("secret key %q is shorter than MinIO's 8 characters", secret)
			}
			if tt.wantAccess != "" && (access != tt.wantAccess || secret != tt.wantSecret) {
				t.Errorf("gateway S3 keys = %q/%q, want %q/%q", access, secret, tt.wantAccess, tt.wantSecret)
			}
		})
	}
}

// TestComposeGatewayEnvIsValidConfig loads the gateway's environment from the
// compose file with the real configuration loader, so a variable that names
// no key (which stops the gateway at start) cannot slip into the file.
func TestComposeGatewayEnvIsValidConfig(t *testing.T) {
	t.Parallel()
	gw := service(t, loadCompose(t), "gateway")
	vars := map[string]string{}
	for k, v := range gw.Environment {
		if v != nil {
			vars[k] = *v
		}
	}
	if _, err := config.Load("", vars); err != nil {
		t.Fatalf("the gateway service's environment is not a valid configuration:\n%v", err)
	}
}
