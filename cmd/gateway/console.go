package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/gateway"
	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/internal/config"
	"github.com/vpsgate/gateway/orders"
)

// devConsoleAdmin is the development admin of embedded mode: when the
// gateway runs on the embedded Redis with no auth.users, it makes up
// admin@localhost with a random password (printed at start by
// printConsole, never written anywhere else). "" when it made none.
func devConsoleAdmin(cfg *config.Config, emb config.Embedded) (string, error) {
	if !emb.Redis || len(cfg.Auth.Users) > 0 {
		return "", nil
	}
	pw := rand.Text()
	h, err := auth.HashPassword(pw)
	if err != nil {
		return "", fmt.Errorf("hashing the development admin's password: %w", err)
	}
	cfg.Auth.Users = []auth.User{{Email: "admin@localhost", PasswordHash: h, Role: string(auth.RoleAdmin)}}
	return pw, nil
}

// buildConsole turns the console on when there are users and a JWT
// secret; nil otherwise (/console/ is then not served).
func buildConsole(cfg *config.Config, rdb redis.UniversalClient, reviews *orders.Service) *gateway.ConsoleDeps {
	s := auth.NewSessions(cfg.Auth, time.Now)
	if s == nil {
		return nil
	}
	d := &gateway.ConsoleDeps{Sessions: s, Limiter: auth.NewLoginLimiter(cfg.Auth, rdb, cfg.Screening.KeyPrefix+"consolelogin:")}
	if reviews != nil {
		d.Reviews = reviews
	}
	return d
}

// printConsole says where the console is, and the development admin's
// password when one was made up.
func printConsole(w io.Writer, cfg *config.Config, gw *gateway.Gateway, devPassword string) {
	if cfg.Auth.JWTSecret == "" || len(cfg.Auth.Users) == 0 {
		_, _ = fmt.Fprintf(w, " console:              off (set auth.users and auth.jwt_secret)\n\n")
		return
	}
	_, _ = fmt.Fprintf(w, " console:              http://%s/console/\n", hostPort(gw.AdminAddr().String()))
	if devPassword != "" {
		_, _ = fmt.Fprintf(w, " console development admin: admin@localhost  password: %s (random per start)\n", devPassword)
	}
	_, _ = fmt.Fprintln(w)
}

// consoleHandler: the console is served by the admin API's engine.
func consoleHandler(d *gateway.ConsoleDeps, adminAPI http.Handler) http.Handler {
	if d == nil {
		return nil
	}
	return adminAPI
}
