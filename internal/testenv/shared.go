package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// SharedTestdata returns the path of rel inside shared/testdata, the large
// real-world files (13 MB of country databases) that stay out of the
// repository. Only benchmarks may use it: every test must run on a clone of
// the repository alone. When the file is not there, the benchmark is
// skipped loudly, or fails when CI is set, like a missing server.
func SharedTestdata(t testing.TB, rel string) string {
	t.Helper()
	dir := os.Getenv(EnvSharedTestdata)
	if dir == "" {
		if root, err := moduleRoot(); err == nil {
			dir = filepath.Join(root, "..", "shared", "testdata")
		}
	}
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if _, err := os.Stat(p); err == nil && dir != "" {
		return p
	}
	msg := fmt.Sprintf("\n\n"+
		"    !!! shared/testdata/%s is not here: this benchmark reads a large\n"+
		"    !!! real-world file kept outside the repository. Set %s\n"+
		"    !!! to the shared/testdata directory.\n", rel, EnvSharedTestdata)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "    !!! CI is set, so this is a failure, not a skip.\n")
	}
	t.Skip(msg)
	return ""
}

// moduleRoot walks up from the working directory (the package under test)
// to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
