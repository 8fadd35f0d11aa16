package testenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readyTimeout bounds how long a redis-server may take to accept connections;
// it normally takes a few milliseconds.
const readyTimeout = 15 * time.Second

// stopTimeout bounds a graceful shutdown before the process is killed.
const stopTimeout = 10 * time.Second

// startAttempts is how many ports StartRedis tries: a port found free may be
// taken by another process before redis-server binds it.
const startAttempts = 3

// RedisProcess is a redis-server of one test's own, started by StartRedis.
// Its methods must be called from the test's goroutine, as they end the test
// with t.Fatal when something goes wrong.
type RedisProcess struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	args []string
	out  *Buffer // output of every run, shown when the test fails

	cmd     *exec.Cmd     // nil while stopped
	done    chan struct{} // closed when cmd has exited
	waitErr error         // cmd.Wait's result, set before done is closed
}

// StartRedis starts a redis-server of the test's own on a free port of
// 127.0.0.1 with a temporary data directory, and waits until it accepts
// connections. The binary is GATEWAY_TEST_REDIS_SERVER, else redis-server from
// PATH; without either the test skips, or fails when CI is set.
//
// The server keeps an append-only file and takes no RDB snapshots, so that
// what was written survives Stop and Start. args are appended to the command
// line and so override those defaults (e.g. "--appendonly", "no"). The server
// is stopped when the test ends, and its output is logged if the test failed.
func StartRedis(t testing.TB, args ...string) *RedisProcess {
	t.Helper()
	bin, err := redisServerPath()
	if err != nil {
		require(t, EnvRedisServer)
		t.Fatalf("testenv: %v", err) // the variable is set but names no binary
	}
	p := &RedisProcess{
		t:    t,
		bin:  bin,
		dir:  t.TempDir(),
		args: args,
		out:  &Buffer{},
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("testenv: output of redis-server on port %d:\n%s", p.port, p.out.String())
		}
	})
	var errs []error
	for range startAttempts {
		p.port = FreePort(t)
		err := p.start()
		if err == nil {
			return p
		}
		errs = append(errs, err)
	}
	t.Fatalf("testenv: starting %s: %v", bin, errors.Join(errs...))
	return nil
}

func redisServerPath() (string, error) {
	if bin := os.Getenv(EnvRedisServer); bin != "" {
		return exec.LookPath(bin)
	}
	return exec.LookPath("redis-server")
}

// Addr returns the server's "127.0.0.1:PORT"; it stays the same across Stop
// and Start.
func (p *RedisProcess) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port))
}

// URL returns "redis://127.0.0.1:PORT/0".
func (p *RedisProcess) URL() string {
	return "redis://" + p.Addr() + "/0"
}

// Stop shuts the server down (SIGTERM, which makes Redis flush its
// append-only file, then SIGKILL after a while) and waits until the process
// has exited. Clients get connection errors until Start. Stopping a stopped
// server does nothing.
func (p *RedisProcess) Stop() {
	p.t.Helper()
	if p.cmd == nil {
		return
	}
	// Signal errors mean the process has already exited; done says so.
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd, p.done = nil, nil
}

// Start starts the stopped server again on the same port with the same data
// directory, and waits until it accepts connections.
func (p *RedisProcess) Start() {
	p.t.Helper()
	if p.cmd != nil {
		p.t.Fatalf("testenv: Start: redis-server on port %d is already running", p.port)
	}
	if err := p.start(); err != nil {
		p.t.Fatalf("testenv: restarting redis-server: %v", err)
	}
}

func (p *RedisProcess) start() error {
	args := append([]string{
		"--port", strconv.Itoa(p.port),
		"--bind", "127.0.0.1",
		"--dir", p.dir,
		"--save", "",
		"--appendonly", "yes",
		"--daemonize", "no",
		"--logfile", "", // log to stdout, which we read
	}, p.args...)
	cmd := exec.Command(p.bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("piping output: %w", err)
	}
	cmd.Stderr = cmd.Stdout
	fmt.Fprintf(p.out, "--- %s\n", strings.Join(cmd.Args, " "))
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd = cmd
	p.done = make(chan struct{})
	ready := make(chan struct{})
	go func(ready, done chan struct{}) {
		// Redis prints this line once its listening sockets are open and the
		// data set is loaded: waiting for it needs no polling.
		sc := bufio.NewScanner(stdout)
		signaled := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(p.out, line)
			if !signaled && strings.Contains(line, "Ready to accept connections") {
				close(ready)
				signaled = true
			}
		}
		_, _ = io.Copy(p.out, stdout) // after a line longer than the scanner's buffer
		p.waitErr = cmd.Wait()
		close(done)
	}(ready, p.done)

	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-ready:
		return nil
	case <-p.done:
		p.cmd, p.done = nil, nil
		return fmt.Errorf("redis-server on port %d exited before accepting connections (%v); output:\n%s",
			p.port, p.waitErr, p.out.String())
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-p.done
		p.cmd, p.done = nil, nil
		return fmt.Errorf("redis-server on port %d did not accept connections within %v; output:\n%s",
			p.port, readyTimeout, p.out.String())
	}
}

// Buffer is a bytes.Buffer safe for concurrent writers and readers: a
// server's output or a logger's lines that a test reads while they arrive.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
