package main

import (
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/internal/config"
)

// TestDemoTokenVerifies: the admin token the zero-config mode mints is
// accepted by the gateway's own check, which bounds every token's lifetime
// by auth.token_max_ttl, also when the operator lowers it.
func TestDemoTokenVerifies(t *testing.T) {
	for _, maxTTL := range []string{"", "1h"} {
		t.Run("token_max_ttl="+maxTTL, func(t *testing.T) {
			env := map[string]string{"GATEWAY_DATA_DIR": t.TempDir()}
			if maxTTL != "" {
				env["GATEWAY_AUTH_TOKEN_MAX_TTL"] = maxTTL
				env["GATEWAY_AUTH_TOKEN_TTL"] = "30m"
			}
			cfg, err := config.Load("", env)
			if err != nil {
				t.Fatal(err)
			}
			d, err := demoCredentials(cfg, cfg.Embedded())
			if err != nil {
				t.Fatal(err)
			}
			a, err := auth.New(cfg.Auth, time.Now)
			if err != nil {
				t.Fatal(err)
			}
			p, err := a.VerifyToken(d.AdminToken)
			if err != nil || p.Role != auth.RoleAdmin {
				t.Errorf("VerifyToken(demo admin token) = %v, %v; want admin", p, err)
			}
		})
	}
}
