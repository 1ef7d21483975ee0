// Package admin is postpipe's operator listener: profiling (and whatever
// else operators need) on an address of its own, away from the public API
// port, so it can be firewalled separately and never costs the hot path.
package admin

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
)

// Mux serves the admin routes. Add more with Handle before serving.
type Mux struct {
	*http.ServeMux
	routes []string
}

// New returns a mux that already carries the pprof handlers under
// /debug/pprof/ and an index at /.
func New() *Mux {
	m := &Mux{ServeMux: http.NewServeMux()}
	m.Handle("/debug/pprof/", http.HandlerFunc(pprof.Index))
	m.Handle("/debug/pprof/cmdline", http.HandlerFunc(pprof.Cmdline))
	m.Handle("/debug/pprof/profile", http.HandlerFunc(pprof.Profile))
	m.Handle("/debug/pprof/symbol", http.HandlerFunc(pprof.Symbol))
	m.Handle("/debug/pprof/trace", http.HandlerFunc(pprof.Trace))
	m.ServeMux.HandleFunc("GET /{$}", m.index)
	return m
}

// Handle registers h for pattern and lists it on the index page.
func (m *Mux) Handle(pattern string, h http.Handler) {
	m.ServeMux.Handle(pattern, h)
	m.routes = append(m.routes, pattern)
}

func (m *Mux) index(w http.ResponseWriter, _ *http.Request) {
	routes := append([]string(nil), m.routes...)
	sort.Strings(routes)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "postpipe admin\n\n%s\n", strings.Join(routes, "\n"))
}
