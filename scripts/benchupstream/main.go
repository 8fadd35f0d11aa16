// Command benchupstream is the storefront stand-in of scripts/bench-geoblock.sh:
// a small, fast HTTP server that answers every request with the same page, so
// that the benchmark measures the proxies in front of it (nginx and the
// gateway share this one upstream), not a shop.
//
// It copies the X-Client-Country request header into the X-Seen-Country
// response header, so that the script can check that each proxy looked the
// visitor's country up and passed it on before it measures anything.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// page is about the size of a small product page's HTML shell.
const page = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>VPS plans</title></head>
<body>
<h1>VPS plans</h1>
<ul>
<li>Small: 1 vCPU, 1 GB RAM, 25 GB SSD, 4 EUR per month</li>
<li>Medium: 2 vCPU, 4 GB RAM, 80 GB SSD, 12 EUR per month</li>
<li>Large: 4 vCPU, 8 GB RAM, 160 GB SSD, 24 EUR per month</li>
</ul>
<p>Benchmark upstream: every request gets this page.</p>
</body>
</html>
`

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "`address` to listen on (loopback only for benchmarks)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen); err != nil {
		fmt.Fprintln(os.Stderr, "benchupstream:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, listen string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", listen, err)
	}
	body := []byte(page)
	length := []string{strconv.Itoa(len(body))}
	contentType := []string{"text/html; charset=utf-8"}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			// Direct map writes: the keys are canonical already, and this
			// server should cost as little as possible.
			h["Content-Type"] = contentType
			h["Content-Length"] = length
			if c := r.Header["X-Client-Country"]; len(c) > 0 {
				h["X-Seen-Country"] = c
			}
			_, _ = w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}
