package api

import (
	"net/http"
	"strings"
)

// routeMux is a ServeMux that remembers its patterns, so the API can list
// its routes (the OpenAPI test holds the description to them).
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func newRouteMux() *routeMux { return &routeMux{ServeMux: http.NewServeMux()} }

// ServeHTTP serves r and reports the pattern that matched to Instrument,
// which cannot read it from its own request when a handler in between
// (requireKey) passed the mux a copy.
func (m *routeMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.ServeMux.ServeHTTP(w, r)
	recordRoute(w, r.Pattern)
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.ServeMux.HandleFunc(pattern, h)
	m.patterns = append(m.patterns, pattern)
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.ServeMux.Handle(pattern, h)
	m.patterns = append(m.patterns, pattern)
}

// Routes lists the routes served as "METHOD /path", in registration order,
// without the catch-all that answers 404 and 405, spelled as OpenAPI paths:
// the exact-match marker is dropped ("GET /{$}" is "GET /") and a trailing
// wildcard is a plain parameter ("{file...}" is "{file}").
func (a *API) Routes() []string {
	var routes []string
	for _, p := range a.mux.patterns {
		if !strings.Contains(p, " ") {
			continue
		}
		routes = append(routes, strings.ReplaceAll(strings.TrimSuffix(p, "{$}"), "...}", "}"))
	}
	return routes
}
