package main

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/vpsgate/gateway/internal/testenv"
)

// TestInvocationRuns sends the printed command to a real Redis, as
// redis-benchmark does (placeholders replaced by numbers): it must count an
// order in every dimension, or the ceiling would measure something else.
func TestInvocationRuns(t *testing.T) {
	words, err := invocation()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../../screening/velocity/script.lua")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(src)
	if words[0] != hex.EncodeToString(sum[:]) || words[1] != "EVALSHA" || words[2] != words[0] {
		t.Fatalf("command starts %q, want the SHA-1 of script.lua then EVALSHA", words[:3])
	}
	rdb := testenv.RedisClient(t)
	prefix := testenv.KeyPrefix(t)
	ctx := context.Background()
	if err := rdb.ScriptLoad(ctx, string(src)).Err(); err != nil {
		t.Fatal(err)
	}
	n := 0
	args := make([]any, 0, len(words)-1)
	for _, w := range words[1:] {
		w = strings.Replace(w, keyPrefix, prefix, 1)
		for strings.Contains(w, "__rand_int__") {
			n++
			w = strings.Replace(w, "__rand_int__", strconv.Itoa(n), 1)
		}
		args = append(args, w)
	}
	got, err := rdb.Do(ctx, args...).Int64Slice()
	if err != nil {
		t.Fatalf("EVALSHA: %v", err)
	}
	// 11 dimensions x 3 windows; a new order counts 1 where it writes,
	// and the account's event counters read 0.
	if len(got) != 33 {
		t.Fatalf("script returned %d values, want 33", len(got))
	}
	var ones int
	for _, v := range got {
		if v == 1 {
			ones++
		}
	}
	if ones != 24 {
		t.Errorf("values %v: %d ones, want 24 (8 written dimensions x 3 windows)", got, ones)
	}
}
