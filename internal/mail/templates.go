package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"
)

// The templates live in the repository, three files per mail:
// NAME.subject.tmpl and NAME.txt.tmpl (text/template) and NAME.html.tmpl
// (html/template, which escapes every value for where it stands).
//
//go:embed templates/*.tmpl
var templateFS embed.FS

// VerifyEmail is the data of the "verify_email" template.
type VerifyEmail struct {
	// Link is public_url + /_gateway/verify-email?token=...
	Link string
	// Expires is how long the link works.
	Expires time.Duration
}

// Templates renders the gateway's mail. Every template sees .Shop (the
// storefront's name, mail.shop_name) and .Data (what Render was given).
type Templates struct {
	shop    string
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// NewTemplates parses the embedded templates; shop is mail.shop_name.
func NewTemplates(shop string) (*Templates, error) {
	funcs := map[string]any{"duration": humanDuration}
	// missingkey=error: a template that names data it was not given fails
	// instead of mailing "<no value>" to a customer.
	subject, err := texttemplate.New("").Funcs(funcs).Option("missingkey=error").ParseFS(templateFS, "templates/*.subject.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parsing subject templates: %w", err)
	}
	text, err := texttemplate.New("").Funcs(funcs).Option("missingkey=error").ParseFS(templateFS, "templates/*.txt.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parsing text templates: %w", err)
	}
	html, err := htmltemplate.New("").Funcs(funcs).Option("missingkey=error").ParseFS(templateFS, "templates/*.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parsing HTML templates: %w", err)
	}
	return &Templates{shop: shop, subject: subject, text: text, html: html}, nil
}

type view struct {
	Shop string
	Data any
}

// Render fills the named template ("verify_email") with data and returns
// the subject, the plain text and the HTML.
func (t *Templates) Render(name string, data any) (subject, text, html string, err error) {
	v := view{Shop: t.shop, Data: data}
	var b bytes.Buffer
	if err := t.subject.ExecuteTemplate(&b, name+".subject.tmpl", v); err != nil {
		return "", "", "", fmt.Errorf("rendering the subject of %q: %w", name, err)
	}
	// One line: a subject never carries a line break into the header.
	subject = strings.Join(strings.Fields(b.String()), " ")
	b.Reset()
	if err := t.text.ExecuteTemplate(&b, name+".txt.tmpl", v); err != nil {
		return "", "", "", fmt.Errorf("rendering the text of %q: %w", name, err)
	}
	text = b.String()
	b.Reset()
	if err := t.html.ExecuteTemplate(&b, name+".html.tmpl", v); err != nil {
		return "", "", "", fmt.Errorf("rendering the HTML of %q: %w", name, err)
	}
	return subject, text, b.String(), nil
}

// humanDuration says 24h as "24 hours", 90m as "90 minutes", 72h as "3
// days": the words a customer reads, not Go's "24h0m0s".
func humanDuration(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return plural(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return plural(int64(d/time.Minute), "minute")
	default:
		return plural(max(int64(d/time.Second), 1), "second")
	}
}
