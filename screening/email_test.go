package screening

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEmailDomainsBuiltin(t *testing.T) {
	t.Parallel()
	d, err := LoadEmailDomains("", "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		email string
		want  EmailCheck
	}{
		{"ann@mailinator.com", EmailCheck{Domain: "mailinator.com", SyntaxOK: true, Disposable: true}},
		{"ann@MAILINATOR.COM", EmailCheck{Domain: "mailinator.com", SyntaxOK: true, Disposable: true}},
		// A parent domain on the list covers its sub-domains.
		{"ann@mx.eu.mailinator.com", EmailCheck{Domain: "mx.eu.mailinator.com", SyntaxOK: true, Disposable: true}},
		{"ann@yopmail.com", EmailCheck{Domain: "yopmail.com", SyntaxOK: true, Disposable: true}},
		// Entries under a (private) public suffix match at their level.
		{"ann@0-mailer.dynv6.net", EmailCheck{Domain: "0-mailer.dynv6.net", SyntaxOK: true, Disposable: true}},
		{"ann@x.0-mailer.dynv6.net", EmailCheck{Domain: "x.0-mailer.dynv6.net", SyntaxOK: true, Disposable: true}},
		{"ann@gmail.com", EmailCheck{Domain: "gmail.com", SyntaxOK: true, Free: true}},
		{"ann@outlook.com", EmailCheck{Domain: "outlook.com", SyntaxOK: true, Free: true}},
		{"ann@protonmail.com", EmailCheck{Domain: "protonmail.com", SyntaxOK: true, Free: true}},
		{"ann@web.de", EmailCheck{Domain: "web.de", SyntaxOK: true, Free: true}},
		// On the historical allowlist and the free list.
		{"ann@163.com", EmailCheck{Domain: "163.com", SyntaxOK: true, Free: true}},
		{"ann@maxmind.com", EmailCheck{Domain: "maxmind.com", SyntaxOK: true}},
		{"ann@example.co.uk", EmailCheck{Domain: "example.co.uk", SyntaxOK: true}},
		{"ann@bücher.de", EmailCheck{Domain: "xn--bcher-kva.de", SyntaxOK: true}},
		// Well formed but under no known suffix.
		{"ann@example.invalidtld", EmailCheck{Domain: "example.invalidtld"}},
		{"ann@example.local", EmailCheck{Domain: "example.local"}},
		// The domain is itself a public suffix.
		{"ann@co.uk", EmailCheck{Domain: "co.uk"}},
		{"no-at-sign", EmailCheck{}},
		{"ann@", EmailCheck{}},
		{"ann@-bad-.com", EmailCheck{}},
	}
	for _, tc := range tests {
		if got := d.Check(tc.email); got != tc.want {
			t.Errorf("Check(%q) = %+v, want %+v", tc.email, got, tc.want)
		}
	}
}

func TestEmailDomainsFromFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	disp := write("disposable.txt", "# operator's list\nthrowaway.example\n\n  Burner.Example.  # trailing dot and case\n163.com\n")
	free := write("free.txt", "freemail.example\n")
	d, err := LoadEmailDomains(disp, free)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		email string
		want  EmailCheck
	}{
		{"a@throwaway.example", EmailCheck{Domain: "throwaway.example", Disposable: true}},
		{"a@burner.example", EmailCheck{Domain: "burner.example", Disposable: true}},
		{"a@freemail.example", EmailCheck{Domain: "freemail.example", Free: true}},
		// The built-in lists are replaced, not merged.
		{"a@mailinator.com", EmailCheck{Domain: "mailinator.com", SyntaxOK: true}},
		{"a@gmail.com", EmailCheck{Domain: "gmail.com", SyntaxOK: true}},
		// The built-in allowlist wins over a replacement list.
		{"a@163.com", EmailCheck{Domain: "163.com", SyntaxOK: true}},
	}
	for _, tc := range tests {
		if got := d.Check(tc.email); got != tc.want {
			t.Errorf("Check(%q) = %+v, want %+v", tc.email, got, tc.want)
		}
	}

	empty := write("empty.txt", "# nothing\n\n")
	for _, tc := range []struct{ name, disp, free string }{
		{"missing disposable file", filepath.Join(dir, "nope"), ""},
		{"missing free file", "", filepath.Join(dir, "nope")},
		{"empty file", empty, ""},
	} {
		if _, err := LoadEmailDomains(tc.disp, tc.free); err == nil {
			t.Errorf("%s: LoadEmailDomains() = nil error", tc.name)
		}
	}
}

func TestEmbeddedListsMatchSnapshot(t *testing.T) {
	t.Parallel()
	// The shipped lists are byte copies of the snapshot documented in
	// emaildomains/README.md; emaildomains/SHA256SUMS records
	// that snapshot's checksums, so the copies cannot drift without this
	// test saying so, on a clone of the repository alone.
	sums, err := os.ReadFile(filepath.Join("emaildomains", "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for line := range strings.Lines(string(sums)) {
		sum, name, ok := strings.Cut(strings.TrimSpace(line), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS: bad line %q", line)
		}
		want[name] = sum
	}
	got := map[string]string{}
	for _, name := range []string{"disposable-domains.txt", "free-email-domains.txt", "allowlist-historical.txt"} {
		b, err := os.ReadFile(filepath.Join("emaildomains", name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		got[name] = hex.EncodeToString(sum[:])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("emaildomains/ differs from the snapshot recorded in SHA256SUMS (-want +got):\n%s", diff)
	}
}
