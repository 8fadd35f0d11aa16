package testenv

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestTestenvStartPHPServer: the server runs the router for every path,
// with the -d settings given and no php.ini of the machine.
func TestTestenvStartPHPServer(t *testing.T) {
	t.Parallel()
	router := filepath.Join(t.TempDir(), "router.php")
	src := `<?php echo $_SERVER['REQUEST_URI'], ' ', ini_get('request_order'), ' ', php_ini_loaded_file() === false ? 'no-ini' : 'ini';`
	if err := os.WriteFile(router, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := StartPHPServer(t, router, map[string]string{"request_order": "GP"})
	resp, err := http.Get(srv.URL + "/any/path?x=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if got, want := string(body), "/any/path?x=1 GP no-ini"; got != want {
		t.Errorf("PHP answered %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(srv.Dir, "router.php")); err != nil {
		t.Errorf("router not in Dir: %v", err)
	}
}
