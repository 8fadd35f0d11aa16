// Command velocitycall prints, one word per line, the EVALSHA command that
// the velocity counters (screening/velocity) send for one order with every
// identifier, with the default configuration, for redis-benchmark to call
// the script alone and measure Redis's own ceiling for it
// (scripts/bench-screening.sh).
//
// Every identifier's keyed hash and the order's member are replaced with
// redis-benchmark's __rand_int__ placeholder, so that with -r N each call
// counts a new order on identifiers drawn from N values, as a stream of
// orders whose identifiers repeat does. The first line is the script's
// SHA-1: load screening/velocity/script.lua with SCRIPT LOAD first (the
// script compares the SHA that Redis returns with it).
package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/screening/ident"
	"github.com/vpsgate/gateway/screening/velocity"
)

// keyPrefix starts every key of the printed command.
const keyPrefix = "bench:v:"

func main() {
	words, err := invocation()
	if err != nil {
		fmt.Fprintln(os.Stderr, "velocitycall:", err)
		os.Exit(1)
	}
	fmt.Println(strings.Join(words, "\n"))
}

// invocation returns the script's SHA-1, then the words of the command.
func invocation() ([]string, error) {
	h, err := ident.NewHasher([]byte("velocitycall: any 32-byte key ..."))
	if err != nil {
		return nil, err
	}
	cfg := velocity.Config{KeyPrefix: keyPrefix}
	cfg.SetDefaults()
	// A standalone client: one call over every key. It never connects.
	c, err := velocity.New(cfg, redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), h)
	if err != nil {
		return nil, err
	}
	o := velocity.Order{
		ID:      "order-1",
		IP:      netip.MustParseAddr("198.51.100.7"),
		Email:   "ann@example.com",
		Account: "42",
		Card:    "411111:1111",
		Address: ident.NormalizeAddress("US", "94107", "San Francisco", "1 Main St"),
	}
	keys, argv, err := c.Invocation(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), o)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("no keys for a full order")
	}
	// Every hash of this order, to be replaced by the placeholder.
	hashes := []string{
		h.Hash(ident.KindOrder, o.ID),
		h.Hash(ident.KindIP, o.IP.String()),
		h.Hash(ident.KindPrefix, ident.IPPrefix(o.IP).String()),
		h.Hash(ident.KindEmail, o.Email),
		h.Hash(ident.KindAccount, o.Account),
		h.Hash(ident.KindCard, o.Card),
		h.Hash(ident.KindAddress, o.Address),
	}
	r := strings.NewReplacer(interleave(hashes, "__rand_int__")...)
	words := []string{c.ScriptSHA(), "EVALSHA", c.ScriptSHA(), fmt.Sprint(len(keys))}
	for _, k := range keys {
		words = append(words, r.Replace(k))
	}
	for _, a := range argv {
		words = append(words, r.Replace(a))
	}
	replaced := 0
	for _, w := range words {
		replaced += strings.Count(w, "__rand_int__")
	}
	if replaced < len(keys) {
		return nil, fmt.Errorf("only %d placeholders for %d keys: the key layout changed", replaced, len(keys))
	}
	return words, nil
}

func interleave(olds []string, repl string) []string {
	out := make([]string, 0, 2*len(olds))
	for _, o := range olds {
		out = append(out, o, repl)
	}
	return out
}
