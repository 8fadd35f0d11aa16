package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Environment variables scripts/test.sh sets for the minFraud request test:
// the node binary (Debian's nodejs) and the directory where MaxMind's
// official Node.js client (@maxmind/minfraud-api-node, pinned) is installed.
const (
	EnvNode         = "GATEWAY_TEST_NODE"
	EnvMinFraudNode = "GATEWAY_TEST_MINFRAUD_NODE"
)

// MinFraudNode returns the node binary and the node_modules directory
// holding @maxmind/minfraud-api-node. Without them the test skips loudly,
// or fails when CI is set.
func MinFraudNode(t testing.TB) (node, modules string) {
	t.Helper()
	dir := require(t, EnvMinFraudNode)
	bin := os.Getenv(EnvNode)
	if bin == "" {
		bin = "node"
	}
	node, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("testenv: no node binary (%s=%s): %v", EnvNode, bin, err)
	}
	modules = filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "@maxmind", "minfraud-api-node", "package.json")); err != nil {
		t.Fatalf("testenv: %s=%s holds no @maxmind/minfraud-api-node: %v", EnvMinFraudNode, dir, err)
	}
	return node, modules
}
