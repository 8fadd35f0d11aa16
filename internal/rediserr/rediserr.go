// Package rediserr tells a Redis outage from a Redis answer. Callers turn
// an outage into "could not decide, retry" (503 with Retry-After) and
// anything else into a bug to look at; the list of transient server
// replies lives here once so every package draws the line in the same place.
// It also holds the one answer to NOSCRIPT in a pipeline (EvalRefused).
package rediserr

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// transientReplies are server error replies that a retry can outlive: the
// server is loading, busy with a script, failing over, or out of memory.
var transientReplies = []string{"LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "NOREPLICAS", "OOM", "MOVED", "ASK"}

// Transient reports whether err means Redis could not be used right now: a
// network error, a timeout, cancellation, a closed client, or one of the
// transient server replies. A script error or a wrong-type reply is not
// transient: retrying it cannot help.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return true
	}
	msg := strings.TrimPrefix(rerr.Error(), "ERR ")
	for _, p := range transientReplies {
		if strings.HasPrefix(msg, p+" ") || msg == p {
			return true
		}
	}
	return false
}

// EvalRefused sends again, with EVAL in one pipeline on rdb, the script
// calls among cmds that the server refused with NOSCRIPT: a restarted or
// flushed server lacks the script, and a refused call ran nothing, so
// running it again is safe. eval queues call i on pipe and returns its
// command, which takes the refused one's place in cmds. go-redis's
// Script.Run does this for one call; pipelines of EVALSHA need it here.
func EvalRefused(ctx context.Context, rdb redis.Cmdable, cmds []*redis.Cmd, eval func(pipe redis.Pipeliner, i int) *redis.Cmd) {
	var pipe redis.Pipeliner
	for i, c := range cmds {
		// HasErrorPrefix allocates even for a nil error: most calls have none.
		if err := c.Err(); err == nil || !redis.HasErrorPrefix(err, "NOSCRIPT") {
			continue
		}
		if pipe == nil {
			pipe = rdb.Pipeline()
		}
		cmds[i] = eval(pipe, i)
	}
	if pipe != nil {
		_, _ = pipe.Exec(ctx) // each command's own error is read by the caller
	}
}
