package mail

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseSMTPURL(t *testing.T) {
	tests := []struct {
		url     string
		want    smtpSettings
		wantErr string
	}{
		{url: "smtp://mail.example", want: smtpSettings{host: "mail.example", port: 587, tls: tlsOpportunistic}},
		{url: "smtp://127.0.0.1:1025", want: smtpSettings{host: "127.0.0.1", port: 1025, tls: tlsOpportunistic}},
		{url: "smtp+starttls://u:p@mail.example:25", want: smtpSettings{host: "mail.example", port: 25, tls: tlsStartTLS, user: "u", password: "p"}},
		{url: "smtp://u:p%40ss@mail.example?starttls=required", want: smtpSettings{host: "mail.example", port: 587, tls: tlsStartTLS, user: "u", password: "p@ss"}},
		{url: "smtps://u:p@mail.example", want: smtpSettings{host: "mail.example", port: 465, tls: tlsImplicit, user: "u", password: "p"}},
		{url: "smtps://[::1]:2465", want: smtpSettings{host: "::1", port: 2465, tls: tlsImplicit}},
		{url: "http://mail.example", wantErr: "scheme"},
		{url: "mail.example:25", wantErr: "scheme"},
		{url: "smtp://", wantErr: "no host"},
		{url: "smtp://mail.example:0", wantErr: "not a port"},
		{url: "smtp://mail.example:99999", wantErr: "not a port"},
		{url: "smtp://mail.example?starttls=yes", wantErr: "only starttls=required"},
		{url: "smtp://mail.example?tls=off", wantErr: "unknown parameter"},
		{url: "smtps://mail.example?starttls=required", wantErr: "makes no sense"},
		{url: "smtp://mail.example/path", wantErr: "no path"},
		{url: "smtp://u:secret@mail.example:x", wantErr: "not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := parseSMTPURL(tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one saying %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(smtpSettings{})); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{name: "defaults", edit: func(*Config) {}},
		{name: "named from", edit: func(c *Config) { c.From = "Example Hosting <no-reply@shop.example>" }},
		{name: "bad from", edit: func(c *Config) { c.From = "not an address" }, wantErr: "from"},
		{name: "two-line shop", edit: func(c *Config) { c.ShopName = "A\r\nBcc: x@y" }, wantErr: "shop_name"},
		{name: "retry max below min", edit: func(c *Config) { c.RetryMax = time.Second }, wantErr: "retry_max"},
		{name: "dead too soon", edit: func(c *Config) { c.DeadAfter = time.Minute }, wantErr: "dead_after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			tt.edit(&c)
			c.SetDefaults()
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one about %s", err, tt.wantErr)
			}
		})
	}
}
