package main

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/internal/config"
)

// readSecret reads one line from stdin: secrets come on stdin, never on the
// command line, where other users and shell history would see them.
func readSecret(e *cmdEnv) (string, error) {
	sc := bufio.NewScanner(e.stdin)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return "", fmt.Errorf("reading stdin: %w", err)
		}
		return "", usageError{"nothing on stdin: pipe the secret in, e.g. `printf %s \"$KEY\" | gateway " + e.flags.Name()[len("gateway "):] + "`"}
	}
	s := strings.TrimRight(sc.Text(), "\r")
	if s == "" {
		return "", usageError{"the secret on stdin is empty"}
	}
	return s, nil
}

func hashKeyCmd(ctx context.Context, e *cmdEnv) error {
	if err := e.parse(); err != nil {
		return err
	}
	key, err := readSecret(e)
	if err != nil {
		return err
	}
	if len(key) < 24 {
		return usageError{"API keys must be at least 24 characters of random text (e.g. `openssl rand -base64 32`)"}
	}
	fmt.Fprintln(e.stdout, auth.HashKey(key))
	return nil
}

func hashPasswordCmd(ctx context.Context, e *cmdEnv) error {
	if err := e.parse(); err != nil {
		return err
	}
	pw, err := readSecret(e)
	if err != nil {
		return err
	}
	h, err := auth.HashPassword(pw)
	if err != nil {
		return usageError{err.Error()}
	}
	fmt.Fprintln(e.stdout, h)
	return nil
}

func tokenCmd(ctx context.Context, e *cmdEnv) error {
	sub := e.flags.String("sub", "", "the officer's `name` (token subject); required")
	role := e.flags.String("role", "officer", "`officer` or admin")
	ttl := e.flags.Duration("ttl", 0, "token lifetime (default auth.token_ttl, 1h; at most auth.token_max_ttl, 24h)")
	if err := e.parse(); err != nil {
		return err
	}
	if *sub == "" {
		return usageError{"token: -sub is required"}
	}
	cfg, err := config.Load(*e.configPath, e.env)
	if err != nil {
		return err
	}
	a, err := auth.New(cfg.Auth, time.Now)
	if err != nil {
		return err
	}
	tok, err := a.Mint(*sub, auth.Role(*role), *ttl)
	if err != nil {
		return usageError{"token: " + err.Error()}
	}
	fmt.Fprintln(e.stdout, tok)
	return nil
}
