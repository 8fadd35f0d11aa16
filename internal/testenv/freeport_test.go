package testenv

import (
	"net"
	"strconv"
	"testing"
)

// TestFreePortOutsideEphemeralRange: the port is bindable and, where the
// kernel says its ephemeral range, below it, so that nothing bound to
// port 0 can be given it meanwhile.
func TestFreePortOutsideEphemeralRange(t *testing.T) {
	lo := ephemeralLow()
	for range 20 {
		p := FreePort(t)
		if lo > minTestPort && (p < minTestPort || p >= lo) {
			t.Fatalf("FreePort = %d, want within [%d, %d)", p, minTestPort, lo)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d from FreePort: %v", p, err)
		}
		l.Close()
	}
}
