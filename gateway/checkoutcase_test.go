package gateway

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// checkoutCase is one raw HTTP request of the differential corpus
// (testdata/checkouts/*.http; the format is in the README there).
type checkoutCase struct {
	name string
	// want is "refused" or "forwarded": what the gateway must do, so that
	// a gateway refusing everything cannot pass the corpus.
	want   string
	method string
	target string // request target, with the query
	header []string
	body   []byte
}

// loadCheckoutCases reads every *.http file of dir.
func loadCheckoutCases(t testing.TB, dir string) []checkoutCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.http"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no checkout cases in %s (%v)", dir, err)
	}
	cases := make([]checkoutCase, 0, len(paths))
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		c, err := parseCheckoutCase(strings.TrimSuffix(filepath.Base(p), ".http"), src)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		cases = append(cases, c)
	}
	return cases
}

func parseCheckoutCase(name string, src []byte) (checkoutCase, error) {
	c := checkoutCase{name: name}
	head, body, ok := strings.Cut(string(src), "\n\n")
	if !ok {
		return c, fmt.Errorf("no blank line after the headers")
	}
	var lines []string
	for line := range strings.SplitSeq(head, "\n") {
		if rest, ok := strings.CutPrefix(line, "#"); ok {
			if w, ok := strings.CutPrefix(strings.TrimSpace(rest), "want:"); ok {
				c.want = strings.TrimSpace(w)
			}
			continue
		}
		lines = append(lines, line)
	}
	if c.want != "refused" && c.want != "forwarded" {
		return c, fmt.Errorf(`no "# want: refused" or "# want: forwarded" line`)
	}
	if len(lines) == 0 {
		return c, fmt.Errorf("no request line")
	}
	parts := strings.Fields(lines[0])
	if len(parts) != 3 || parts[2] != "HTTP/1.1" {
		return c, fmt.Errorf("request line %q is not METHOD TARGET HTTP/1.1", lines[0])
	}
	c.method, c.target, c.header = parts[0], parts[1], lines[1:]
	body = strings.TrimSuffix(body, "\n")
	body = strings.ReplaceAll(body, "\n", "\r\n")
	body = strings.NewReplacer("{LF}", "\n", "{CR}", "\r", "{NUL}", "\x00").Replace(body)
	c.body = []byte(body)
	return c, nil
}

// raw returns the request as bytes on the wire: the case's headers, a Host
// and a Content-Length unless the case has its own framing, and
// Connection: close.
func (c checkoutCase) raw() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", c.method, c.target)
	framed, host := false, false
	for _, h := range c.header {
		k, _, _ := strings.Cut(h, ":")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "content-length", "transfer-encoding":
			framed = true
		case "host":
			host = true
		}
		b.WriteString(h + "\r\n")
	}
	if !host {
		b.WriteString("Host: shop.example\r\n")
	}
	if !framed {
		b.WriteString("Content-Length: " + strconv.Itoa(len(c.body)) + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.Write(c.body)
	return b.Bytes()
}

// goForm is how a Go storefront reads the case: Request.Form after
// ParseMultipartForm (or ParseForm), the query and body merged as
// FormValue sees them. ok is false when net/http refuses the request or
// the form.
func (c checkoutCase) goForm() (form url.Values, ok bool) {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(c.raw())))
	if err != nil {
		return nil, false
	}
	if err := req.ParseMultipartForm(1 << 20); err != nil && err != http.ErrNotMultipart {
		return nil, false
	}
	return req.Form, true
}
