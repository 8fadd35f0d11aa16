package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/internal/config"
	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/screening"
	"github.com/vpsgate/gateway/screening/minfraud"
)

// outboxMaxLen bounds the event stream when no webhook endpoint reads it
// (outboxLen): a memory bound well above what a small seller produces.
const outboxMaxLen = 1_000_000

// demoCreds are the credentials the zero-config mode makes up so that a
// newcomer can call the API at once. They are random per start and written
// to a file only the user can read, never fixed strings anyone could know.
type demoCreds struct {
	APIKey     string
	AdminToken string
	File       string
}

// demoCredentials fills in an API key and a JWT secret when the gateway
// runs on the embedded Redis and none are configured. With a real Redis the
// operator configures auth and nothing is made up.
func demoCredentials(cfg *config.Config, emb config.Embedded) (*demoCreds, error) {
	if !emb.Redis {
		return nil, nil
	}
	d := &demoCreds{}
	if len(cfg.Auth.APIKeys) == 0 {
		d.APIKey = "demo_" + rand.Text()
		cfg.Auth.APIKeys = []auth.APIKey{{Name: "demo-storefront", KeyHash: auth.HashKey(d.APIKey)}}
	}
	if cfg.Auth.JWTSecret == "" {
		cfg.Auth.JWTSecret = rand.Text() + rand.Text()
		a, err := auth.New(cfg.Auth, time.Now)
		if err != nil {
			return nil, fmt.Errorf("building demo authenticator: %w", err)
		}
		// A day, or less when auth.token_max_ttl says so: the gateway
		// checks the lifetime of every token it is shown, its own too.
		if d.AdminToken, err = a.Mint("demo-admin", auth.RoleAdmin, min(24*time.Hour, cfg.Auth.TokenMaxTTL)); err != nil {
			return nil, fmt.Errorf("minting demo admin token: %w", err)
		}
	}
	if d.APIKey == "" && d.AdminToken == "" {
		return nil, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data_dir: %w", err)
	}
	d.File = filepath.Join(cfg.DataDir, "demo-credentials.env")
	body := "# Made up by the zero-config gateway at start; valid until it stops.\n"
	if d.APIKey != "" {
		body += "GATEWAY_DEMO_API_KEY=" + d.APIKey + "\n"
	}
	if d.AdminToken != "" {
		body += "GATEWAY_DEMO_ADMIN_TOKEN=" + d.AdminToken + "\n"
	}
	if err := os.WriteFile(d.File, []byte(body), 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", d.File, err)
	}
	return d, nil
}

// minfraudScorer and minfraudReporter hand screening a nil interface (not a
// nil *Client inside one) when minFraud is not configured.
func minfraudScorer(c *minfraud.Client) screening.MinFraudScorer {
	if c == nil {
		return nil
	}
	return c
}

func minfraudReporter(c *minfraud.Client) orders.MinFraudReporter {
	if c == nil {
		return nil
	}
	return c
}
