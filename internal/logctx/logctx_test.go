package logctx

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"testing"
)

func TestHandlerAddsContextAttrs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil)))
	ctx := With(context.Background(), slog.String("request_id", "r1"))
	ctx = With(ctx, slog.String("order_id", "o1"))
	log.InfoContext(ctx, "hello", "k", "v")
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"request_id": "r1", "order_id": "o1", "k": "v", "msg": "hello"} {
		if got[k] != want {
			t.Errorf("record[%q] = %v, want %q", k, got[k], want)
		}
	}
}

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"198.51.100.7", "198.51.100.0/24"},
		{"::ffff:198.51.100.7", "198.51.100.0/24"},
		{"2001:db8:1:2::7", "2001:db8:1::/48"},
	}
	for _, tt := range tests {
		if got := MaskIP(netip.MustParseAddr(tt.in)); got != tt.want {
			t.Errorf("MaskIP(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got := MaskIP(netip.Addr{}); got != "" {
		t.Errorf("MaskIP(invalid) = %q, want empty", got)
	}
	if got := MaskEmail("ann@example.com"); got != "a***@example.com" {
		t.Errorf("MaskEmail = %q", got)
	}
	if got := MaskEmail("nonsense"); got != "***" {
		t.Errorf("MaskEmail(nonsense) = %q", got)
	}
}
