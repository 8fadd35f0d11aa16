package screening

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// The built-in lists; emaildomains/README.md names their sources and
// licenses.
var (
	//go:embed emaildomains/disposable-domains.txt
	builtinDisposable []byte
	//go:embed emaildomains/free-email-domains.txt
	builtinFree []byte
	//go:embed emaildomains/allowlist-historical.txt
	builtinAllowlist []byte
)

// EmailDomains classifies email domains as disposable or free mail. It is
// read-only after LoadEmailDomains and safe for concurrent use.
type EmailDomains struct {
	disposable map[string]struct{}
	free       map[string]struct{}
	allow      map[string]struct{}
}

// EmailCheck is what the email signals are made of.
type EmailCheck struct {
	// Domain is the lower-case ASCII (punycode) domain of the address.
	Domain string
	// SyntaxOK: the address is well formed and its domain sits under a
	// known public suffix (so "ann@example.invalid" is not OK).
	SyntaxOK bool
	// Disposable: the domain or one of its parents, up to the registrable
	// domain, is on the disposable list and not on the allowlist.
	Disposable bool
	// Free: the domain (or a parent) is a free-mail provider that is not
	// disposable. The free list is a superset of the disposable list, so
	// Disposable and Free are never both true: a rule scores each once.
	Free bool
}

// LoadEmailDomains builds the lists: the embedded copies, or the files
// named (one domain per line, '#' comments) when a name is not empty. The
// embedded allowlist always applies: its domains are never disposable.
func LoadEmailDomains(disposableFile, freeFile string) (*EmailDomains, error) {
	disposable, err := loadDomainList(disposableFile, builtinDisposable)
	if err != nil {
		return nil, fmt.Errorf("loading disposable email domains: %w", err)
	}
	free, err := loadDomainList(freeFile, builtinFree)
	if err != nil {
		return nil, fmt.Errorf("loading free email domains: %w", err)
	}
	return &EmailDomains{
		disposable: disposable,
		free:       free,
		allow:      parseDomainList(builtinAllowlist),
	}, nil
}

func loadDomainList(file string, builtin []byte) (map[string]struct{}, error) {
	if file == "" {
		return parseDomainList(builtin), nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m := parseDomainList(data)
	if len(m) == 0 {
		// An empty replacement would silently turn the check off.
		return nil, fmt.Errorf("%s: no domains in file", file)
	}
	return m, nil
}

func parseDomainList(data []byte) map[string]struct{} {
	m := make(map[string]struct{}, bytes.Count(data, []byte("\n"))+1)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(line), "."))
		if line != "" {
			m[line] = struct{}{}
		}
	}
	return m
}

// Check classifies an address. The domain and each parent down to the
// registrable domain (public suffix + 1 label) are looked up: a listed
// "example.com" covers "mx.example.com", and a listed
// "0-mailer.dynv6.net" (dynv6.net being a public suffix) matches itself.
func (d *EmailDomains) Check(email string) EmailCheck {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return EmailCheck{}
	}
	domain, ok := emailDomainASCII(strings.TrimSuffix(email[at+1:], "."))
	if !ok {
		return EmailCheck{}
	}
	c := EmailCheck{Domain: domain}
	registrable, err := publicsuffix.EffectiveTLDPlusOne(domain)
	if err != nil {
		return c
	}
	_, problem := emailProblem(email)
	c.SyntaxOK = problem == "" && knownSuffix(domain)
	var disposable, free, allowed bool
	for h := domain; ; {
		if _, ok := d.disposable[h]; ok {
			disposable = true
		}
		if _, ok := d.free[h]; ok {
			free = true
		}
		if _, ok := d.allow[h]; ok {
			allowed = true
		}
		if h == registrable {
			break
		}
		_, h, _ = strings.Cut(h, ".")
	}
	c.Disposable = disposable && !allowed
	c.Free = free && !c.Disposable
	return c
}

// knownSuffix reports whether the domain ends in a suffix of the Public
// Suffix List rather than one made up by the package's default rule ("*"),
// which accepts any last label.
func knownSuffix(domain string) bool {
	suffix, icann := publicsuffix.PublicSuffix(domain)
	if icann {
		return true
	}
	// A private-section suffix (like dynv6.net) has a dot; the default
	// rule yields the bare last label and reports icann=false.
	return strings.Contains(suffix, ".")
}
