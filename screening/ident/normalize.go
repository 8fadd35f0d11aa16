package ident

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// ErrInvalid marks an identifier that cannot be normalized. Errors wrap it
// with what was wrong.
var ErrInvalid = errors.New("invalid identifier")

// Limits from RFC 5321 (local part, domain, path) and RFC 1035 (label).
const (
	maxEmailLen  = 254
	maxLocalLen  = 64
	maxDomainLen = 253
	maxLabelLen  = 63
)

// NormalizeEmail returns the canonical form of an email address, or an error
// wrapping ErrInvalid.
//
// The canonical form is "local@domain" where:
//   - surrounding white space is removed;
//   - the domain is lower-cased, an internationalized domain is converted to
//     its ASCII (punycode) form, and a trailing root dot is dropped; it must
//     have at least two labels of letters, digits and inner hyphens, and a
//     top-level label that is not all digits (no IP literals);
//   - the local part is lower-cased too. RFC 5321 allows a case-sensitive
//     local part, but no mail provider a VPS customer uses treats one so, and
//     folding case stops "Ann@" and "ann@" counting as two customers;
//   - a "+tag" sub-address is removed ("ann+vps2@example.com" becomes
//     "ann@example.com"), because sub-addresses are the cheapest way to make
//     a fresh-looking address that reaches the same mailbox. Dots are kept:
//     only some providers ignore them;
//   - the local part must be a dot-atom (RFC 5322) whose characters are
//     ASCII atext or, as RFC 6531 allows ("Renée.Dupont@example.ca"),
//     Unicode letters, marks and digits; it is put in NFC and lower-cased
//     (Unicode case mapping). Quoted strings, comments, white space,
//     invisible format characters (a zero-width space) and compatibility
//     characters (a full-width "ａ", which NFKC would fold to "a") are
//     refused: each would let one mailbox be written as many keys.
//
// NormalizeEmail is idempotent: a canonical address normalizes to itself.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("email is empty: %w", ErrInvalid)
	}
	if len(s) > maxEmailLen*4 { // before IDNA, a domain may shrink; bound the work
		return "", fmt.Errorf("email is too long: %w", ErrInvalid)
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", fmt.Errorf("email has no @: %w", ErrInvalid)
	}
	local, domain := s[:at], s[at+1:]
	if err := checkLocal(local); err != nil {
		return "", err
	}
	domain, err := NormalizeDomain(domain)
	if err != nil {
		return "", fmt.Errorf("email domain: %w", err)
	}
	local = norm.NFC.String(strings.ToLower(norm.NFC.String(local)))
	if i := strings.IndexByte(local, '+'); i > 0 && local[i-1] != '.' {
		local = local[:i]
	}
	out := local + "@" + domain
	if len(out) > maxEmailLen {
		return "", fmt.Errorf("email is longer than %d bytes: %w", maxEmailLen, ErrInvalid)
	}
	return out, nil
}

// checkLocal accepts an RFC 5322 dot-atom: atext characters separated by
// single dots.
func checkLocal(local string) error {
	switch {
	case local == "":
		return fmt.Errorf("email has nothing before @: %w", ErrInvalid)
	case len(local) > maxLocalLen:
		return fmt.Errorf("email local part is longer than %d bytes: %w", maxLocalLen, ErrInvalid)
	case local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, ".."):
		return fmt.Errorf("email local part has a misplaced dot: %w", ErrInvalid)
	}
	if isASCII(local) {
		for i := 0; i < len(local); i++ {
			if c := local[i]; c != '.' && !isAtext(c) {
				return fmt.Errorf("email local part has character %q: %w", rune(c), ErrInvalid)
			}
		}
		return nil
	}
	if !utf8.ValidString(local) {
		return fmt.Errorf("email local part is not UTF-8: %w", ErrInvalid)
	}
	if nfc := norm.NFC.String(local); norm.NFKC.String(nfc) != nfc {
		return fmt.Errorf("email local part has a compatibility character: %w", ErrInvalid)
	}
	for _, r := range local {
		switch {
		case r < utf8.RuneSelf:
			if c := byte(r); c != '.' && !isAtext(c) {
				return fmt.Errorf("email local part has character %q: %w", r, ErrInvalid)
			}
		case unicode.In(r, unicode.L, unicode.M, unicode.N):
		default:
			return fmt.Errorf("email local part has character %U: %w", r, ErrInvalid)
		}
	}
	return nil
}

func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// NormalizeDomain returns the canonical form of a DNS domain name as used
// in email addresses: lower case, ASCII (an internationalized name is
// converted to punycode), no trailing root dot, at least two labels of
// letters, digits and inner hyphens, a top-level label that is not all
// digits. Errors wrap ErrInvalid. It is idempotent.
func NormalizeDomain(s string) (string, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return "", fmt.Errorf("domain is empty: %w", ErrInvalid)
	}
	if len(s) > maxDomainLen*4 {
		return "", fmt.Errorf("domain is too long: %w", ErrInvalid)
	}
	if isASCII(s) {
		s = strings.ToLower(s)
	} else {
		a, err := idna.Lookup.ToASCII(s)
		if err != nil {
			return "", fmt.Errorf("domain is not a valid internationalized name: %w", ErrInvalid)
		}
		s = strings.ToLower(a)
	}
	if len(s) > maxDomainLen {
		return "", fmt.Errorf("domain is longer than %d bytes: %w", maxDomainLen, ErrInvalid)
	}
	if !strings.Contains(s, ".") {
		return "", fmt.Errorf("domain %q has a single label: %w", s, ErrInvalid)
	}
	var last string
	for l := range strings.SplitSeq(s, ".") { // not Split: every order's email domain passes here
		if err := checkLabel(l); err != nil {
			return "", err
		}
		last = l
	}
	if strings.Trim(last, "0123456789") == "" {
		return "", fmt.Errorf("domain %q has a numeric top-level label: %w", s, ErrInvalid)
	}
	return s, nil
}

func checkLabel(l string) error {
	switch {
	case l == "":
		return fmt.Errorf("domain has an empty label: %w", ErrInvalid)
	case len(l) > maxLabelLen:
		return fmt.Errorf("domain label is longer than %d bytes: %w", maxLabelLen, ErrInvalid)
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("domain label %q starts or ends with a hyphen: %w", l, ErrInvalid)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("domain label %q has character %q: %w", l, rune(c), ErrInvalid)
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// CardFingerprint returns "BIN:last4" for a card's issuer identification
// number (6 or 8 digits) and last four digits, after trimming surrounding
// white space. Errors wrap ErrInvalid. Together the two identify a card well
// enough for counting and blocking, and are what a storefront may keep under
// PCI DSS.
func CardFingerprint(bin, last4 string) (string, error) {
	bin, last4 = strings.TrimSpace(bin), strings.TrimSpace(last4)
	if (len(bin) != 6 && len(bin) != 8) || !allDigits(bin) {
		return "", fmt.Errorf("card BIN must be 6 or 8 digits: %w", ErrInvalid)
	}
	if len(last4) != 4 || !allDigits(last4) {
		return "", fmt.Errorf("card last4 must be 4 digits: %w", ErrInvalid)
	}
	return bin + ":" + last4, nil
}

// ParseCardFingerprint validates a fingerprint written "BIN:last4" (as
// officers give it to the blocklist) and returns it in CardFingerprint's
// form.
func ParseCardFingerprint(s string) (string, error) {
	bin, last4, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return "", fmt.Errorf("card must be written BIN:last4: %w", ErrInvalid)
	}
	return CardFingerprint(bin, last4)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// NormalizeAddress returns a canonical form of a billing address for
// counting orders per address: "country|postal|city|address", each part
// Unicode-compatibility-normalized (NFKC, so full-width and ligature forms
// fold), lower-cased, with every character other than a letter or digit
// turned into a space, runs of spaces collapsed and ends trimmed; the postal
// code also loses its inner spaces ("SW1A 1AA" equals "sw1a1aa"). So "1 Main
// St." and " 1  main st" agree. Abbreviations ("Street" and "St") are not
// folded. An address with no letters or digits in any part is "", which
// callers treat as "no address".
func NormalizeAddress(country, postal, city, address string) string {
	c, p, ci, a := foldText(country), foldText(postal), foldText(city), foldText(address)
	p = strings.ReplaceAll(p, " ", "")
	if c == "" && p == "" && ci == "" && a == "" {
		return ""
	}
	return c + "|" + p + "|" + ci + "|" + a
}

// maxFoldInput bounds the work for one address part; real ones are far
// shorter.
const maxFoldInput = 1024

func foldText(s string) string {
	if len(s) > maxFoldInput {
		s = s[:maxFoldInput]
	}
	s = norm.NFKC.String(strings.ToValidUTF8(s, " "))
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// IPPrefix returns the network an address belongs to for counting orders
// per network: its /24 for IPv4 (and IPv4-mapped IPv6) and its /64 for IPv6,
// the smallest block usually assigned to one customer or one hosting VM.
// The zone is dropped. The zero Addr gives the zero Prefix.
func IPPrefix(ip netip.Addr) netip.Prefix {
	if !ip.IsValid() {
		return netip.Prefix{}
	}
	ip = ip.Unmap().WithZone("")
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, err := ip.Prefix(bits)
	if err != nil { // cannot happen: bits is within the address length
		return netip.Prefix{}
	}
	return p
}
