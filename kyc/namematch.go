package kyc

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Name matching helps the officer compare the legal name a customer typed
// with the billing name of the order and the local part of the account's
// email. It survives what honest differences look like: accents ("José" ~
// "Jose"), case, the order of given and family names ("Lee Ann" ~ "Ann
// Lee"), German and Nordic spellings ("Müller" ~ "Mueller"), and
// transliteration from Cyrillic and Greek ("Дмитрий Иванов" ~ "Dmitriy
// Ivanov"). It is a score for a person to read, never a decision.

// translit spells letters that have no decomposition into a Latin base.
var translit = map[rune]string{
	'ß': "ss", 'æ': "ae", 'ø': "o", 'œ': "oe", 'ł': "l", 'đ': "d", 'ð': "d", 'þ': "th", 'ı': "i",
	// Cyrillic (Russian, Ukrainian, Belarusian, Serbian, Bulgarian).
	'а': "a", 'б': "b", 'в': "v", 'г': "g", 'ґ': "g", 'д': "d", 'е': "e", 'ё': "e", 'є': "ye", 'ж': "zh",
	'з': "z", 'и': "i", 'і': "i", 'ї': "yi", 'й': "y", 'к': "k", 'л': "l", 'м': "m", 'н': "n", 'о': "o",
	'п': "p", 'р': "r", 'с': "s", 'т': "t", 'у': "u", 'ў': "u", 'ф': "f", 'х': "kh", 'ц': "ts", 'ч': "ch",
	'ш': "sh", 'щ': "shch", 'ъ': "", 'ы': "y", 'ь': "", 'э': "e", 'ю': "yu", 'я': "ya", 'ђ': "dj",
	'ј': "j", 'љ': "lj", 'њ': "nj", 'ћ': "c", 'џ': "dz",
	// Greek.
	'α': "a", 'β': "v", 'γ': "g", 'δ': "d", 'ε': "e", 'ζ': "z", 'η': "i", 'θ': "th", 'ι': "i", 'κ': "k",
	'λ': "l", 'μ': "m", 'ν': "n", 'ξ': "x", 'ο': "o", 'π': "p", 'ρ': "r", 'σ': "s", 'ς': "s", 'τ': "t",
	'υ': "y", 'φ': "f", 'χ': "ch", 'ψ': "ps", 'ω': "o",
}

// nameTokens is a name as comparable words: decomposed, marks dropped,
// lower case, transliterated, split on anything not a letter, with the
// German/Nordic digraphs folded (ae, oe, ue -> a, o, u) on every side
// alike.
func nameTokens(s string) []string {
	var b strings.Builder
	for _, r := range norm.NFKD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		r = unicode.ToLower(r)
		if t, ok := translit[r]; ok {
			b.WriteString(t)
			continue
		}
		if r >= 'a' && r <= 'z' {
			b.WriteRune(r)
			continue
		}
		b.WriteByte(' ')
	}
	words := strings.Fields(b.String())
	for i, w := range words {
		w = strings.ReplaceAll(w, "ae", "a")
		w = strings.ReplaceAll(w, "oe", "o")
		w = strings.ReplaceAll(w, "ue", "u")
		words[i] = w
	}
	return words
}

// NameScore compares two names: 100 when they are the same words in any
// order, 0 when nothing matches, and in between by how many words match
// (a word matches another close to it: one typo in six letters).
func NameScore(a, b string) int {
	return tokenScore(nameTokens(a), nameTokens(b))
}

func tokenScore(ta, tb []string) int {
	if len(ta) == 0 || len(tb) == 0 {
		return 0
	}
	used := make([]bool, len(tb))
	var sum float64
	for _, x := range ta {
		best, at := 0.0, -1
		for j, y := range tb {
			if used[j] {
				continue
			}
			if s := similarity(x, y); s > best {
				best, at = s, j
			}
		}
		if at >= 0 && best >= 0.8 {
			used[at] = true
			sum += best
		}
	}
	return int(200*sum/float64(len(ta)+len(tb)) + 0.5)
}

// EmailNameScore compares a legal name with an email address's local part
// ("ann.lee", "lee_ann77", "annlee", "alee"): 100 when the local part
// spells the name's words in some order (or an initial and a family
// name), else the word score.
func EmailNameScore(name, email string) int {
	local, _, ok := strings.Cut(email, "@")
	if !ok {
		return 0
	}
	words := nameTokens(name)
	parts := nameTokens(local)
	if len(words) == 0 || len(parts) == 0 {
		return 0
	}
	joined := strings.Join(parts, "")
	for i, w := range words {
		for j, v := range words {
			if i == j {
				continue
			}
			if joined == w+v || joined == w[:1]+v || joined == w+v[:1] {
				return 100
			}
		}
	}
	if len(words) == 1 && joined == words[0] {
		return 100
	}
	return tokenScore(parts, words)
}

// similarity is 1 - edit distance / longer length.
func similarity(a, b string) float64 {
	if a == b {
		return 1
	}
	ra, rb := []rune(a), []rune(b)
	n := max(len(ra), len(rb))
	if n == 0 {
		return 1
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return 1 - float64(prev[len(rb)])/float64(n)
}
