package mail

import (
	"strings"
	"testing"
	"time"
)

func TestRenderVerifyEmail(t *testing.T) {
	tests := []struct {
		name       string
		shop       string
		data       any
		wantErr    bool
		subject    string
		textHas    []string
		htmlHas    []string
		htmlHasNot []string
		textHasNot []string
	}{
		{
			name:    "plain",
			shop:    "Example Hosting",
			data:    VerifyEmail{Link: "https://shop.example/_gateway/verify-email?token=abc.def.ghi", Expires: 24 * time.Hour},
			subject: "Please confirm your email address for Example Hosting",
			textHas: []string{"https://shop.example/_gateway/verify-email?token=abc.def.ghi", "24 hours", "Example Hosting", "works once"},
			htmlHas: []string{`href="https://shop.example/_gateway/verify-email?token=abc.def.ghi"`, "24 hours", "Example Hosting"},
		},
		{
			// The shop name comes from configuration and the link carries a
			// query: HTML gets both escaped, the text part as they are.
			name:       "escaping",
			shop:       `Bob's <b>"Shop"</b> & Co`,
			data:       VerifyEmail{Link: "https://shop.example/v?token=a&b=<x>", Expires: 90 * time.Minute},
			subject:    `Please confirm your email address for Bob's <b>"Shop"</b> & Co`,
			textHas:    []string{`Bob's <b>"Shop"</b> & Co`, "https://shop.example/v?token=a&b=<x>", "90 minutes"},
			htmlHas:    []string{"Bob&#39;s &lt;b&gt;&#34;Shop&#34;&lt;/b&gt; &amp; Co", `href="https://shop.example/v?token=a&amp;b=%3cx%3e"`},
			htmlHasNot: []string{"<b>", "<x>"},
		},
		{
			name:       "script link refused in HTML",
			shop:       "S",
			data:       VerifyEmail{Link: "javascript:alert(1)", Expires: time.Hour},
			subject:    "Please confirm your email address for S",
			htmlHas:    []string{`href="#ZgotmplZ"`},
			htmlHasNot: []string{`href="javascript:`},
		},
		{
			name:    "wrong data",
			shop:    "S",
			data:    map[string]string{"Link": "x"},
			wantErr: true,
		},
		{
			name:    "no data",
			shop:    "S",
			data:    nil,
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := NewTemplates(tt.shop)
			if err != nil {
				t.Fatal(err)
			}
			subject, text, html, err := tpl.Render("verify_email", tt.data)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Render succeeded; want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if subject != tt.subject {
				t.Errorf("subject = %q, want %q", subject, tt.subject)
			}
			checkParts(t, text, html, tt.textHas, tt.htmlHas, tt.htmlHasNot)
		})
	}
}

// checkParts checks a rendered mail's text and HTML for what they must
// and must not say, line breaks and indentation read as one space.
func checkParts(t *testing.T, text, html string, textHas, htmlHas, htmlHasNot []string) {
	t.Helper()
	flat := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for _, s := range textHas {
		if !strings.Contains(flat(text), s) {
			t.Errorf("text lacks %q:\n%s", s, text)
		}
	}
	for _, s := range htmlHas {
		if !strings.Contains(flat(html), s) {
			t.Errorf("HTML lacks %q:\n%s", s, html)
		}
	}
	for _, s := range htmlHasNot {
		if strings.Contains(html, s) {
			t.Errorf("HTML has %q:\n%s", s, html)
		}
	}
}

func TestRenderUnknownTemplate(t *testing.T) {
	tpl, err := NewTemplates("S")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := tpl.Render("no_such", VerifyEmail{}); err == nil {
		t.Fatal("Render of an unknown template succeeded")
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{24 * time.Hour, "24 hours"},
		{time.Hour, "1 hour"},
		{48 * time.Hour, "2 days"},
		{72 * time.Hour, "3 days"},
		{36 * time.Hour, "36 hours"},
		{90 * time.Minute, "90 minutes"},
		{time.Minute, "1 minute"},
		{30 * time.Second, "30 seconds"},
		{0, "1 second"},
	}
	for _, tt := range tests {
		if got := humanDuration(tt.d); got != tt.want {
			t.Errorf("humanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestRenderKYCResubmission(t *testing.T) {
	tpl, err := NewTemplates(`Bob's <b>Shop</b>`)
	if err != nil {
		t.Fatal(err)
	}
	subject, text, html, err := tpl.Render("kyc_resubmission", KYCResubmission{
		Link: "https://shop.example/_gateway/kyc?token=a.b.c", Reason: "The photo is <blurred>", Expires: 7 * 24 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Bob's <b>Shop</b> needs new identity documents from you" {
		t.Errorf("subject = %q", subject)
	}
	for _, want := range []string{"https://shop.example/_gateway/kyc?token=a.b.c", "The photo is <blurred>", "7 days"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(html, "<blurred>") || !strings.Contains(html, "&lt;blurred&gt;") {
		t.Errorf("html does not escape the reason:\n%s", html)
	}
}

// TestRenderKYCRequest: the kyc_request mail says what is asked and why,
// carries the link and how long it works, and names the shop and the
// order; HTML escapes every value, the text part keeps them as they are.
func TestRenderKYCRequest(t *testing.T) {
	tests := []struct {
		name             string
		shop             string
		data             KYCRequest
		subject          string
		textHas, htmlHas []string
		htmlHasNot       []string
	}{
		{
			name:    "plain",
			shop:    "Example Hosting",
			data:    KYCRequest{Link: "https://shop.example/_gateway/kyc?token=a.b.c", OrderID: "1042", Expires: 7 * 24 * time.Hour},
			subject: "Example Hosting needs to check your identity before finishing your order",
			textHas: []string{"https://shop.example/_gateway/kyc?token=a.b.c", "7 days", "order 1042 at Example Hosting",
				"identity document", "passport", "new customers", "ignore this message"},
			htmlHas: []string{`href="https://shop.example/_gateway/kyc?token=a.b.c"`, "7 days", "order 1042 at Example Hosting", "Send my documents"},
		},
		{
			name:    "no order id the customer knows (an intercepted checkout's is made up)",
			shop:    "Example Hosting",
			data:    KYCRequest{Link: "https://shop.example/_gateway/kyc?token=a.b.c", Expires: time.Hour},
			subject: "Example Hosting needs to check your identity before finishing your order",
			textHas: []string{"Thank you for your order at Example Hosting."},
			htmlHas: []string{"Thank you for your order at Example Hosting."},
		},
		{
			name:       "escaping",
			shop:       `Bob's <b>Shop</b>`,
			data:       KYCRequest{Link: "https://shop.example/k?token=a&b=<x>", OrderID: "<i>7</i>", Expires: 90 * time.Minute},
			subject:    "Bob's <b>Shop</b> needs to check your identity before finishing your order",
			textHas:    []string{"https://shop.example/k?token=a&b=<x>", "order <i>7</i> at Bob's <b>Shop</b>", "90 minutes"},
			htmlHas:    []string{`href="https://shop.example/k?token=a&amp;b=%3cx%3e"`, "&lt;i&gt;7&lt;/i&gt;", "Bob&#39;s &lt;b&gt;Shop&lt;/b&gt;"},
			htmlHasNot: []string{"<b>", "<i>", "<x>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := NewTemplates(tt.shop)
			if err != nil {
				t.Fatal(err)
			}
			subject, text, html, err := tpl.Render("kyc_request", tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if subject != tt.subject {
				t.Errorf("subject = %q, want %q", subject, tt.subject)
			}
			checkParts(t, text, html, tt.textHas, tt.htmlHas, tt.htmlHasNot)
		})
	}
	tpl, err := NewTemplates("S")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := tpl.Render("kyc_request", VerifyEmail{Link: "x"}); err == nil {
		t.Error("kyc_request rendered with another mail's data; want an error")
	}
}
