// Package admin is postpipe's operator listener: profiling (and whatever
// else operators need) on an address of its own, away from the public API
// port, so it can be firewalled separately and never costs the hot path.
//
// It is closed by default in two ways: an address without a host (":6060")
// listens on loopback only, and when API keys are on every route outside
// Options.Open needs one (a profile tells an attacker a lot, and a CPU
// profile costs CPU). postpipe opens the probes and the metrics, which
// kubelets and Prometheus call without credentials; to expose the
// listener in a pod, give it a host ("0.0.0.0:9090") and let the network
// (a NetworkPolicy) decide who reaches it.
package admin

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"sort"
	"strings"
)

// KeyChecker tells whether a presented API key is valid. It must take the
// same time whichever key (if any) matches.
type KeyChecker interface {
	Check(key string) (name string, ok bool)
}

// Options are what the admin routes need from the process.
type Options struct {
	// Keys, when set, makes every route outside Open need
	// "Authorization: Bearer <key>".
	Keys KeyChecker
	// Open are the paths served without a key: the probes and the
	// metrics, which orchestrators and scrapers call without credentials.
	// They are matched exactly, before the path is cleaned, so an open
	// path never leads to another route ("/metrics/../debug/pprof/").
	Open []string
	// Cmdline is what /debug/pprof/cmdline shows in place of os.Args: the
	// command line with its secrets masked (a password given as a flag
	// would otherwise be one GET away).
	Cmdline []string
}

// Mux serves the admin routes. Add more with Handle before serving.
type Mux struct {
	*http.ServeMux
	opts   Options
	routes []string
}

// New returns a mux that already carries the pprof handlers under
// /debug/pprof/ and an index at /.
func New(opts Options) *Mux {
	m := &Mux{ServeMux: http.NewServeMux(), opts: opts}
	m.Handle("/debug/pprof/", http.HandlerFunc(pprof.Index))
	m.Handle("/debug/pprof/cmdline", http.HandlerFunc(m.cmdline))
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

// Guarded reports whether the routes need a key.
func (m *Mux) Guarded() bool { return m.opts.Keys != nil }

// ServeHTTP checks the key, when keys are on, before any route.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m.opts.Keys != nil && !slices.Contains(m.opts.Open, r.URL.Path) {
		scheme, key, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		key = strings.TrimSpace(key)
		if !strings.EqualFold(scheme, "Bearer") || key == "" {
			unauthorized(w, `Bearer realm="postpipe-admin"`)
			return
		}
		if _, ok := m.opts.Keys.Check(key); !ok {
			unauthorized(w, `Bearer realm="postpipe-admin", error="invalid_token"`)
			return
		}
	}
	m.ServeMux.ServeHTTP(w, r)
}

func unauthorized(w http.ResponseWriter, challenge string) {
	w.Header().Set("WWW-Authenticate", challenge)
	http.Error(w, "the admin listener needs an API key: send Authorization: Bearer <key>", http.StatusUnauthorized)
}

// cmdline is pprof.Cmdline on the masked command line.
func (m *Mux) cmdline(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, strings.Join(m.opts.Cmdline, "\x00"))
}

func (m *Mux) index(w http.ResponseWriter, _ *http.Request) {
	routes := append([]string(nil), m.routes...)
	sort.Strings(routes)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "postpipe admin\n\n%s\n", strings.Join(routes, "\n"))
}

// ListenAddr is where the admin listener listens for the configured addr:
// an address without a host (":6060") means loopback, unlike Go's default
// of every interface, so that turning profiling on never exposes it by
// accident. An explicit host, 0.0.0.0 or :: included, is taken as given.
// exposed reports whether other machines may reach the listener (any host
// but a loopback one).
func ListenAddr(addr string) (listen string, exposed bool, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false, fmt.Errorf("admin address %q: %w", addr, err)
	}
	if host == "" {
		return net.JoinHostPort("127.0.0.1", port), false, nil
	}
	if strings.EqualFold(host, "localhost") {
		return addr, false, nil
	}
	ip := net.ParseIP(host)
	return addr, ip == nil || !ip.IsLoopback(), nil
}
