package rediserr_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/rediserr"
	"github.com/vpsgate/gateway/internal/testenv"
)

// A pipeline of EVALSHA on a server that lacks the script (never loaded,
// or flushed by a restart): EvalRefused runs the refused calls again with
// EVAL, and leaves the others as they are.
func TestEvalRefused(t *testing.T) {
	t.Parallel()
	rdb := testenv.RedisClient(t)
	ctx := context.Background()
	// A source no other test loads, so the server lacks it.
	src := fmt.Sprintf("-- %s %d\nreturn ARGV[1]", t.Name(), time.Now().UnixNano())
	sum := sha1.Sum([]byte(src))
	sha := hex.EncodeToString(sum[:])

	pipe := rdb.Pipeline()
	cmds := []*redis.Cmd{
		pipe.EvalSha(ctx, sha, nil, "first"),
		pipe.Do(ctx, "echo", "kept"),
		pipe.EvalSha(ctx, sha, nil, "third"),
	}
	_, _ = pipe.Exec(ctx)
	if !redis.HasErrorPrefix(cmds[0].Err(), "NOSCRIPT") {
		t.Fatalf("EVALSHA of an unknown script: %v, want NOSCRIPT", cmds[0].Err())
	}
	var evaluated []int
	rediserr.EvalRefused(ctx, rdb, cmds, func(pipe redis.Pipeliner, i int) *redis.Cmd {
		evaluated = append(evaluated, i)
		return pipe.Eval(ctx, src, nil, []string{"first", "", "third"}[i])
	})
	if fmt.Sprint(evaluated) != "[0 2]" {
		t.Errorf("evaluated calls %v, want [0 2] (the refused ones)", evaluated)
	}
	for i, want := range []string{"first", "kept", "third"} {
		if got, err := cmds[i].Text(); err != nil || got != want {
			t.Errorf("cmds[%d] = %q, %v; want %q", i, got, err, want)
		}
	}

	// Nothing refused: nothing sent again.
	rediserr.EvalRefused(ctx, rdb, cmds, func(redis.Pipeliner, int) *redis.Cmd {
		t.Error("eval called with no refused call")
		return nil
	})
}
