package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSMTPPassword: the SMTP password comes from ${VAR}, and neither the
// start-up log nor an error message shows it.
func TestSMTPPassword(t *testing.T) {
	const secret = "s3cret-Pa55"
	tests := []struct {
		name, url string
		wantErr   bool
	}{
		{name: "valid", url: "smtp+starttls://gateway:${SMTP_PASSWORD}@mail.example:587"},
		{name: "invalid", url: "smtp://gateway:${SMTP_PASSWORD}@mail.example:notaport", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gateway.yaml")
			body := fmt.Sprintf("smtp:\n  url: %q\nmail:\n  from: \"Shop <no-reply@shop.example>\"\n", tt.url)
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path, map[string]string{"SMTP_PASSWORD": secret})
			if tt.wantErr {
				if err == nil {
					t.Fatal("Load succeeded")
				}
				if !strings.Contains(err.Error(), "smtp.url") || strings.Contains(err.Error(), secret) {
					t.Errorf("error = %v; want it to name smtp.url without the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(cfg.SMTP.URL, secret) {
				t.Errorf("smtp.url = %q: ${SMTP_PASSWORD} not expanded", cfg.SMTP.URL)
			}
			if cfg.Embedded().Mail {
				t.Error("an smtp.url is set, yet mail is embedded")
			}
			if s := fmt.Sprint(cfg.Redacted()); strings.Contains(s, secret) {
				t.Errorf("the redacted configuration shows the password: %s", s)
			}
		})
	}
}
