// Package iso3166 is the gateway's one table of ISO 3166-1 alpha-2
// country codes, read by the geo-block, order screening and the embedded
// test fixtures alike, so that they agree on what a country is.
package iso3166

import "iter"

// codes lists every officially assigned ISO 3166-1 alpha-2 code (249),
// plus XK (Kosovo): user-assigned in the standard, but used by MaxMind's
// databases, the free ip-location-db databases and the European
// Commission, so a customer there is a customer. Sorted, two bytes a
// code; a constant, so that codes handed out are substrings of it (no
// allocation) and the table is not mutable package state.
const codes = "" +
	"ADAEAFAGAIALAMAOAQARASATAUAWAXAZ" +
	"BABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZ" +
	"CACCCDCFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZ" +
	"DEDJDKDMDODZ" +
	"ECEEEGEHERESET" +
	"FIFJFKFMFOFR" +
	"GAGBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGY" +
	"HKHMHNHRHTHU" +
	"IDIEILIMINIOIQIRISIT" +
	"JEJMJOJP" +
	"KEKGKHKIKMKNKPKRKWKYKZ" +
	"LALBLCLILKLRLSLTLULVLY" +
	"MAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZ" +
	"NANCNENFNGNINLNONPNRNUNZ" +
	"OM" +
	"PAPEPFPGPHPKPLPMPNPRPSPTPWPY" +
	"QA" +
	"RERORSRURW" +
	"SASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZ" +
	"TCTDTFTGTHTJTKTLTMTNTOTRTTTVTWTZ" +
	"UAUGUMUSUYUZ" +
	"VAVCVEVGVIVNVU" +
	"WFWS" +
	"XK" +
	"YEYT" +
	"ZAZMZW"

// Index maps a two-letter code, in either case, to 0..675 (the place of
// its letters), or -1 when it is not two ASCII letters. Every pair of
// letters has an index, assigned or not: it keys arrays by country.
func Index(code string) int {
	if len(code) != 2 {
		return -1
	}
	a, b := code[0], code[1]
	if a >= 'a' && a <= 'z' {
		a -= 'a' - 'A'
	}
	if b >= 'a' && b <= 'z' {
		b -= 'a' - 'A'
	}
	if a < 'A' || a > 'Z' || b < 'A' || b > 'Z' {
		return -1
	}
	return int(a-'A')*26 + int(b-'A')
}

// Canonical returns the upper-case code for code, in either case, when it
// is in the table, and false otherwise. It does not allocate: the result
// is a substring of the table, found by binary search.
func Canonical(code string) (string, bool) {
	idx := Index(code)
	if idx < 0 {
		return "", false
	}
	lo, hi := 0, len(codes)/2
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		c := Index(codes[2*mid : 2*mid+2])
		switch {
		case c == idx:
			return codes[2*mid : 2*mid+2], true
		case c < idx:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return "", false
}

// IsCountry reports whether code is an upper-case code in the table: the
// strict reading for input that must be written canonically.
func IsCountry(code string) bool {
	c, ok := Canonical(code)
	return ok && c == code
}

// All yields every code in the table, in order.
func All() iter.Seq[string] {
	return func(yield func(string) bool) {
		for i := 0; i+2 <= len(codes); i += 2 {
			if !yield(codes[i : i+2]) {
				return
			}
		}
	}
}
