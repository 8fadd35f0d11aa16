package geoblock

// isoCodes lists every officially assigned ISO 3166-1 alpha-2 code (249),
// plus XK (Kosovo), a user-assigned code that MaxMind and the free
// ip-location-db databases use. It is a constant so that codes handed out
// by codeString are substrings of it and cost no allocation.
const isoCodes = "" +
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

// Country groups the aliases in geoblock.countries expand to. They name
// sovereign member states only: territories with their own ISO code (for
// example Åland AX, Réunion RE, French Guiana GF) are not included and must
// be listed explicitly where the operator's legal advice says they count.
var (
	// euMembers are the 27 member states of the European Union.
	euMembers = []string{
		"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
		"IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
	}
	// eeaExtra joins the EU in the European Economic Area.
	eeaExtra = []string{"IS", "LI", "NO"}
	// gdprExtra have data protection law equivalent to the GDPR (UK GDPR,
	// Swiss FADP) that the product treats the same way.
	gdprExtra = []string{"GB", "CH"}
)

// aliasMembers returns the codes an alias stands for, or nil when name is not
// an alias. The slices returned are fresh copies.
func aliasMembers(name string) []string {
	switch name {
	case "EU":
		return append([]string(nil), euMembers...)
	case "EEA":
		return append(append([]string(nil), euMembers...), eeaExtra...)
	case "GDPR":
		return append(append(append([]string(nil), euMembers...), eeaExtra...), gdprExtra...)
	}
	return nil
}

// commonMistakes maps codes people write for a country to its ISO code.
var commonMistakes = map[string]string{"UK": "GB", "EL": "GR"}

// codeIndex maps an upper-case two-letter code to 0..675, or -1.
func codeIndex(code string) int {
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

// isoString returns the canonical upper-case string for code when it is in
// isoCodes, and false otherwise. It does not allocate: the result is a
// substring of the constant. isoCodes is sorted, so this is a binary search.
func isoString(code string) (string, bool) {
	idx := codeIndex(code)
	if idx < 0 {
		return "", false
	}
	lo, hi := 0, len(isoCodes)/2
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		c := codeIndex(isoCodes[2*mid : 2*mid+2])
		switch {
		case c == idx:
			return isoCodes[2*mid : 2*mid+2], true
		case c < idx:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return "", false
}
