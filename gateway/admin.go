package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ReadyCheck is one dependency that /readyz asks about.
type ReadyCheck struct {
	Name  string // "redis", "s3", "geoip"
	Check func(ctx context.Context) error
}

// readyTimeout bounds each check so that /readyz answers even when a
// dependency hangs instead of refusing.
const readyTimeout = 2 * time.Second

type readyReport struct {
	Status string            `json:"status"` // ready | not_ready
	Checks map[string]string `json:"checks"` // name -> "ok" or the error
}

// readyHandler runs every check in parallel and answers 503 naming each one
// that failed, so an operator (or Kubernetes) sees which dependency is down.
func readyHandler(checks []ReadyCheck) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := readyReport{Status: "ready", Checks: make(map[string]string, len(checks))}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, c := range checks {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
				defer cancel()
				res := "ok"
				if err := c.Check(ctx); err != nil {
					res = err.Error()
				}
				mu.Lock()
				rep.Checks[c.Name] = res
				if res != "ok" {
					rep.Status = "not_ready"
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if rep.Status != "ready" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(rep)
	})
}

// adminMux routes the admin listener. api and console may be nil while those
// parts are not configured; their paths then answer 404 in JSON.
func adminMux(checks []ReadyCheck, gatherer prometheus.Gatherer, api, console http.Handler, withPprof bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(`{"status":"alive"}` + "\n"))
	})
	mux.Handle("GET /readyz", readyHandler(checks))
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if api != nil {
		mux.Handle("/api/", api)
	}
	if console != nil {
		mux.Handle("/console/", console)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, apiError{Code: "not_found", Message: "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	return mux
}

// adminRoute names admin routes for metrics.
func adminRoute(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/healthz", p == "/readyz", p == "/metrics":
		return p[1:]
	case len(p) >= 5 && p[:5] == "/api/":
		return "api"
	case len(p) >= 9 && p[:9] == "/console/":
		return "console"
	case len(p) >= 7 && p[:7] == "/debug/":
		return "debug"
	}
	return "other"
}
