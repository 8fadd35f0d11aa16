package screening

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/url"
	"slices"
	"strings"
)

// This file reads the form bodies (application/x-www-form-urlencoded and
// multipart/form-data) and the query string of intercepted checkouts. The
// rule is the product's: the gateway reads a request exactly as the
// storefront will, or refuses it. Storefronts of VPS sellers are mostly PHP
// (WHMCS, WooCommerce, FOSSBilling, Blesta), some Go or Python; where their
// parsers could read one body two ways, the body is refused with
// ErrInvalidInput (400) and never forwarded. The PHP behaviour cited below
// is that of php-src main/rfc1867.c (rfc1867_post_handler, find_boundary,
// multipart_buffer_headers, php_ap_getword, php_ap_getword_conf,
// multipart_buffer_read), main/SAPI.c (sapi_read_post_data) and
// main/php_variables.c (php_register_variable_ex, php_default_treat_data);
// the tests check it against a real PHP (gateway's TestPHPDifferential and
// TestPHPMutatedCheckouts).

// maxFormFields is PHP's default max_input_vars. PHP silently drops the
// variables after it, so a field the gateway read past that point would
// be one the storefront never sees.
const maxFormFields = 1000

// formFields is a form body as the storefront will read it.
type formFields struct {
	values url.Values // text fields, by the key as sent
	files  []string   // names of the file parts (multipart only)
}

// formLookup reads a form body of media type mt (contentType as sent,
// params parsed by mime.ParseMediaType) and returns its field lookup.
func formLookup(mt, contentType string, params map[string]string, body []byte) (lookupFunc, error) {
	// PHP (sapi_read_post_data) takes the media type up to the first ';',
	// ',' or space and parses no body it does not know: with a tab before
	// the ';' the storefront would act on no field at all.
	php, _, _ := strings.Cut(contentType, ";")
	if i := strings.IndexAny(php, ", "); i >= 0 {
		php = php[:i]
	}
	if lowerASCIIBytes(php) != mt {
		return nil, fmt.Errorf("content type %q is read as another media type by PHP: %w", clip(contentType), ErrUnsupportedMediaType)
	}
	var form formFields
	var err error
	if mt == "multipart/form-data" {
		form, err = multipartForm(contentType, params, body)
	} else {
		if cs, ok := params["charset"]; ok && !plainCharset(cs) {
			// PHP and Go ignore the charset, a parser that honours it
			// would decode other text than the bytes screened.
			return nil, fmt.Errorf("form body in charset %q, not UTF-8: %w", clip(cs), ErrUnsupportedMediaType)
		}
		form.values, err = urlencodedValues(string(body))
	}
	if err != nil {
		return nil, err
	}
	// PHP files several keys under one name ("card.bin", "card bin" and
	// " card_bin" all become $_POST['card_bin']) and makes "card_bin[]" an
	// array: every key PHP files under a field's name counts as that field.
	byName := make(map[string][]string, len(form.values))
	for k := range form.values {
		n, _ := phpFormName(k)
		byName[n] = append(byName[n], k)
	}
	return func(name string) (string, bool, error) {
		for _, f := range form.files {
			if formKeyIs(f, name) {
				// PHP files a part with any filename parameter, even
				// filename="", under $_FILES; other parsers read it as
				// a field. Either way it is not a value to screen.
				return "", false, errors.New("must be a text field, not a file upload")
			}
		}
		keys := []string{name}
		if !strings.ContainsRune(name, '[') { // a nested name is matched exactly
			n, _ := phpFormName(name)
			keys = byName[n]
		}
		var vs []string
		for _, k := range keys {
			if _, array := phpFormName(k); array && k != name {
				return "", false, errors.New("must be a single value, not an array")
			}
			vs = append(vs, form.values[k]...)
		}
		switch {
		case len(vs) == 0:
			return "", false, nil
		case len(vs) > 1:
			// The storefront's framework may read the first or the last
			// copy: screening a different value than it uses would be a
			// bypass.
			return "", false, errors.New("given more than once")
		}
		return vs[0], true, nil
	}, nil
}

// formKeyIs reports whether the storefront files the form key k under the
// route's body field name.
func formKeyIs(k, name string) bool {
	if k == name {
		return true
	}
	if strings.ContainsRune(name, '[') {
		return false
	}
	kn, _ := phpFormName(k)
	nn, _ := phpFormName(name)
	return kn == nn
}

// phpFormName returns the name under which PHP's form parser files a key,
// and whether it makes that name an array: PHP cuts the key at a NUL byte,
// drops leading spaces, turns ' ' and '.' into '_' before the first '[',
// makes "name[...]" an element of the array name, and turns a '[' that is
// never closed into '_' (php_register_variable_ex).
func phpFormName(k string) (string, bool) {
	if i := strings.IndexByte(k, 0); i >= 0 {
		k = k[:i]
	}
	k = strings.TrimLeft(k, " ")
	base, rest := k, ""
	if i := strings.IndexByte(k, '['); i >= 0 {
		base, rest = k[:i], k[i:]
	}
	base = strings.NewReplacer(" ", "_", ".", "_").Replace(base)
	switch {
	case rest == "":
		return base, false
	case strings.IndexByte(rest, ']') >= 0:
		return base, true
	}
	return base + "_" + rest[1:], false
}

// urlencodedValues reads an application/x-www-form-urlencoded body. PHP
// (php_default_treat_data) splits it at '&' only, keeps a malformed
// percent escape as it is and cuts a key at NUL; Go's url.ParseQuery also
// splits at ';' in old releases, refuses the pair in new ones, and refuses
// a malformed escape. Those are refused here, so that every parser reads
// the same pairs.
func urlencodedValues(body string) (url.Values, error) {
	values := url.Values{}
	n := 0
	for pair := range strings.SplitSeq(body, "&") {
		if pair == "" {
			continue // "a=1&&b=2": every parser skips the empty pair
		}
		if strings.IndexByte(pair, ';') >= 0 {
			return nil, fmt.Errorf("form body: ';' in %q separates fields for some parsers and not for others: %w", clip(pair), ErrInvalidInput)
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("form body: bad percent escape in key %q: %w", clip(k), ErrInvalidInput)
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("form body: bad percent escape in the value of %q: %w", clip(key), ErrInvalidInput)
		}
		if strings.IndexByte(key, 0) >= 0 {
			return nil, fmt.Errorf("form body: NUL in key %q: %w", clip(key), ErrInvalidInput)
		}
		if n++; n > maxFormFields {
			return nil, fmt.Errorf("form body: more than %d fields (PHP drops the rest): %w", maxFormFields, ErrInvalidInput)
		}
		values[key] = append(values[key], val)
	}
	return values, nil
}

// CheckQuery refuses a checkout whose query string names one of the
// route's body fields, under any spelling PHP files under that name
// ("card.bin", "card_bin[]", "card_bin%00x"). PHP's $_REQUEST, Laravel's
// $request->input(), Symfony's $request->get() and Go's
// Request.FormValue merge the query into the form, so the storefront could
// act on the query's value while the gateway screened the body's (or none
// at all). The value is refused rather than screened: a browser's checkout
// form never puts an order field in its action URL.
func (r InterceptRoute) CheckQuery(rawQuery string) error {
	if rawQuery == "" {
		return nil
	}
	var keys []string
	// Every parser's split: PHP splits at '&' only, others at ';' too.
	for pair := range strings.SplitSeq(rawQuery, "&") {
		keys = append(keys, queryKeys(pair)...)
		if strings.IndexByte(pair, ';') >= 0 {
			for sub := range strings.SplitSeq(pair, ";") {
				keys = append(keys, queryKeys(sub)...)
			}
		}
	}
	for _, name := range r.bodyNames() {
		for _, k := range keys {
			if formKeyIs(k, name) {
				return fieldErr(name, fmt.Sprintf("must not be in the query string (as %q): the storefront may read it instead of the body", clip(k)))
			}
		}
	}
	return nil
}

// CheckCookies refuses a checkout with a cookie named like one of the
// route's body fields (under any PHP spelling). PHP's $_REQUEST merges
// cookies over the form wherever request_order is unset and
// variables_order includes C, as with no php.ini at all (PHP's default
// "EGPCS"): a cookie country=DE then replaces the body's country=US.
func (r InterceptRoute) CheckCookies(headers []string) error {
	var keys []string
	for _, h := range headers {
		// PHP splits the Cookie header at ';', some parsers at ',' too.
		for pair := range strings.FieldsFuncSeq(h, func(c rune) bool { return c == ';' || c == ',' }) {
			keys = append(keys, queryKeys(strings.TrimLeft(pair, " \t"))...)
		}
	}
	for _, name := range r.bodyNames() {
		for _, k := range keys {
			if formKeyIs(k, name) {
				return fieldErr(name, fmt.Sprintf("must not be the name of a cookie (%q): the storefront may read it instead of the body", clip(k)))
			}
		}
	}
	return nil
}

// queryKeys returns the key of one query pair as PHP decodes it (a
// malformed escape kept as it is) and as Go decodes it, when that differs.
func queryKeys(pair string) []string {
	k, _, _ := strings.Cut(pair, "=")
	keys := []string{phpURLDecode(k)}
	if goKey, err := url.QueryUnescape(k); err == nil && goKey != keys[0] {
		keys = append(keys, goKey)
	}
	return keys
}

// phpURLDecode decodes like PHP's urldecode: '+' is a space, "%XX" a byte,
// and a '%' not followed by two hex digits stays as it is.
func phpURLDecode(s string) string {
	if !strings.ContainsAny(s, "+%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// multipartForm reads a multipart/form-data body strictly: every part must
// be attributable to exactly one field, by PHP's reading and by Go's
// (mime/multipart, werkzeug behaves like it), or the body is refused.
func multipartForm(contentType string, params map[string]string, body []byte) (formFields, error) {
	boundary := params["boundary"]
	if err := checkBoundary(contentType, boundary); err != nil {
		return formFields{}, err
	}
	bad := func(format string, args ...any) (formFields, error) {
		return formFields{}, fmt.Errorf("multipart body: "+format+": %w", append(args, ErrInvalidInput)...)
	}
	delim := []byte("--" + boundary)
	// No preamble: PHP (find_boundary) skips lines until one equals the
	// delimiter exactly, Go (mime/multipart) also takes a line with
	// trailing white space or bare LF endings; they can start at
	// different lines.
	if !bytes.HasPrefix(body, append(delim, "\r\n"...)) {
		return bad("must start with the boundary line --%s and CRLF", boundary)
	}
	sep := append([]byte("\r\n"), delim...)
	rest := body[len(delim)+2:]
	form := formFields{values: url.Values{}}
	for i := 1; ; i++ {
		end := bytes.Index(rest, sep)
		if end < 0 {
			return bad("part %d is not closed by a boundary line", i)
		}
		part := rest[:end]
		// PHP ends a value at "\n--boundary" whatever follows
		// (multipart_buffer_read), Go only at "\r\n--boundary" followed
		// by "--" or white space and a newline: the boundary anywhere but
		// in a boundary line is read differently by the two.
		if bytes.Contains(part, delim) {
			return bad("part %d contains the boundary outside a boundary line", i)
		}
		if i > maxFormFields {
			return bad("more than %d parts (PHP drops the rest)", maxFormFields)
		}
		name, isFile, value, err := formPart(part)
		if err != nil {
			return bad("part %d: %v", i, err)
		}
		if isFile {
			form.files = append(form.files, name)
		} else {
			form.values[name] = append(form.values[name], string(value))
		}
		rest = rest[end+len(sep):]
		switch {
		case bytes.HasPrefix(rest, []byte("\r\n")):
			rest = rest[2:]
		case bytes.HasPrefix(rest, []byte("--")):
			// The close delimiter. PHP does not stop at it: it keeps
			// looking for a line equal to the delimiter, so parts after
			// it would reach $_POST while Go ignores them.
			if tail := string(rest[2:]); tail != "" && tail != "\r\n" {
				return bad("data after the closing boundary")
			}
			return form, nil
		default:
			return bad("boundary line after part %d is followed by other text (padding or a bare LF)", i)
		}
	}
}

// checkBoundary refuses a boundary parameter that PHP and Go could read
// differently. PHP (rfc1867_post_handler) takes the first "boundary" in the
// Content-Type, case-sensitively if it can, then whatever follows the
// next '=' up to ',' or ';' (or the next '"' when quoted, with no
// escapes); Go's mime.ParseMediaType parses the parameters properly.
func checkBoundary(contentType, boundary string) error {
	if boundary == "" {
		return fmt.Errorf("multipart body without boundary: %w", ErrInvalidInput)
	}
	if php, ok := phpBoundary(contentType); !ok || php != boundary {
		return fmt.Errorf("multipart boundary parameter is ambiguous in %q: %w", clip(contentType), ErrInvalidInput)
	}
	// RFC 2046's bcharsnospace, without ',' (which ends it for PHP) and
	// at most 70 of them.
	if len(boundary) > 70 || strings.TrimLeft(boundary, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_-./:=?") != "" {
		return fmt.Errorf("multipart boundary %q: only letters, digits and '()+_-./:=? up to 70 characters: %w", clip(boundary), ErrInvalidInput)
	}
	return nil
}

// phpBoundary reads the boundary out of a Content-Type as PHP 8's
// rfc1867_post_handler does.
func phpBoundary(contentType string) (string, bool) {
	i := strings.Index(contentType, "boundary")
	if i < 0 {
		i = strings.Index(lowerASCIIBytes(contentType), "boundary")
	}
	if i < 0 {
		return "", false
	}
	j := strings.IndexByte(contentType[i:], '=')
	if j < 0 {
		return "", false
	}
	b := contentType[i+j+1:]
	if rest, quoted := strings.CutPrefix(b, `"`); quoted {
		if v, _, ok := strings.Cut(rest, `"`); ok {
			return v, true
		}
		return "", false
	}
	if k := strings.IndexAny(b, ",;"); k >= 0 {
		b = b[:k]
	}
	return b, true
}

// lowerASCIIBytes lower-cases ASCII letters only, so that byte offsets
// stay those of s (as C's tolower in PHP).
func lowerASCIIBytes(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// formPart reads one part: its field name, whether it is a file, and its
// value.
func formPart(part []byte) (name string, isFile bool, value []byte, err error) {
	header, value, ok := bytes.Cut(part, []byte("\r\n\r\n"))
	if !ok || bytes.HasPrefix(part, []byte("\r\n")) {
		// PHP reads a part without a blank line as headers up to the
		// boundary, Go fails: no reading to agree on.
		return "", false, nil, errors.New("no Content-Disposition header, or no blank line after the headers")
	}
	var disposition, ctype string
	seen := map[string]bool{}
	for line := range strings.SplitSeq(string(header), "\r\n") {
		if strings.ContainsAny(line, "\r\n") {
			return "", false, nil, errors.New("bare CR or LF in the part's headers")
		}
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			// PHP appends a folded line (and a line without a colon)
			// to the previous header; Go refuses both.
			return "", false, nil, errors.New("folded header line")
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || !isToken(k) {
			return "", false, nil, fmt.Errorf("malformed header line %q", clip(line))
		}
		// Both PHP and Go drop the white space before a value; Go also
		// drops it after, PHP keeps it.
		v = strings.TrimLeft(v, " \t")
		if strings.TrimRight(v, " \t") != v || strings.ContainsFunc(v, isCTL) {
			return "", false, nil, fmt.Errorf("header %s: trailing white space or a control character", clip(k))
		}
		k = lowerASCIIBytes(k)
		if seen[k] {
			// PHP takes the first copy (php_mime_get_hdr_value), others
			// the last.
			return "", false, nil, fmt.Errorf("header %s repeated", clip(k))
		}
		seen[k] = true
		switch k {
		case "content-disposition":
			disposition = v
		case "content-type":
			ctype = v
		case "content-transfer-encoding":
			// Go's multipart reader decodes quoted-printable, PHP and
			// most others do not.
			return "", false, nil, errors.New("Content-Transfer-Encoding is not allowed")
		}
	}
	if disposition == "" {
		return "", false, nil, errors.New("no Content-Disposition header")
	}
	name, isFile, err = parseDisposition(disposition)
	if err != nil {
		return "", false, nil, fmt.Errorf("Content-Disposition %q: %w", clip(disposition), err)
	}
	if ctype != "" {
		mt, params, err := mime.ParseMediaType(ctype)
		switch {
		case err != nil:
			return "", false, nil, fmt.Errorf("Content-Type %q does not parse", clip(ctype))
		case strings.HasPrefix(mt, "multipart/"):
			return "", false, nil, errors.New("nested multipart is not allowed")
		case !isFile && (mt != "text/plain" || len(params) > 1 || len(params) == 1 && !plainCharset(params["charset"])):
			// A parser that honours the part's charset would decode
			// the value into other text than the bytes screened.
			return "", false, nil, fmt.Errorf("a text field may only be text/plain in UTF-8, not %q", clip(ctype))
		}
	}
	return name, isFile, value, nil
}

func plainCharset(cs string) bool {
	cs = lowerASCIIBytes(cs)
	return cs == "utf-8" || cs == "us-ascii"
}

// parseDisposition reads a part's Content-Disposition strictly: form-data
// and the parameters name (required) and filename, each once, as a token or
// a quoted string without escapes. PHP does not look at the disposition
// type, splits at ';' outside '"' or '\” quotes (php_ap_getword), knows no
// RFC 2231 "name*" or "filename*", takes the last copy of a parameter and
// unescapes only \" and \\; Go's mime.ParseMediaType checks the type,
// decodes RFC 2231, refuses some duplicates and unescapes any character.
// Only what both read the same way is accepted, and Go's reading is
// checked to agree.
func parseDisposition(v string) (name string, isFile bool, err error) {
	typ, rest, _ := strings.Cut(v, ";")
	if lowerASCIIBytes(typ) != "form-data" {
		return "", false, errors.New("not form-data")
	}
	params := map[string]string{}
	for rest != "" {
		rest = strings.TrimLeft(rest, " ")
		k, after, ok := strings.Cut(rest, "=")
		if !ok || !isToken(k) {
			return "", false, errors.New("malformed parameter")
		}
		k = lowerASCIIBytes(k)
		if k != "name" && k != "filename" {
			return "", false, fmt.Errorf("parameter %q is not allowed (only name and filename)", clip(k))
		}
		if _, dup := params[k]; dup {
			return "", false, fmt.Errorf("parameter %s repeated", k)
		}
		var val string
		if q, ok := strings.CutPrefix(after, `"`); ok {
			val, after, ok = strings.Cut(q, `"`)
			if !ok || strings.ContainsAny(val, "\\'") || strings.ContainsFunc(val, isCTL) {
				return "", false, fmt.Errorf("parameter %s: unterminated quote, or a backslash, quote or control character inside", k)
			}
		} else {
			i := strings.IndexByte(after, ';')
			if i < 0 {
				i = len(after)
			}
			val, after = after[:i], after[i:]
			if !isToken(val) || strings.ContainsRune(val, '\'') {
				return "", false, fmt.Errorf("parameter %s: not a token; quote it", k)
			}
		}
		params[k] = val
		if after == "" {
			break
		}
		var more bool
		if rest, more = strings.CutPrefix(after, ";"); !more || strings.TrimLeft(rest, " ") == "" {
			return "", false, errors.New("text after a parameter, or a trailing ';'")
		}
	}
	name, ok := params["name"]
	if !ok || name == "" {
		return "", false, errors.New("no name parameter")
	}
	_, isFile = params["filename"]
	// Defence in depth: the reading Go's mime/multipart gives must agree.
	goType, goParams, err := mime.ParseMediaType(v)
	if err != nil || goType != "form-data" || goParams["name"] != name || len(goParams) != len(params) {
		return "", false, errors.New("read differently by Go's mime package")
	}
	return name, isFile, nil
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func isCTL(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }

// clip shortens untrusted text quoted in an error message.
func clip(s string) string {
	const max = 40
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// sortedValues returns m's values in the order of their keys, so that the
// first error reported does not depend on map order.
func sortedValues(m map[string]string) []string {
	vs := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		vs = append(vs, m[k])
	}
	return vs
}
