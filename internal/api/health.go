package api

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// readyTimeout bounds each readiness probe so /readyz answers promptly even
// when a dependency hangs.
const readyTimeout = 2 * time.Second

func (a *API) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	results := make(map[string]string, len(a.checks))
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		failed []string
	)
	for _, c := range a.checks {
		wg.Go(func() {
			err := c.Ping(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				results[c.Name] = err.Error()
				failed = append(failed, c.Name)
				return
			}
			results[c.Name] = "ok"
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		slices.Sort(failed)
		details := make([]string, len(failed))
		for i, name := range failed {
			details[i] = name + ": " + results[name]
		}
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		writeProblem(w, problem{
			Type: "about:blank", Title: http.StatusText(http.StatusServiceUnavailable), Status: http.StatusServiceUnavailable,
			Instance: r.URL.Path, Detail: "not ready: " + strings.Join(details, "; "),
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": results})
}
