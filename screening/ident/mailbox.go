package ident

import (
	"fmt"
	"strings"
)

// EmailRules says which spellings of an email address name one mailbox:
// the form under which velocity counters and blocklist entries key an
// address (screening.email_normalization).
type EmailRules int

const (
	// EmailBasic keys an address by NormalizeEmail's form: case folded,
	// "+tag" removed at every domain, dots kept.
	EmailBasic EmailRules = iota
	// EmailProvider keys it by MailboxEmail of that form: also the
	// spellings a mailbox provider documents as one mailbox.
	EmailProvider
)

// ParseEmailRules reads the config spelling of EmailRules: "provider" or
// "basic".
func ParseEmailRules(s string) (EmailRules, error) {
	switch s {
	case "provider":
		return EmailProvider, nil
	case "basic":
		return EmailBasic, nil
	}
	return 0, fmt.Errorf("email rules %q: want provider or basic: %w", s, ErrInvalid)
}

// Forms returns the form under which email is keyed under r, and the form
// an earlier release keyed it under (EmailBasic's) when that differs, else
// "". Data keyed before EmailProvider existed (blocklist entries,
// counters) is found again by looking the older form up too. Errors wrap
// ErrInvalid.
func (r EmailRules) Forms(email string) (key, older string, err error) {
	basic, err := NormalizeEmail(email)
	if err != nil {
		return "", "", err
	}
	if r != EmailProvider {
		return basic, "", nil
	}
	if m := MailboxEmail(basic); m != basic {
		return m, basic, nil
	}
	return basic, "", nil
}

// MailboxEmail folds an address in NormalizeEmail's form by the rules of
// the mailbox providers that document several spellings of one mailbox:
//
//   - Gmail ignores dots in the local part ("Gmail doesn't recognize dots
//     as characters within usernames", support.google.com/mail/answer/7436150),
//     and googlemail.com is the domain Gmail used where it was branded
//     Google Mail (UK, Germany): the same accounts. Both become
//     "<local without dots>@gmail.com".
//   - Proton: every account's address exists at proton.me and
//     protonmail.com (protonmail.ch before 2016), and pm.me is "a short
//     version of this address" (proton.me/support/addresses-and-aliases):
//     one username, so all four become proton.me.
//   - Apple: @me.com and @mac.com addresses of an iCloud account are the
//     same account's @icloud.com address (support.apple.com/118230), so
//     they become icloud.com.
//   - Fastmail subdomain addressing: anything@user.fastmail.com is
//     delivered as user+anything@fastmail.com
//     (www.fastmail.help/hc/en-us/articles/360060591053), so it becomes
//     user@fastmail.com (likewise fastmail.fm).
//
// "+tag" sub-addresses (Gmail, Outlook.com and Exchange Online's plus
// addressing, iCloud, Fastmail, Proton) are already removed at every domain
// by NormalizeEmail. Yahoo's "base-keyword" disposable addresses are not
// folded: the base name is not the account's address, and hyphens are
// legitimate elsewhere. Other domains are returned unchanged. MailboxEmail
// is idempotent.
func MailboxEmail(normalized string) string {
	at := strings.LastIndexByte(normalized, '@')
	if at <= 0 {
		return normalized
	}
	local, domain := normalized[:at], normalized[at+1:]
	switch domain {
	case "gmail.com", "googlemail.com":
		// Gmail also ends the name at a "+" that NormalizeEmail kept
		// because a dot preceded it ("a.+b").
		name, _, _ := strings.Cut(local, "+")
		if l := strings.ReplaceAll(name, ".", ""); l != "" {
			local = l
		}
		domain = "gmail.com"
	case "proton.me", "protonmail.com", "protonmail.ch", "pm.me":
		domain = "proton.me"
	case "icloud.com", "me.com", "mac.com":
		domain = "icloud.com"
	default:
		for _, base := range []string{"fastmail.com", "fastmail.fm"} {
			user, ok := strings.CutSuffix(domain, "."+base)
			if ok && user != "" && !strings.Contains(user, ".") {
				local, domain = user, base
			}
		}
	}
	return local + "@" + domain
}
