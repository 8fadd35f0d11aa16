package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PHP returns the path of the php CLI binary: GATEWAY_TEST_PHP, which
// scripts/test.sh sets, else php from PATH. Without either the test skips
// loudly, or fails when CI is set.
func PHP(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv(EnvPHP); bin != "" {
		path, err := exec.LookPath(bin)
		if err != nil {
			t.Fatalf("testenv: %s=%s names no binary: %v", EnvPHP, bin, err)
		}
		return path
	}
	if path, err := exec.LookPath("php"); err == nil {
		return path
	}
	require(t, EnvPHP)
	return ""
}

// PHPServer is PHP's built-in web server (php -S) of one test's own.
type PHPServer struct {
	// URL is "http://127.0.0.1:PORT".
	URL string
	// Dir is the document root, a temporary directory holding the router
	// script.
	Dir string
}

// StartPHPServer copies the router script into a temporary directory and
// serves it with PHP's built-in web server on a free port of 127.0.0.1, with
// no php.ini (-n) and the given settings as -d flags (in the order of their
// keys), so that the result does not depend on the machine's php.ini. It
// waits until the server has started and stops it when the test ends,
// logging its output if the test failed.
func StartPHPServer(t testing.TB, router string, ini map[string]string) *PHPServer {
	t.Helper()
	src, err := os.ReadFile(router)
	if err != nil {
		t.Fatalf("testenv: reading the PHP router: %v", err)
	}
	name := filepath.Base(router)
	return startPHPServer(t, map[string]string{name: string(src)}, name, ini)
}

// StartPHPDocroot serves files (path under the document root -> content)
// with PHP's built-in web server and no router script, so that PHP itself
// resolves every request path to a script (directory index.php, PATH_INFO),
// as it does behind a real web server. Otherwise as StartPHPServer.
func StartPHPDocroot(t testing.TB, files map[string]string, ini map[string]string) *PHPServer {
	t.Helper()
	return startPHPServer(t, files, "", ini)
}

func startPHPServer(t testing.TB, files map[string]string, router string, ini map[string]string) *PHPServer {
	t.Helper()
	bin := PHP(t)
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatalf("testenv: laying out the PHP document root: %v", err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatalf("testenv: laying out the PHP document root: %v", err)
		}
	}
	args := []string{"-n"}
	for _, k := range slices.Sorted(maps.Keys(ini)) {
		args = append(args, "-d", k+"="+ini[k])
	}
	out := &Buffer{}
	var errs []error
	for range startAttempts {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
		cmdArgs := append(slices.Clone(args), "-S", addr, "-t", dir)
		if router != "" {
			cmdArgs = append(cmdArgs, filepath.Join(dir, router))
		}
		cmd := exec.Command(bin, cmdArgs...)
		cmd.Dir = dir
		err := startPHP(t, cmd, out)
		if err == nil {
			return &PHPServer{URL: "http://" + addr, Dir: dir}
		}
		errs = append(errs, err)
	}
	t.Fatalf("testenv: starting %s -S: %v\noutput:\n%s", bin, errors.Join(errs...), out.String())
	return nil
}

// startPHP starts cmd and waits for the line the built-in server prints
// once it listens ("Development Server (http://...) started").
func startPHP(t testing.TB, cmd *exec.Cmd, out *Buffer) error {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("piping output: %w", err)
	}
	cmd.Stdout = out
	fmt.Fprintf(out, "--- %s\n", strings.Join(cmd.Args, " "))
	if err := cmd.Start(); err != nil {
		return err
	}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		signaled := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(out, line)
			if !signaled && strings.Contains(line, "Development Server") && strings.Contains(line, "started") {
				close(ready)
				signaled = true
			}
		}
		_, _ = io.Copy(out, stderr)
		done <- cmd.Wait()
	}()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-ready:
	case err := <-done:
		return fmt.Errorf("php exited before listening: %v", err)
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("php did not listen within %v", readyTimeout)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		stop := time.NewTimer(stopTimeout)
		defer stop.Stop()
		select {
		case <-done:
		case <-stop.C:
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("testenv: output of the PHP server:\n%s", out.String())
		}
	})
	return nil
}
