package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// EnvChromium names the Chromium binary of the browser tests; scripts/test.sh
// installs Debian's chromium and sets it.
const EnvChromium = "GATEWAY_TEST_CHROMIUM"

// EnvArtifacts, when set, is where tests keep what a person looks at
// afterwards (browser screenshots); else they go to t.TempDir().
const EnvArtifacts = "GATEWAY_TEST_ARTIFACTS"

// Chromium returns the path of the Chromium binary (GATEWAY_TEST_CHROMIUM).
// Without it the test is skipped loudly, or fails when CI is set.
func Chromium(t testing.TB) string {
	t.Helper()
	bin := require(t, EnvChromium)
	path, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("testenv: %s=%s names no binary: %v", EnvChromium, bin, err)
	}
	return path
}

// Artifacts is the directory for this test's artifacts:
// $GATEWAY_TEST_ARTIFACTS/<test name> when set (kept), else a t.TempDir().
func Artifacts(t testing.TB) string {
	t.Helper()
	root := os.Getenv(EnvArtifacts)
	if root == "" {
		return t.TempDir()
	}
	dir := filepath.Join(root, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testenv: artifacts: %v", err)
	}
	return dir
}
