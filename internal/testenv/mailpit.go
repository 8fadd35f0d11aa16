package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment variables of the mail tests; scripts/test.sh sets them.
const (
	// EnvSMTPURL is smtp://127.0.0.1:PORT of a mailpit shared by all
	// tests. Tests tell their mail apart by recipient address.
	EnvSMTPURL = "GATEWAY_TEST_SMTP_URL"
	// EnvMailpitAPI is http://127.0.0.1:PORT, the HTTP API of that
	// mailpit.
	EnvMailpitAPI = "GATEWAY_TEST_MAILPIT_API"
	// EnvMailpit is the path of the mailpit binary, for tests that start
	// and stop their own (StartMailpit).
	EnvMailpit = "GATEWAY_TEST_MAILPIT"
)

// SMTPURL returns the URL of the shared test SMTP server (mailpit).
func SMTPURL(t testing.TB) string {
	t.Helper()
	return require(t, EnvSMTPURL)
}

// MailpitAPI returns the base URL of the shared mailpit's HTTP API.
func MailpitAPI(t testing.TB) string {
	t.Helper()
	return require(t, EnvMailpitAPI)
}

// MailpitProcess is a mailpit of one test's own, started by StartMailpit.
type MailpitProcess struct {
	t        testing.TB
	bin      string
	dir      string
	smtpPort int
	httpPort int
	args     []string
	out      *Buffer
	cmd      *exec.Cmd
	done     chan struct{}
}

// StartMailpit starts a mailpit of the test's own on free ports of
// 127.0.0.1 (SMTP and HTTP API), with its database in a temporary
// directory so that messages survive Stop and Start, and waits until both
// ports answer. args are added to the command line (e.g.
// "--smtp-auth-accept-any"). The binary is GATEWAY_TEST_MAILPIT, else
// mailpit from PATH; without either the test skips, or fails under CI.
func StartMailpit(t testing.TB, args ...string) *MailpitProcess {
	t.Helper()
	bin := os.Getenv(EnvMailpit)
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("mailpit"); err != nil {
			require(t, EnvMailpit)
		}
	}
	p := &MailpitProcess{t: t, bin: bin, dir: t.TempDir(), args: args, out: &Buffer{}}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("testenv: output of mailpit (SMTP port %d):\n%s", p.smtpPort, p.out.String())
		}
	})
	var errs []error
	for range startAttempts {
		p.smtpPort, p.httpPort = FreePort(t), FreePort(t)
		err := p.start()
		if err == nil {
			return p
		}
		errs = append(errs, err)
	}
	t.Fatalf("testenv: starting %s: %v", bin, errors.Join(errs...))
	return nil
}

// SMTPURL returns smtp://127.0.0.1:PORT; the same across Stop and Start.
func (p *MailpitProcess) SMTPURL() string {
	return "smtp://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(p.smtpPort))
}

// API returns http://127.0.0.1:PORT of its HTTP API.
func (p *MailpitProcess) API() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(p.httpPort))
}

// Stop ends the process (SIGTERM, then SIGKILL) and waits for it; SMTP
// clients then get "connection refused" until Start.
func (p *MailpitProcess) Stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

// Start starts the stopped process again on the same ports.
func (p *MailpitProcess) Start() {
	p.t.Helper()
	if p.cmd != nil {
		p.t.Fatalf("testenv: Start: mailpit is already running")
	}
	if err := p.start(); err != nil {
		p.t.Fatalf("testenv: restarting mailpit: %v", err)
	}
}

func (p *MailpitProcess) start() error {
	args := append([]string{
		"--disable-version-check",
		"--smtp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.smtpPort)),
		"--listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.httpPort)),
		"--database", filepath.Join(p.dir, "mailpit.db"),
		"--max", "0", // keep every message: a test counts them
	}, p.args...)
	cmd := exec.Command(p.bin, args...)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	fmt.Fprintf(p.out, "--- %s\n", strings.Join(cmd.Args, " "))
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			p.cmd = nil
			return fmt.Errorf("mailpit exited at start; output:\n%s", p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if mailpitReady(p.API(), p.smtpPort) {
			return nil
		}
	}
	p.Stop()
	return fmt.Errorf("mailpit did not answer within %v; output:\n%s", readyTimeout, p.out.String())
}

func mailpitReady(api string, smtpPort int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(smtpPort)), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	resp, err := http.Get(api + "/api/v1/info")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// MailpitAddress is a mail address as mailpit's API gives it.
type MailpitAddress struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// MailpitMessage is one message mailpit received, read through its API.
type MailpitMessage struct {
	ID        string           `json:"ID"`
	MessageID string           `json:"MessageID"`
	From      MailpitAddress   `json:"From"`
	To        []MailpitAddress `json:"To"`
	Subject   string           `json:"Subject"`
	Text      string           `json:"Text"`
	HTML      string           `json:"HTML"`
	// Headers are the message's headers, as received.
	Headers map[string][]string `json:"-"`
}

// MailpitMessages returns every message mailpit at api received for the
// address to (all of them when to is empty), oldest first, with bodies and
// headers.
func MailpitMessages(t testing.TB, api, to string) []MailpitMessage {
	t.Helper()
	var list struct {
		Messages []MailpitMessage `json:"messages"`
	}
	mailpitGet(t, api+"/api/v1/messages?limit=5000", &list)
	var out []MailpitMessage
	// The API lists newest first.
	for i := len(list.Messages) - 1; i >= 0; i-- {
		s := list.Messages[i]
		if to != "" && !mailpitHasRecipient(s, to) {
			continue
		}
		var m MailpitMessage
		mailpitGet(t, api+"/api/v1/message/"+url.PathEscape(s.ID), &m)
		mailpitGet(t, api+"/api/v1/message/"+url.PathEscape(s.ID)+"/headers", &m.Headers)
		out = append(out, m)
	}
	return out
}

func mailpitHasRecipient(m MailpitMessage, to string) bool {
	for _, a := range m.To {
		if strings.EqualFold(a.Address, to) {
			return true
		}
	}
	return false
}

func mailpitGet(t testing.TB, u string, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("testenv: asking mailpit: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("testenv: mailpit answered %s to GET %s", resp.Status, u)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("testenv: decoding mailpit's answer to GET %s: %v", u, err)
	}
}
