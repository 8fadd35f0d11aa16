package minfraud

import (
	"crypto/md5"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// HashEmail returns the MD5 (lower-case hex) of addr normalized the way
// MaxMind's own client libraries normalize it before hashing (see
// NormalizeEmail), the form minFraud accepts in email.address when the
// plain address should not leave the gateway.
//
// A value without '@' is not an email: a 32-digit hex string is taken to be
// a hash already and returned in lower case (as MaxMind's clients pass it
// through); anything else gives "" so that garbage is never hashed into
// something that looks like a real address.
func HashEmail(addr string) string {
	n, _, ok := NormalizeEmail(addr)
	if !ok {
		if isMD5Hex(addr) {
			return strings.ToLower(addr)
		}
		return ""
	}
	sum := md5.Sum([]byte(n)) //nolint:gosec // MD5 is minFraud's wire format, not a security boundary.
	return hex.EncodeToString(sum[:])
}

// HashedEmail returns the minFraud email input for addr with the address
// hashed (HashEmail) and the normalized domain in clear, as MaxMind's
// clients send it with hashing enabled. It returns nil when addr is not an
// email address.
func HashedEmail(addr string) *Email {
	h := HashEmail(addr)
	if h == "" {
		return nil
	}
	_, domain, _ := NormalizeEmail(addr)
	return &Email{Address: h, Domain: domain}
}

// NormalizeEmail normalizes an email address as MaxMind documents in
// "Normalizing Email Addresses for minFraud" and implements in its clients
// (ported from minfraud-api-python's request.py, whose tests are the
// vectors in email_test.go):
//
//   - trim whitespace, lower-case, split at the last '@';
//   - domain: trim, drop trailing dots, IDNA to ASCII, collapse a repeated
//     ".com", "123gmail.com" to "gmail.com", fix TLD and domain typos, map
//     equivalent domains (googlemail.com to gmail.com, ...);
//   - local part: NFC, drop the alias after the first '+' ('-' at Yahoo
//     domains) unless it starts the local part, drop dots at gmail.com;
//   - "alias@user.fastmail.com" becomes "user@fastmail.com".
//
// It returns the normalized address, its domain, and false when addr has
// no '@'. Lower-casing is Go's simple case mapping, which differs from
// Python's full mapping only for a few letters such as U+0130.
func NormalizeEmail(addr string) (normalized, domain string, ok bool) {
	addr = strings.TrimFunc(strings.ToLower(addr), isPySpace)
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", "", false
	}
	domain = cleanEmailDomain(addr[at+1:])
	local := norm.NFC.String(addr[:at])

	divider := "+"
	if isYahooDomain(domain) {
		divider = "-"
	}
	if i := strings.Index(local, divider); i > 0 {
		local = local[:i]
	}
	if domain == "gmail.com" {
		local = strings.ReplaceAll(local, ".", "")
	}
	if first, rest, found := strings.Cut(domain, "."); found && strings.Contains(rest, ".") && isFastmailDomain(rest) {
		domain = rest
		if local != "" {
			local = first
		}
	}
	return local + "@" + domain, domain, true
}

// idnaProfile converts internationalized domains like Python's "idna"
// codec does for the names that matter: UTS 46 mapping (with NFC and
// transitional ß to ss, as IDNA 2003) but no STD3 restriction on ASCII
// characters, since the Python codec does not enforce it either.
var idnaProfile = idna.New(idna.MapForLookup(), idna.Transitional(true), idna.StrictDomainName(false))

func cleanEmailDomain(d string) string {
	d = strings.TrimRight(strings.TrimFunc(d, isPySpace), ".")
	if !isASCII(d) {
		// On failure the Python client raises; we keep the domain as it is,
		// which only means minFraud sees an unnormalized hash.
		if a, err := idnaProfile.ToASCII(d); err == nil {
			d = a
		}
	}
	for strings.HasSuffix(d, ".com.com") {
		d = strings.TrimSuffix(d, ".com")
	}
	if digits := strings.TrimLeft(d, "0123456789"); len(digits) < len(d) && (digits == "gmail.com" || digits == "gmai.com") {
		d = "gmail.com"
	}
	if i := strings.LastIndexByte(d, '.'); i >= 0 && isTypoTLD(d[i+1:]) {
		d = d[:i] + ".com"
	}
	d = fixTypoDomain(d)
	return equivalentDomain(d)
}

// isPySpace is Python's str.isspace, which str.strip() uses: Unicode white
// space plus the ASCII separators U+001C to U+001F.
func isPySpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func isMD5Hex(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// isTypoTLD reports whether tld is one of the misspellings of "com" that
// MaxMind's clients correct.
func isTypoTLD(tld string) bool {
	switch tld {
	case "comm", "commm", "commmm", "comn",
		"cbm", "ccm", "cdm", "cem", "cfm", "cgm", "chm", "cim", "cjm", "ckm", "clm",
		"cmm", "cnm", "cpm", "cqm", "crm", "csm", "ctm", "cum", "cvm", "cwm", "cxm",
		"cym", "czm", "col", "con", "dom", "don", "som", "son", "vom", "von",
		"xom", "xon", "clam", "colm", "comcom":
		return true
	}
	return false
}

func fixTypoDomain(d string) string {
	switch d {
	case "gmai.com", "gamil.com", "gmali.com", "gmial.com", "gmil.com", "gmaill.com",
		"gmailm.com", "gmailo.com", "gmailyhoo.com", "yahoogmail.com":
		return "gmail.com"
	case "putlook.com":
		return "outlook.com"
	}
	return d
}

func equivalentDomain(d string) string {
	switch d {
	case "googlemail.com":
		return "gmail.com"
	case "pm.me", "proton.me":
		return "protonmail.com"
	case "yandex.by", "yandex.com", "yandex.kz", "yandex.ua", "ya.ru":
		return "yandex.ru"
	}
	return d
}

func isFastmailDomain(d string) bool {
	switch d {
	case "123mail.org", "150mail.com", "150ml.com", "16mail.com", "2-mail.com",
		"4email.net", "50mail.com", "airpost.net", "allmail.net", "bestmail.us",
		"cluemail.com", "elitemail.org", "emailcorner.net", "emailengine.net",
		"emailengine.org", "emailgroups.net", "emailplus.org", "emailuser.net",
		"eml.cc", "f-m.fm", "fast-email.com", "fast-mail.org", "fastem.com",
		"fastemail.us", "fastemailer.com", "fastest.cc", "fastimap.com",
		"fastmail.ca", "fastmail.cn", "fastmail.co.uk", "fastmail.com",
		"fastmail.com.au", "fastmail.de", "fastmail.es", "fastmail.fm",
		"fastmail.fr", "fastmail.im", "fastmail.in", "fastmail.jp", "fastmail.mx",
		"fastmail.net", "fastmail.nl", "fastmail.org", "fastmail.se", "fastmail.to",
		"fastmail.tw", "fastmail.uk", "fastmail.us", "fastmailbox.net",
		"fastmessaging.com", "fea.st", "fmail.co.uk", "fmailbox.com", "fmgirl.com",
		"fmguy.com", "ftml.net", "h-mail.us", "hailmail.net", "imap-mail.com",
		"imap.cc", "imapmail.org", "inoutbox.com", "internet-e-mail.com",
		"internet-mail.org", "internetemails.net", "internetmailing.net",
		"jetemail.net", "justemail.net", "letterboxes.org", "mail-central.com",
		"mail-page.com", "mailandftp.com", "mailas.com", "mailbolt.com", "mailc.net",
		"mailcan.com", "mailforce.net", "mailftp.com", "mailhaven.com",
		"mailingaddress.org", "mailite.com", "mailmight.com", "mailnew.com",
		"mailsent.net", "mailservice.ms", "mailup.net", "mailworks.org", "ml1.net",
		"mm.st", "myfastmail.com", "mymacmail.com", "nospammail.net", "ownmail.net",
		"petml.com", "postinbox.com", "postpro.net", "proinbox.com",
		"promessage.com", "realemail.net", "reallyfast.biz", "reallyfast.info",
		"rushpost.com", "sent.as", "sent.at", "sent.com", "speedpost.net",
		"speedymail.org", "ssl-mail.com", "swift-mail.com", "the-fastest.net",
		"the-quickest.com", "theinternetemail.com", "veryfast.biz",
		"veryspeedy.net", "warpmail.net", "xsmail.com", "yepmail.net",
		"your-mail.com":
		return true
	}
	return false
}

func isYahooDomain(d string) bool {
	switch d {
	case "myyahoo.com", "y7mail.com", "yahoo.at", "yahoo.be", "yahoo.bg",
		"yahoo.ca", "yahoo.cl", "yahoo.co.id", "yahoo.co.il", "yahoo.co.in",
		"yahoo.co.kr", "yahoo.co.nz", "yahoo.co.th", "yahoo.co.uk", "yahoo.co.za",
		"yahoo.com", "yahoo.com.ar", "yahoo.com.au", "yahoo.com.br", "yahoo.com.co",
		"yahoo.com.hk", "yahoo.com.hr", "yahoo.com.mx", "yahoo.com.my",
		"yahoo.com.pe", "yahoo.com.ph", "yahoo.com.sg", "yahoo.com.tr",
		"yahoo.com.tw", "yahoo.com.ua", "yahoo.com.ve", "yahoo.com.vn", "yahoo.cz",
		"yahoo.de", "yahoo.dk", "yahoo.ee", "yahoo.es", "yahoo.fi", "yahoo.fr",
		"yahoo.gr", "yahoo.hu", "yahoo.ie", "yahoo.in", "yahoo.it", "yahoo.lt",
		"yahoo.lv", "yahoo.nl", "yahoo.no", "yahoo.pl", "yahoo.pt", "yahoo.ro",
		"yahoo.se", "yahoo.sk", "ymail.com":
		return true
	}
	return false
}
