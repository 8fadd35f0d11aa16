package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigWebhooks: `webhooks` is the list of endpoints, from the file
// or GATEWAY_WEBHOOKS (JSON); a malformed URL or secret makes check-config
// exit 2 naming webhooks[N].url / webhooks[N].secret, without echoing
// either.
func TestCheckConfigWebhooks(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "webhooks:\n  - url: http://127.0.0.1:9/hook\n    secret: "+secret+"\n    events: [order.cleared]\n"+
		"webhook_delivery:\n  retry_schedule: [1s, 1m]\n")
	bad := write("bad.yaml", "webhooks:\n  - url: http://127.0.0.1:9/hook\n    secret: "+secret+"\n"+
		"  - url: \"htp//user:pa55w0rd@127.0.0.1:9/hook\"\n    name: second\n    secret: whsec_pa55w0rd\n")
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantErr  []string
	}{
		{"file list", []string{"check-config", "-config", good}, nil, 0, nil},
		{"environment list", []string{"check-config"}, map[string]string{
			"GATEWAY_WEBHOOKS":                        `[{"url":"http://127.0.0.1:9/hook","secret":"` + secret + `","events":["order.cleared"]}]`,
			"GATEWAY_WEBHOOK_DELIVERY_RETRY_SCHEDULE": "1s,1m",
		}, 0, nil},
		{"bad file", []string{"check-config", "-config", bad}, nil, 2, []string{"webhooks[1].url: ", "webhooks[1].secret: "}},
		{"bad environment", []string{"check-config"}, map[string]string{
			"GATEWAY_WEBHOOKS": `[{"url":"http://127.0.0.1:9/hook","secret":"` + secret + `"},{"url":"mailto:pa55w0rd@x","name":"b","secret":"pa55w0rd"}]`,
		}, 2, []string{"webhooks[1].url: must be an http:// or https:// URL", "webhooks[1].secret: must start with whsec_"}},
		{"claim_after below a timeout", []string{"check-config"}, map[string]string{
			"GATEWAY_WEBHOOKS":                     `[{"url":"http://127.0.0.1:9/hook","secret":"` + secret + `","timeout":"2m"}]`,
			"GATEWAY_WEBHOOK_DELIVERY_CLAIM_AFTER": "1m",
		}, 2, []string{`webhook_delivery.claim_after: "1m0s": must exceed the timeout of endpoint "127.0.0.1-9" (2m0s)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb strings.Builder
			code := run(context.Background(), tt.args, strings.NewReader(""), &out, &errb, tt.env)
			if code != tt.wantCode {
				t.Fatalf("exit = %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out.String(), errb.String())
			}
			if code == 0 && !strings.Contains(out.String(), "configuration OK") {
				t.Errorf("stdout = %q, want configuration OK", out.String())
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(errb.String(), want) {
					t.Errorf("stderr = %q, want it to contain %q", errb.String(), want)
				}
			}
			if strings.Contains(errb.String()+out.String(), "pa55w0rd") {
				t.Errorf("check-config echoes a secret or a URL's password:\n%s%s", out.String(), errb.String())
			}
		})
	}
}
