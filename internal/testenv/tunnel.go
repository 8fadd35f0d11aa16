package testenv

import (
	"fmt"
	"io"
	"net/http"
)

// SwitchAndReadHTTP plays a careless storefront behind a reverse proxy: it
// answers r with 101 Switching Protocols (to the protocol r asked for, or
// websocket when it asked for none), then keeps reading HTTP requests on
// the hijacked connection and answers each 200 with "X-Tunneled: 1". What
// arrives there went past every check of the proxy in front; tunneled is
// told each such request as "METHOD path decision=<X-Screening-Decision>".
// It returns when the connection ends.
func SwitchAndReadHTTP(w http.ResponseWriter, r *http.Request, tunneled func(string)) {
	to := r.Header.Get("Upgrade")
	if to == "" {
		to = "websocket"
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: %s\r\nConnection: Upgrade\r\n\r\n", to)
	_ = brw.Flush()
	for {
		req, err := http.ReadRequest(brw.Reader)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		tunneled(req.Method + " " + req.URL.Path + " decision=" + req.Header.Get("X-Screening-Decision"))
		fmt.Fprint(brw, "HTTP/1.1 200 OK\r\nX-Tunneled: 1\r\nContent-Length: 0\r\n\r\n")
		_ = brw.Flush()
	}
}
