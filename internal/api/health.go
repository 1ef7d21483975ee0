package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/postpipe/postpipe/internal/logging"
)

// readyTimeout bounds each readiness probe so /readyz answers promptly even
// when a dependency hangs.
const readyTimeout = 2 * time.Second

func (a *API) healthz(w http.ResponseWriter, r *http.Request) { Healthz(w, r) }

// readyz is the API listener's readiness probe. With API keys on it is
// served to anyone (exempt) and so names only a reason code per failing
// check; the full error goes to the log (and the admin listener's /readyz
// shows it).
func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	ready(w, r, a.checks, a.quietProbes, a.log)
}

// Healthz is the liveness probe: 200 while the process can answer at all.
func Healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Readyz is the readiness probe over checks, for listeners other than the
// API's own (the admin listener of 'postpipe sink'): 200 when every check
// passes within its timeout, else a 503 problem naming those that failed.
func Readyz(checks []Check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { ready(w, r, checks, false, nil) }
}

// Reason codes: what a quiet probe says of a failing check.
const (
	reasonTimeout     = "timeout"     // no answer within readyTimeout
	reasonUnavailable = "unavailable" // any other failure
)

func reasonOf(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return reasonTimeout
	}
	return reasonUnavailable
}

// ready answers 200 when every check passes, else a 503 naming the failed
// ones: with their errors, or only with reason codes when quiet (the
// errors then go to log, when set).
func ready(w http.ResponseWriter, r *http.Request, checks []Check, quiet bool, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	results := make(map[string]string, len(checks))
	reasons := make(map[string]string, len(checks))
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		failed []string
	)
	for _, c := range checks {
		wg.Go(func() {
			err := c.Ping(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				results[c.Name] = err.Error()
				reasons[c.Name] = reasonOf(err)
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
			if quiet {
				details[i] = name + ": " + reasons[name]
				if log != nil {
					log.WarnContext(r.Context(), "not ready", "check", name, "err", results[name])
				}
				continue
			}
			details[i] = name + ": " + results[name]
		}
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		writeProblem(w, problem{
			Type: "about:blank", Title: http.StatusText(http.StatusServiceUnavailable), Status: http.StatusServiceUnavailable,
			Instance: r.URL.Path, Detail: "not ready: " + strings.Join(details, "; "), RequestID: logging.RequestID(r.Context()),
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": results})
}
