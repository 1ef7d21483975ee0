package api

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/postpipe/postpipe/internal/stats"
)

// Stats gives the dashboard's figures. Snapshot is called on the request
// path, so it must return what was sampled without asking the broker.
type Stats interface {
	Snapshot() stats.Snapshot
}

// The page and its assets are compiled in: the dashboard works without
// network access and cannot drift from the binary serving it.
//
//go:embed ui
var uiFiles embed.FS

// dashboardCSP lets the page load only its own assets and talk only to this
// API: nothing is fetched from anywhere else.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// EnableDashboard serves the live dashboard at exactly "/", its assets under
// /ui/ and the figures it polls at GET /v1/stats, which names the streams
// served (posts first) for the page's stream picker. Call it before serving
// (after AddStream: the names are those added by then, or later).
// Other unknown paths stay 404 problems.
func (a *API) EnableDashboard(s Stats) {
	assets, _ := fs.Sub(uiFiles, "ui") // "ui" is embedded above
	a.mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		snap := s.Snapshot()
		snap.Streams = a.StreamNames()
		writeJSON(w, http.StatusOK, snap)
	})
	a.mux.Handle("GET /{$}", pageHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, assets, "index.html")
	})))
	a.mux.Handle("GET /ui/{file...}", pageHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		// No directory listings, and a missing asset is a problem like
		// any unknown path.
		if st, err := fs.Stat(assets, name); err != nil || st.IsDir() {
			a.fail(w, r, badRequest(http.StatusNotFound, "no dashboard asset "+r.URL.Path))
			return
		}
		http.ServeFileFS(w, r, assets, name)
	})))
}

func pageHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", dashboardCSP)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}
