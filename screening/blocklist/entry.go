package blocklist

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vpsgate/gateway/internal/kind"
	"github.com/vpsgate/gateway/screening/ident"
)

// Sentinel errors.
var (
	// ErrInvalidInput marks a bad entry; the error is a *FieldError naming
	// the field (400).
	ErrInvalidInput = kind.New(kind.ErrInvalidInput, "invalid blocklist entry")
	// ErrNotFound marks the removal of an entry that is not listed (404).
	ErrNotFound = kind.New(kind.ErrNotFound, "blocklist entry not found")
	// ErrUnavailable means Redis could not be reached or answered in time
	// (503).
	ErrUnavailable = kind.New(kind.ErrUnavailable, "blocklist unavailable")
)

// FieldError is a bad field of an entry: "kind", "value", "reason" or
// "added_by".
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Unwrap makes every FieldError match ErrInvalidInput.
func (e *FieldError) Unwrap() error { return ErrInvalidInput }

// InvalidField names the field for the API answer (kind.Field).
func (e *FieldError) InvalidField() string { return e.Field }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// Kind is what an entry blocks.
type Kind string

// The kinds of entries. Their values are ident kinds, so that an entry's id
// is ident.Hasher.Hash(kind, normalized value).
const (
	KindIP          Kind = "ip"
	KindCIDR        Kind = "cidr"
	KindEmail       Kind = "email"
	KindEmailDomain Kind = "email_domain"
	KindAccount     Kind = "account"
	KindCard        Kind = "card" // "BIN:last4"
)

// Kinds lists every kind, in the order Check reports hits.
var Kinds = []Kind{KindIP, KindCIDR, KindEmail, KindEmailDomain, KindAccount, KindCard}

func validKind(k Kind) bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// Limits on what officers type.
const (
	maxValueLen   = 512
	maxAccountLen = 128
	maxReasonLen  = 500
	maxAddedByLen = 128
	// The broadest ranges accepted: broader ones are almost certainly a
	// typing mistake that would block a large part of the Internet.
	minCIDRBits4 = 8
	minCIDRBits6 = 16
)

// ParseEntry validates an entry's kind and value as an officer gives them
// and returns the kind and the normalized value: an IP in netip's canonical
// form (IPv4-mapped unmapped), a CIDR masked to its network, an email by
// ident.NormalizeEmail, an email domain by ident.NormalizeDomain (a leading
// "@" is allowed), an account trimmed, a card "BIN:last4" with the BIN cut
// to its first six digits (CardKey). Errors are *FieldError wrapping
// ErrInvalidInput.
func ParseEntry(kind, value string) (Kind, string, error) {
	k := Kind(kind)
	if !validKind(k) {
		return "", "", fieldErr("kind", "must be one of ip, cidr, email, email_domain, account, card")
	}
	value = strings.TrimSpace(value)
	switch {
	case value == "":
		return "", "", fieldErr("value", "is required")
	case len(value) > maxValueLen:
		return "", "", fieldErr("value", "is longer than %d bytes", maxValueLen)
	}
	v, err := normalize(k, value)
	if err != nil {
		return "", "", err
	}
	return k, v, nil
}

func normalize(k Kind, value string) (string, error) {
	switch k {
	case KindIP:
		ip, err := netip.ParseAddr(value)
		if err != nil || ip.Zone() != "" {
			return "", fieldErr("value", "is not an IP address")
		}
		return ip.Unmap().String(), nil
	case KindCIDR:
		p, err := netip.ParsePrefix(value)
		if err != nil {
			return "", fieldErr("value", "is not a CIDR range such as 203.0.113.0/24")
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		if lo := minBits(p.Addr()); p.Bits() < lo {
			return "", fieldErr("value", "is broader than /%d", lo)
		}
		return p.Masked().String(), nil
	case KindEmail:
		e, err := ident.NormalizeEmail(value)
		if err != nil {
			return "", fieldErr("value", "is not a valid email address")
		}
		return e, nil
	case KindEmailDomain:
		d, err := ident.NormalizeDomain(strings.TrimPrefix(value, "@"))
		if err != nil {
			return "", fieldErr("value", "is not a valid email domain")
		}
		return d, nil
	case KindAccount:
		return normalizeAccount(value)
	case KindCard:
		c, err := ident.ParseCardFingerprint(value)
		if err != nil {
			return "", fieldErr("value", "is not a card written BIN:last4 (6 or 8 digits, colon, 4 digits)")
		}
		return CardKey(c), nil
	}
	return "", fieldErr("kind", "is unknown")
}

func minBits(a netip.Addr) int {
	if a.Is4() {
		return minCIDRBits4
	}
	return minCIDRBits6
}

func normalizeAccount(value string) (string, error) {
	if len(value) > maxAccountLen {
		return "", fieldErr("value", "is longer than %d bytes", maxAccountLen)
	}
	if err := checkText(value); err != nil {
		return "", fieldErr("value", "%s", err)
	}
	return value, nil
}

// checkText accepts printable UTF-8 (spaces allowed).
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return errors.New("contains control characters")
		}
	}
	return nil
}

// CardKey is the form a card is blocklisted and looked up in: the first six
// digits of the BIN and the last four, from a fingerprint "BIN:last4"
// (ident.CardFingerprint, 6 or 8 BIN digits). Card networks moved from 6-
// to 8-digit BINs, and processors report either length for the same card,
// so an entry must match whatever length the entry and the order were
// written with. The first six digits are the issuer number every card
// still has (ISO/IEC 7812).
func CardKey(fp string) string {
	bin, last4, ok := strings.Cut(fp, ":")
	if !ok || len(bin) < 6 {
		return fp
	}
	return bin[:6] + ":" + last4
}

// Mask returns how an entry's normalized value is shown to officers and
// stored in Redis: enough to recognize an entry, not the identifier itself
// (which is stored only as a keyed hash).
//
//	ip            198.51.100.x, 2001:db8:1:x:x:x:x:x (the /24 or /48)
//	email         a***@example.com (domains are not secret)
//	account       cu***56 (first and last two of 8 or more), else 4***
//	card          4*****:1111 (card network digit and last four)
//	email_domain  example.com, shown whole
//	cidr          203.0.113.0/24, shown whole (ranges are stored raw)
func Mask(k Kind, value string) string {
	switch k {
	case KindIP:
		ip, err := netip.ParseAddr(value)
		if err != nil {
			return "x"
		}
		if ip.Is4() {
			b := ip.As4()
			return fmt.Sprintf("%d.%d.%d.x", b[0], b[1], b[2])
		}
		b := ip.As16()
		return fmt.Sprintf("%x:%x:%x:x:x:x:x:x", uint16(b[0])<<8|uint16(b[1]), uint16(b[2])<<8|uint16(b[3]), uint16(b[4])<<8|uint16(b[5]))
	case KindEmail:
		local, domain, ok := strings.Cut(value, "@")
		if !ok || local == "" {
			return "***"
		}
		return local[:1] + "***@" + domain
	case KindAccount:
		r := []rune(value)
		if len(r) >= 8 {
			return string(r[:2]) + "***" + string(r[len(r)-2:])
		}
		if len(r) == 0 {
			return "***"
		}
		return string(r[:1]) + "***"
	case KindCard:
		bin, last4, ok := strings.Cut(value, ":")
		if !ok || bin == "" {
			return "***"
		}
		return bin[:1] + strings.Repeat("*", len(bin)-1) + ":" + last4
	}
	return value
}
