// Package rediserr tells a Redis outage from a Redis answer. Callers turn
// an outage into "could not decide, retry" (503 with Retry-After) and
// anything else into a bug to look at; the list of transient server
// replies lives here once so every package draws the line in the same place.
package rediserr

import (
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
