package rediserr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/redis/go-redis/v9"
)

// replyError is a server error reply as go-redis returns it.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

var _ redis.Error = replyError("")

func TestTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"network", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"closed client", redis.ErrClosed, true},
		{"loading", replyError("LOADING Redis is loading the dataset in memory"), true},
		{"busy script", replyError("BUSY Redis is busy running a script"), true},
		{"oom", replyError("OOM command not allowed when used memory > 'maxmemory'."), true},
		{"moved", replyError("MOVED 3999 127.0.0.1:6381"), true},
		{"readonly replica", replyError("READONLY You can't write against a read only replica."), true},
		{"script bug", replyError("ERR user_script:1: Script attempted to access nonexistent global variable 'x'"), false},
		{"wrong type", replyError("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{"prefix only in a word", replyError("ERR BUSYNESS"), false},
	}
	for _, tt := range tests {
		if got := Transient(tt.err); got != tt.want {
			t.Errorf("Transient(%s: %v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
