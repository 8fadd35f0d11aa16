package emailverify

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "defaults", cfg: Config{}},
		{name: "ttl too short", cfg: Config{TokenTTL: time.Second}, wantErr: "token_ttl"},
		{name: "ttl too long", cfg: Config{TokenTTL: 1000 * time.Hour}, wantErr: "token_ttl"},
		{name: "window too long", cfg: Config{ResendWindow: 48 * time.Hour}, wantErr: "resend_window"},
		{name: "negative account limit", cfg: Config{ResendPerAccount: -1}, wantErr: "resend_per_account"},
		{name: "negative address limit", cfg: Config{ResendPerAddress: -1}, wantErr: "resend_per_address"},
		{name: "negative API limit", cfg: Config{ResendPerAPIClient: -1}, wantErr: "resend_per_api_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.SetDefaults()
			err := tt.cfg.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Validate() = %v, want error naming %q", err, tt.wantErr)
			}
		})
	}
}
