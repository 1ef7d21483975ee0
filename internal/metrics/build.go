package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

// BuildInfo registers postpipe_build_info, a gauge fixed at 1 whose labels
// say what runs: version (the release, as `postpipe version` prints it),
// goversion (the toolchain it was built with) and revision (the VCS commit
// the build names, "unknown" when it names none). The binary knows its
// revision from the link (the Makefile's and the Dockerfile's -ldflags) or
// from the go command's VCS stamp; this takes it as given. Dashboards join
// on it to tell which pods run which build during a rollout.
func (m *Metrics) BuildInfo(version, revision string) {
	if revision == "" {
		revision = "unknown"
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help: "Always 1; the labels name the running build: version, Go version and VCS revision.",
		ConstLabels: prometheus.Labels{
			"version": version, "goversion": runtime.Version(), "revision": revision,
		},
	})
	g.Set(1)
	m.reg.MustRegister(g)
}

// InFlight registers postpipe_http_requests_in_flight, the requests being
// served right now, and returns it for the instrument middleware
// (api.Instruments.InFlight). Next to POSTPIPE_MAX_IN_FLIGHT it shows how
// close the API is to refusing requests with 503.
func (m *Metrics) InFlight() prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "http", Name: "requests_in_flight",
		Help: "HTTP requests being served right now.",
	})
	m.reg.MustRegister(g)
	return g
}
