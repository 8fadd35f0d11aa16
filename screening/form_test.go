package screening

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// mpPart is one multipart part with CRLF line ends, disposition
// "form-data; name=..." and optional extra disposition parameters and
// headers.
func mpPart(name, value, params string, headers ...string) string {
	s := "--X\r\nContent-Disposition: form-data; name=\"" + name + "\"" + params + "\r\n"
	for _, h := range headers {
		s += h + "\r\n"
	}
	return s + "\r\n" + value + "\r\n"
}

// mpCheckout is the demo checkout as a multipart body with boundary X,
// without country (the tests add it), then extra, then the close
// delimiter.
func mpCheckout(extra ...string) string {
	var b strings.Builder
	for _, kv := range [][2]string{{"order_id", "demo-17"}, {"email", "ann@example.com"}, {"plan", "vps-2"}, {"amount", "24.00"}} {
		b.WriteString(mpPart(kv[0], kv[1], ""))
	}
	for _, e := range extra {
		b.WriteString(e)
	}
	b.WriteString("--X--\r\n")
	return b.String()
}

const mpType = "multipart/form-data; boundary=X"

func TestMapOrderMultipartStrict(t *testing.T) {
	t.Parallel()
	us := mpPart("country", "US", "")
	tests := []struct {
		name        string
		contentType string
		body        string
		wantCountry string // "" means refused with ErrInvalidInput
	}{
		{"plain", mpType, mpCheckout(us), "US"},
		{"token name", mpType, mpCheckout("--X\r\nContent-Disposition: form-data; name=country\r\n\r\nUS\r\n"), "US"},
		{"no space after ';'", mpType, mpCheckout("--X\r\nContent-Disposition: form-data;name=\"country\"\r\n\r\nUS\r\n"), "US"},
		{"disposition and parameter names in any case", mpType, mpCheckout("--X\r\ncontent-disposition: Form-Data; NAME=\"country\"\r\n\r\nUS\r\n"), "US"},
		{"quoted boundary", `multipart/form-data; boundary="X"`, mpCheckout(us), "US"},
		{"upper-case boundary parameter", "multipart/form-data; BOUNDARY=X", mpCheckout(us), "US"},
		{"file beside the fields", mpType, mpCheckout(us, mpPart("avatar", "\x89PNG", `; filename="me.png"`, "Content-Type: image/png")), "US"},
		{"text/plain in UTF-8", mpType, mpCheckout(mpPart("country", "US", "", "Content-Type: text/plain; charset=utf-8")), "US"},
		{"epilogue CRLF only", mpType, strings.TrimSuffix(mpCheckout(us), "\r\n"), "US"},

		// Finding 1 of issue 7 and its class: every part must be
		// attributable to exactly one field.
		{"finding 1 reproduction", mpType, mpCheckout("--X\r\nContent-Disposition: attachment; name=\"country\"\r\n\r\nDE\r\n", mpPart("country", "US", `; filename=""`)), ""},
		{"disposition not form-data", mpType, mpCheckout(us, "--X\r\nContent-Disposition: attachment; name=\"plan2\"\r\n\r\nx\r\n"), ""},
		{"no disposition", mpType, mpCheckout(us, "--X\r\nContent-Type: text/plain\r\n\r\nx\r\n"), ""},
		{"no headers at all", mpType, mpCheckout(us, "--X\r\n\r\nx\r\n"), ""},
		{"two dispositions", mpType, mpCheckout("--X\r\nContent-Disposition: form-data; name=\"country\"\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nUS\r\n"), ""},
		{"no name", mpType, mpCheckout(us, "--X\r\nContent-Disposition: form-data\r\n\r\nx\r\n"), ""},
		{"empty name", mpType, mpCheckout(us, mpPart("", "x", "")), ""},
		{"name twice", mpType, mpCheckout("--X\r\nContent-Disposition: form-data; name=\"x\"; name=\"country\"\r\n\r\nUS\r\n"), ""},
		{"name and name*", mpType, mpCheckout(mpPart("country", "US", "; name*=UTF-8''plan2")), ""},
		{"filename* on a field", mpType, mpCheckout(mpPart("country", "US", "; filename*=UTF-8''x.txt")), ""},
		{"unknown parameter", mpType, mpCheckout(mpPart("country", "US", "; size=2")), ""},
		{"filename on a mapped field", mpType, mpCheckout(mpPart("country", "US", `; filename="c.txt"`)), ""},
		{"empty filename on a mapped field", mpType, mpCheckout(mpPart("country", "US", `; filename=""`)), ""},
		{"file under a PHP spelling of a mapped field", mpType, mpCheckout(us, mpPart("card.bin", "555555", `; filename="b.txt"`)), ""},
		{"single-quoted name", mpType, mpCheckout("--X\r\nContent-Disposition: form-data; name='country'\r\n\r\nUS\r\n"), ""},
		{"backslash in a quoted name", mpType, mpCheckout(us, "--X\r\nContent-Disposition: form-data; name=\"a\\\"b\"\r\n\r\nx\r\n"), ""},
		{"unterminated quote", mpType, mpCheckout(us, "--X\r\nContent-Disposition: form-data; name=\"x\r\n\r\nx\r\n"), ""},
		{"trailing ';'", mpType, mpCheckout(mpPart("country", "US", ";")), ""},
		{"space before '='", mpType, mpCheckout("--X\r\nContent-Disposition: form-data; name =\"country\"\r\n\r\nUS\r\n"), ""},
		{"Content-Transfer-Encoding", mpType, mpCheckout(mpPart("country", "US", "", "Content-Transfer-Encoding: quoted-printable")), ""},
		{"Content-Transfer-Encoding on another part", mpType, mpCheckout(us, mpPart("x", "y", "", "Content-Transfer-Encoding: 8bit")), ""},
		{"nested multipart", mpType, mpCheckout(us, mpPart("x", "--Y--", "", "Content-Type: multipart/mixed; boundary=Y")), ""},
		{"text field in another charset", mpType, mpCheckout(mpPart("country", "US", "", "Content-Type: text/plain; charset=utf-16")), ""},
		{"mapped field twice", mpType, mpCheckout(us, us), ""},
		{"mapped field under a PHP spelling", mpType, mpCheckout(us, mpPart(" country", "DE", "")), ""},
		{"mapped field as an array", mpType, mpCheckout(mpPart("country[]", "US", "")), ""},

		// Where PHP's rfc1867 reader and Go's mime/multipart read the
		// framing differently.
		{"folded header", mpType, mpCheckout("--X\r\nContent-Disposition: form-data;\r\n name=\"country\"\r\n\r\nUS\r\n"), ""},
		{"header line without a colon", mpType, mpCheckout("--X\r\nContent-Disposition: form-data; name=\"country\"\r\ngarbage\r\n\r\nUS\r\n"), ""},
		{"space before the colon", mpType, mpCheckout("--X\r\nContent-Disposition : form-data; name=\"country\"\r\n\r\nUS\r\n"), ""},
		{"trailing white space in a header", mpType, mpCheckout("--X\r\nContent-Disposition: form-data; name=\"country\" \r\n\r\nUS\r\n"), ""},
		{"bare LF in the headers", mpType, mpCheckout("--X\r\nContent-Disposition: form-data; name=\"country\"\nX-A: b\r\n\r\nUS\r\n"), ""},
		{"part without a blank line", mpType, mpCheckout("--X\r\nContent-Disposition: form-data; name=\"country\"\r\nUS\r\n"), ""},
		{"preamble", mpType, "hello\r\n" + mpCheckout(us), ""},
		{"LF-only line ends", mpType, strings.ReplaceAll(mpCheckout(us), "\r\n", "\n"), ""},
		{"bare LF before the boundary in a value", mpType, mpCheckout(us, mpPart("note", "hi\n--X\r\nContent-Disposition: form-data; name=\"country\"\r\n\r\nDE", "")), ""},
		{"boundary inside a value", mpType, mpCheckout(us, mpPart("note", "a--Xb", "")), ""},
		{"padding after a boundary", mpType, strings.Replace(mpCheckout(us), "--X\r\n", "--X \r\n", 2), ""},
		{"parts after the close delimiter", mpType, mpCheckout(us) + mpPart("country", "DE", "") + "--X--\r\n", ""},
		{"text after the close delimiter", mpType, mpCheckout(us) + "bye", ""},
		{"close delimiter missing", mpType, strings.TrimSuffix(mpCheckout(us), "--X--\r\n"), ""},
		{"body ends inside a part", mpType, strings.TrimSuffix(mpCheckout(us), "\r\n--X--\r\n"), ""},
		{"boundary substring earlier in the Content-Type", "multipart/form-data; xboundary=Y; boundary=X", mpCheckout(us), ""},
		{"quoted boundary with an escape", `multipart/form-data; boundary="X\Y"`, mpCheckout(us), ""},
		{"boundary with a comma", `multipart/form-data; boundary="X,Y"`, strings.ReplaceAll(mpCheckout(us), "--X", "--X,Y"), ""},
		{"boundary with a space", `multipart/form-data; boundary="X Y"`, strings.ReplaceAll(mpCheckout(us), "--X", "--X Y"), ""},
		{"boundary over 70 characters", "multipart/form-data; boundary=" + strings.Repeat("b", 71), strings.ReplaceAll(mpCheckout(us), "--X", "--"+strings.Repeat("b", 71)), ""},
		{"no boundary", "multipart/form-data", mpCheckout(us), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkCountry(t, tc.contentType, tc.body, tc.wantCountry)
		})
	}
}

// checkCountry maps a demo checkout body and checks the country read, or
// that it was refused with ErrInvalidInput when want is "".
func checkCountry(t *testing.T, contentType, body, want string) {
	t.Helper()
	o, err := demoRoute(t, "/checkout").MapOrder(contentType, "", nil, []byte(body), clientIP, "UA", "en")
	if want == "" {
		if !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("MapOrder() = %v, %v; want ErrInvalidInput", o.Billing.Country, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("MapOrder() = %v", err)
	}
	if o.Billing.Country != want {
		t.Errorf("country = %q, want %q", o.Billing.Country, want)
	}
}

func TestMapOrderFormStrict(t *testing.T) {
	t.Parallel()
	const formType = "application/x-www-form-urlencoded"
	body := "order_id=demo-17&email=ann%40example.com&plan=vps-2&amount=24.00"
	tests := []struct {
		name        string
		body        string
		wantCountry string // "" means refused with ErrInvalidInput
	}{
		{"plain", body + "&country=US", "US"},
		{"empty pairs skipped", body + "&&country=US&", "US"},
		{"encoded key", body + "&%63ountry=US", "US"},
		{"PHP spelling", body + "&country=US&card.bin=411111", "US"},
		{"';' separator", body + "&country=US;country=DE", ""},
		{"';' in another pair", body + "&country=US&a=1;b=2", ""},
		{"bad percent escape", body + "&country=US&x=%zz", ""},
		{"bad percent escape in a key", body + "&country=US&%zz=1", ""},
		{"NUL in a key", body + "&country=US&country%00x=DE", ""},
		{"NUL in another key", body + "&country=US&a%00=1", ""},
		{"duplicate", body + "&country=US&country=DE", ""},
		{"duplicate under a PHP spelling", body + "&country=US&+country=DE", ""},
		{"unclosed bracket", body + "&country=US&card[bin=1", ""},
		{"array", body + "&country[]=US", ""},
		{"over max_input_vars", body + "&country=US" + strings.Repeat("&a=1", maxFormFields), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkCountry(t, formType, tc.body, tc.wantCountry)
		})
	}
}

// TestMapOrderQuery: finding 2 of issue 7. A mapped field in the query
// string is refused, whatever the body holds, since PHP's $_REQUEST and
// Go's FormValue merge the query into the form.
func TestMapOrderQuery(t *testing.T) {
	t.Parallel()
	form := demoForm()
	form.Del("card_bin")
	form.Del("card_last4")
	body := []byte(form.Encode())
	tests := []struct {
		query string
		field string // "" means accepted
	}{
		{"", ""},
		{"utm_source=mail&step=2", ""},
		{"cardbin=1", ""},
		{"card_bin=555555&card_last4=4444", "card_bin"},
		{"card_last4=4444", "card_last4"},
		{"card.bin=555555", "card_bin"},
		{"card+bin=555555", "card_bin"},
		{"card%20bin=555555", "card_bin"},
		{"card_bin[]=555555", "card_bin"},
		{"card[bin=555555", "card_bin"},
		{"card_bin%00x=555555", "card_bin"},
		{"%63ard_bin=555555", "card_bin"},
		{"x=1;card_bin=555555", "card_bin"},
		{"country=US", "country"},
		{"card_bin", "card_bin"},
		{"a=%zz&card_bin=1", "card_bin"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			_, err := demoRoute(t, "/checkout").MapOrder("application/x-www-form-urlencoded", tc.query, nil, body, clientIP, "UA", "en")
			checkFieldRefused(t, err, tc.field)
		})
	}
	// The JSON route's fields are refused in its query too.
	_, err := demoRoute(t, "/api/checkout").MapOrder("application/json", "email=x%40y.z", nil,
		[]byte(`{"order_id":"a","email":"a@example.com","country":"US","plan":"p","amount":"1"}`), clientIP, "", "")
	if !errors.Is(err, ErrInvalidInput) {
		t.Errorf("JSON route with email in the query: MapOrder() = %v, want ErrInvalidInput", err)
	}
}

// TestMapOrderCookies: PHP without request_order (as with no php.ini)
// merges cookies over the form in $_REQUEST, so a cookie named like a body
// field is refused.
func TestMapOrderCookies(t *testing.T) {
	t.Parallel()
	body := []byte(demoForm().Encode())
	tests := []struct {
		cookies []string
		field   string // "" means accepted
	}{
		{nil, ""},
		{[]string{"session=abc; theme=dark"}, ""},
		{[]string{"countryx=DE"}, ""},
		{[]string{"country=DE"}, "country"},
		{[]string{"session=abc; country=DE"}, "country"},
		{[]string{"session=abc;country=DE"}, "country"},
		{[]string{"session=abc", "card.bin=555555"}, "card_bin"},
		{[]string{"a=1, card_bin=555555"}, "card_bin"},
		{[]string{"%63ountry=DE"}, "country"},
		{[]string{"country[x]=DE"}, "country"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.cookies, "|"), func(t *testing.T) {
			t.Parallel()
			_, err := demoRoute(t, "/checkout").MapOrder("application/x-www-form-urlencoded", "", tc.cookies, body, clientIP, "UA", "en")
			checkFieldRefused(t, err, tc.field)
		})
	}
}

// checkFieldRefused checks that err is a FieldError for field, or nil when
// field is "".
func checkFieldRefused(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("MapOrder() = %v, want no error", err)
		}
		return
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != field {
		t.Fatalf("MapOrder() = %v, want a FieldError for %s", err, field)
	}
}

func TestPHPBoundary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		contentType string
		want        string
		ok          bool
	}{
		{"multipart/form-data; boundary=X", "X", true},
		{`multipart/form-data; boundary="X;Y"`, "X;Y", true},
		{"multipart/form-data; boundary=X; charset=utf-8", "X", true},
		{"multipart/form-data; boundary=X, text/plain", "X", true},
		{"multipart/form-data; xboundary=Y; boundary=X", "Y", true},
		{"multipart/form-data; BOUNDARY=X", "X", true},
		{`multipart/form-data; boundary="X`, "", false},
		{"multipart/form-data", "", false},
	}
	for _, tc := range tests {
		got, ok := phpBoundary(tc.contentType)
		if got != tc.want || ok != tc.ok {
			t.Errorf("phpBoundary(%q) = %q, %v; want %q, %v", tc.contentType, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzMapOrderForm: whatever form body and query the gateway accepts on
// the demo checkout, two independent readings of the same bytes give the
// same order: Go's net/http (Request.ParseMultipartForm, then
// Request.Form, as a Go storefront reads it) and a model of PHP's rfc1867
// and urlencoded readers (phpModelForm, for $_REQUEST). Seeded from the
// gateway's differential corpus, which a real PHP checks.
func FuzzMapOrderForm(f *testing.F) {
	paths, _ := filepath.Glob("../gateway/testdata/checkouts/*.http")
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		ct, query, body, ok := corpusRequest(src)
		if ok {
			f.Add(ct, query, body)
		}
	}
	f.Add(mpType, "", []byte(mpCheckout(mpPart("country", "US", ""))))
	f.Add("application/x-www-form-urlencoded", "a=1", []byte(demoForm().Encode()))
	route := demoRoute(f, "/checkout")
	f.Fuzz(func(t *testing.T, contentType, rawQuery string, body []byte) {
		screened, err := route.MapOrder(contentType, rawQuery, nil, body, clientIP, "UA", "en")
		if err != nil {
			return
		}
		req, err := http.NewRequest("POST", "http://shop.example/checkout?"+rawQuery, bytes.NewReader(body))
		if err != nil {
			return // not a URL a client could send
		}
		req.Header.Set("Content-Type", contentType)
		if err := req.ParseMultipartForm(1 << 20); err != nil && err != http.ErrNotMultipart {
			t.Fatalf("the gateway accepted a body net/http refuses: %v", err)
		}
		for _, r := range []struct {
			reader string
			form   url.Values
		}{
			{"net/http Request.Form", req.Form},
			{"PHP model $_REQUEST", phpModelForm(contentType, rawQuery, body)},
		} {
			acted, err := route.MapOrder("application/x-www-form-urlencoded", "", nil, []byte(r.form.Encode()), clientIP, "UA", "en")
			if err != nil {
				t.Fatalf("the gateway screened %+v, but %s (%v) gives no order: %v", screened, r.reader, r.form, err)
			}
			if diff := cmp.Diff(screened, acted); diff != "" {
				t.Fatalf("%s acts on another order (-screened +acted):\n%s", r.reader, diff)
			}
		}
	})
}

// corpusRequest reads the Content-Type, query and body of a corpus case of
// gateway/testdata/checkouts (format in its README).
func corpusRequest(src []byte) (contentType, query string, body []byte, ok bool) {
	head, b, ok := strings.Cut(string(src), "\n\n")
	if !ok {
		return "", "", nil, false
	}
	for line := range strings.SplitSeq(head, "\n") {
		switch {
		case strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "POST "):
			target := strings.Fields(line)[1]
			_, query, _ = strings.Cut(target, "?")
		default:
			if v, ok := strings.CutPrefix(line, "Content-Type: "); ok {
				contentType = v
			}
		}
	}
	b = strings.ReplaceAll(strings.TrimSuffix(b, "\n"), "\n", "\r\n")
	b = strings.NewReplacer("{LF}", "\n", "{CR}", "\r", "{NUL}", "\x00").Replace(b)
	return contentType, query, []byte(b), true
}

// phpModelForm reads a form body and query the way PHP 8 fills $_REQUEST
// (request_order GP: the body's variables override the query's), written
// from php-src's main/rfc1867.c and main/php_variables.c independently of
// form.go's strict reader. Keys come out as PHP files them, an array as
// "name[]".
func phpModelForm(contentType, rawQuery string, body []byte) url.Values {
	vars := map[string][]string{}
	add := func(k, v string) {
		name, array := phpFormName(k)
		if name == "" {
			return
		}
		if array {
			name += "[]"
		}
		vars[name] = append(vars[name], v)
	}
	treat := func(s string) {
		for pair := range strings.SplitSeq(s, "&") {
			if pair == "" {
				continue
			}
			k, v, _ := strings.Cut(pair, "=")
			add(phpURLDecodeModel(k), phpURLDecodeModel(v))
		}
	}
	treat(rawQuery)
	get := vars
	vars = map[string][]string{}
	mt, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(contentType)), ";")
	switch strings.TrimSpace(mt) {
	case "application/x-www-form-urlencoded":
		treat(string(body))
	case "multipart/form-data":
		phpModelMultipart(contentType, body, add)
	}
	out := url.Values{}
	for _, m := range []map[string][]string{get, vars} {
		for k, vs := range m {
			// A later variable of the same name replaces an earlier one,
			// POST replaces GET; arrays keep every element.
			if strings.HasSuffix(k, "[]") {
				out[k] = append(out[k], vs...)
			} else {
				out[k] = []string{vs[len(vs)-1]}
			}
		}
	}
	return out
}

func phpURLDecodeModel(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '+' {
			c = ' '
		} else if c == '%' && i+2 < len(s) {
			if v, err := url.PathUnescape(s[i : i+3]); err == nil {
				b.WriteString(v)
				i += 2
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// phpModelMultipart follows rfc1867_post_handler: the boundary is what
// follows "boundary=" (first occurrence) up to ',' or ';' or between
// quotes; find_boundary skips lines (LF-terminated, one CR stripped) until
// one equals "--boundary"; headers run to an empty line, a line starting
// with white space or without ':' continues the previous one; a value runs
// to the next "\n--boundary", less one CR; a part without a name ends the
// parse; a part with a filename parameter is a file.
func phpModelMultipart(contentType string, body []byte, add func(k, v string)) {
	i := strings.Index(strings.ToLower(contentType), "boundary")
	if i < 0 {
		return
	}
	_, b, ok := strings.Cut(contentType[i:], "=")
	if !ok {
		return
	}
	if q, ok := strings.CutPrefix(b, `"`); ok {
		if b, _, ok = strings.Cut(q, `"`); !ok {
			return
		}
	} else if j := strings.IndexAny(b, ",;"); j >= 0 {
		b = b[:j]
	}
	delim := "--" + b
	s := string(body)
	line := func() (string, bool) {
		if s == "" {
			return "", false
		}
		l, rest, _ := strings.Cut(s, "\n")
		s = rest
		return strings.TrimSuffix(l, "\r"), true
	}
	for {
		found := false
		for l, ok := line(); ok; l, ok = line() {
			if l == delim {
				found = true
				break
			}
		}
		if !found {
			return
		}
		var keys, vals []string
		for l, ok := line(); ok && l != ""; l, ok = line() {
			k, v, colon := strings.Cut(l, ":")
			if l[0] == ' ' || l[0] == '\t' || !colon {
				if len(vals) > 0 {
					vals[len(vals)-1] += l
				}
				continue
			}
			keys, vals = append(keys, k), append(vals, strings.TrimLeft(v, " \t"))
		}
		cd := ""
		for j, k := range keys {
			if strings.EqualFold(k, "Content-Disposition") {
				cd = vals[j]
				break
			}
		}
		var name, filename *string
		for _, pair := range splitUnquoted(cd) {
			k, v, ok := strings.Cut(pair, "=")
			if !ok {
				continue
			}
			v = strings.TrimSpace(v)
			if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
				v = v[1 : len(v)-1]
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "name":
				name = &v
			case "filename":
				filename = &v
			}
		}
		value := s
		if j := strings.Index(s, "\n"+delim); j >= 0 {
			value, s = s[:j], s[j+1:]
		} else {
			s = ""
		}
		value = strings.TrimSuffix(value, "\r")
		if name == nil && filename == nil {
			return
		}
		if filename == nil && name != nil {
			add(*name, value)
		}
	}
}

// splitUnquoted splits at ';' outside '"' and '\” quotes, as
// php_ap_getword does.
func splitUnquoted(s string) []string {
	var out []string
	var quote byte
	start := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote == 0 && c == ';':
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}
