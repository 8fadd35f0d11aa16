package screening

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/url"
	"slices"
	"strings"
	"unicode"
)

// This file decides whether a request on a route's path is the route's
// checkout by its query parameters (match_query), read the way the PHP
// storefront behind the gateway reads them, or refuses it when they could
// be read two ways. The rule (docs/SECURITY.md, "Checkout routes"):
//
//   - every key PHP files under the parameter's name counts ("wc-ajax",
//     " wc-ajax", "rest.route" and "rest route" for "rest_route", a key cut
//     at NUL), percent-decoded as PHP's urldecode does;
//   - with match_body, a form body (urlencoded or multipart, as PHP reads
//     $_POST) counts too: WHMCS reads "a" from $_REQUEST, where the body
//     wins, WordPress takes "rest_route" and other query vars from $_POST
//     before $_GET (WP::parse_request);
//   - a value matches when any reading a storefront could give it equals
//     the wanted value: WordPress's sanitize_text_field (tags, line breaks,
//     "%XX" octets removed, white space trimmed), wp_unslash, the case
//     folding of WordPress REST routes (matched with the "i" flag) and their
//     trailing slashes (untrailingslashit), and for a path-like value
//     ("/wc/store/v1/checkout") every route below it at a segment boundary
//     ("/wc/store/v1/checkout/123"). Reading too much as a checkout only
//     screens a request the storefront would not act on; reading too little
//     would forward a checkout unscreened;
//   - the parameter given twice (in the query, in the body, or in both with
//     different values) or as an array ("wc-ajax[]=checkout") is refused
//     when any copy matches: PHP takes the last copy, WordPress dies on a
//     mismatch, other readers take the first.

// AnyValue as a match_query value matches the parameter's presence, with
// any value (PHP's isset): WooCommerce processes a classic checkout posted
// with woocommerce_checkout_place_order whatever its value.
const AnyValue = "*"

// MaxInspectBytes bounds the body read to find a match_body parameter: PHP's
// default post_max_size (8M), over which PHP fills no $_POST at all.
const MaxInspectBytes = 8 << 20

// Matcher is one way a route recognises its checkout: a request on one of
// Paths (and below, by the gateway's path matching rule) whose query (and,
// with MatchBody, form body) carries every MatchQuery parameter. Batch
// marks a batch endpoint (the WooCommerce Store API's /batch): the request
// is not screened, but refused when one of its sub-requests goes to a path
// at or below one of Batch.
type Matcher struct {
	Paths      []string
	MatchQuery map[string]string
	MatchBody  bool
	Batch      []string
}

// param is one copy of a parameter in a request.
type param struct {
	value  string
	array  bool
	inBody bool
}

// IsFormContentType reports whether PHP, or Go's mime reading, takes the
// Content-Type for a form body that fills $_POST.
func IsFormContentType(contentType string) bool {
	php, _, _ := strings.Cut(contentType, ";")
	if i := strings.IndexAny(php, ", "); i >= 0 {
		php = php[:i]
	}
	php = lowerASCIIBytes(strings.TrimSpace(php))
	mt, _, _ := mime.ParseMediaType(contentType)
	for _, t := range []string{php, mt} {
		if t == "application/x-www-form-urlencoded" || t == "multipart/form-data" {
			return true
		}
	}
	return false
}

// NeedsBody reports whether deciding Match needs the request body.
func (m Matcher) NeedsBody(contentType string) bool {
	return m.MatchBody && len(m.MatchQuery) > 0 && IsFormContentType(contentType)
}

// Match reports whether a request with this query (and body, when
// NeedsBody) is this matcher's checkout; the path was matched by the
// caller. It returns an error wrapping ErrInvalidInput when a parameter
// that matches could be read two ways, or when the body cannot be read.
func (m Matcher) Match(rawQuery, contentType string, body []byte) (bool, error) {
	if len(m.MatchQuery) == 0 {
		return true, nil
	}
	var form url.Values
	if m.NeedsBody(contentType) {
		f, err := formValues(contentType, body)
		if err != nil {
			return false, fmt.Errorf("reading the form body for the route's query parameters: %w", err)
		}
		form = f
	}
	for _, name := range slices.Sorted(maps.Keys(m.MatchQuery)) {
		want := m.MatchQuery[name]
		copies := queryParams(rawQuery, name)
		for k, vs := range form {
			if n, arr := phpFormName(k); n == phpName(name) {
				for _, v := range vs {
					copies = append(copies, param{value: v, array: arr, inBody: true})
				}
			}
		}
		matched := false
		for _, c := range copies {
			if want == AnyValue || ValueMatches(c.value, want) {
				matched = true
			}
		}
		if !matched {
			return false, nil
		}
		if err := checkCopies(name, copies); err != nil {
			return false, err
		}
	}
	return true, nil
}

// checkCopies refuses a matching parameter that is given as an array,
// twice in one place, or with different values in the query and the body.
func checkCopies(name string, copies []param) error {
	var inQuery, inBody int
	for _, c := range copies {
		if c.array {
			return fieldErr(name, "must be a single value, not an array (the storefront reads it differently)")
		}
		if c.inBody {
			inBody++
		} else {
			inQuery++
		}
		if c.value != copies[0].value {
			return fieldErr(name, "given more than once with different values (the storefront may read another copy)")
		}
	}
	if inQuery > 1 || inBody > 1 {
		return fieldErr(name, "given more than once (the storefront may read another copy)")
	}
	return nil
}

// queryParams returns the copies of a parameter in a raw query, by PHP's
// split at '&' and by the split at ';' too that other parsers make.
func queryParams(rawQuery, name string) []param {
	var out []param
	want := phpName(name)
	add := func(pair string) {
		k, v, _ := strings.Cut(pair, "=")
		if n, arr := phpFormName(phpURLDecode(k)); n == want {
			out = append(out, param{value: phpURLDecode(v), array: arr})
		}
	}
	for pair := range strings.SplitSeq(rawQuery, "&") {
		if pair == "" {
			continue
		}
		add(pair)
		if strings.IndexByte(pair, ';') >= 0 {
			for sub := range strings.SplitSeq(pair, ";") {
				if sub != pair {
					add(sub)
				}
			}
		}
	}
	return out
}

func phpName(name string) string {
	n, _ := phpFormName(name)
	return n
}

// formValues reads a form body strictly, as form.go does for checkouts.
func formValues(contentType string, body []byte) (url.Values, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("content type %q: %w", clip(contentType), ErrUnsupportedMediaType)
	}
	if mt == "multipart/form-data" {
		f, err := multipartForm(contentType, params, body)
		return f.values, err
	}
	if mt != "application/x-www-form-urlencoded" {
		return nil, fmt.Errorf("content type %q is read as a form by PHP only: %w", clip(contentType), ErrUnsupportedMediaType)
	}
	return urlencodedValues(string(body))
}

// ValueMatches reports whether any reading a storefront could give the
// (already percent-decoded) value v equals want: see the rule at the top
// of this file.
func ValueMatches(v, want string) bool {
	w := looseValue(want, false)
	for _, decode := range []bool{false, true} {
		got := looseValue(v, decode)
		if got == w {
			return true
		}
		if strings.HasPrefix(w, "/") && strings.HasPrefix(got, w+"/") {
			return true
		}
	}
	return false
}

// looseValue folds the differences between the readings of a parameter
// value: backslashes (wp_unslash), tags and a lone '<' (strip_all_tags),
// "%XX" octets (removed by sanitize_text_field, or decoded once more by a
// reader that decodes twice), white space and control characters anywhere,
// case (Unicode simple folding), and for a path-like value repeated, dot and
// trailing slashes.
func looseValue(v string, decodeEscapes bool) string {
	v = strings.ReplaceAll(v, `\`, "")
	v = stripTags(v)
	if decodeEscapes {
		for range 3 {
			d := phpURLDecode(strings.ReplaceAll(v, "+", "%2B"))
			if d == v {
				break
			}
			v = d
		}
	} else {
		v = removeOctets(v)
	}
	v = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '\u200b' || r == '\ufeff' {
			return -1
		}
		return unicode.SimpleFold(unicode.ToLower(r))
	}, v)
	v = strings.ToLower(v)
	if !strings.ContainsRune(v, '/') {
		return v
	}
	var segs []string
	for s := range strings.SplitSeq(v, "/") {
		switch s {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, s)
		}
	}
	return "/" + strings.Join(segs, "/")
}

// stripTags drops "<...>" and any other '<' as WordPress's
// wp_strip_all_tags and wp_pre_kses_less_than do, in the loose direction.
func stripTags(s string) string {
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			return s
		}
		if j := strings.IndexByte(s[i:], '>'); j >= 0 {
			s = s[:i] + s[i+j+1:]
		} else {
			s = s[:i] + s[i+1:]
		}
	}
}

// removeOctets removes "%XX" octets until none is left, as
// sanitize_text_field does.
func removeOctets(s string) string {
	for {
		out := s
		for i := 0; i+2 < len(out); i++ {
			if out[i] == '%' && isHex(out[i+1]) && isHex(out[i+2]) {
				out = out[:i] + out[i+3:]
				i--
			}
		}
		if out == s {
			return s
		}
		s = out
	}
}

// CheckBatch refuses a batch request (the Store API's POST /batch, whose
// sub-requests WordPress dispatches one by one: WP_REST_Server::
// serve_batch_request_v1) when a sub-request goes to a path at or below one
// of m.Batch: the Store API's Checkout route allows batching
// ("allow_batch" in Routes/V1/Checkout.php), so a checkout could ride in a
// batch past the screening of the checkout route. Other batches (the cart
// block's item updates) pass. A body that is not one JSON object with a
// "requests" list is refused too: WordPress would read it some other way.
func (m Matcher) CheckBatch(contentType string, body []byte) error {
	if len(m.Batch) == 0 {
		return nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return fmt.Errorf("a batch request must be application/json, not %q: %w", clip(contentType), ErrUnsupportedMediaType)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	root, err := decodeStrict(dec, 0)
	if err != nil {
		return fmt.Errorf("malformed batch body: %w: %w", ErrInvalidInput, err)
	}
	obj, _ := root.(map[string]any)
	var reqs []any
	for k, v := range obj {
		if foldKey(k) == foldKey("requests") {
			reqs, _ = v.([]any)
		}
	}
	if obj == nil || reqs == nil {
		return fieldErr("requests", "a batch body must be an object with a requests list")
	}
	for i, r := range reqs {
		sub, ok := r.(map[string]any)
		if !ok {
			return fieldErr(fmt.Sprintf("requests.%d", i), "must be an object")
		}
		for k, v := range sub {
			if foldKey(k) != foldKey("path") {
				continue
			}
			p, ok := v.(string)
			if !ok {
				return fieldErr(fmt.Sprintf("requests.%d.path", i), "must be a string")
			}
			p, _, _ = strings.Cut(p, "?")
			p = phpURLDecode(p)
			if !strings.HasPrefix(p, "/") {
				p = "/" + p
			}
			for _, b := range m.Batch {
				if ValueMatches(p, b) {
					return fieldErr(fmt.Sprintf("requests.%d.path", i), "a checkout inside a batch request is not screened: send it to the checkout route itself")
				}
			}
		}
	}
	return nil
}

// MustMatch reports whether the query matches, counting an ambiguous
// reading as a match.
func (m Matcher) MustMatch(rawQuery string) bool {
	ok, err := m.Match(rawQuery, "", nil)
	return ok || err != nil
}
