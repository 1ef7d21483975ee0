// Package metrics exposes postpipe's Prometheus metrics. It owns the
// registry and every metric family, and implements the small observer
// interfaces that api, kafka and sink define, so those packages report what
// happens without knowing Prometheus exists.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "postpipe"

// Metrics is one process's registry and the families registered on it.
// A process builds one with New and hands its parts to what it runs.
type Metrics struct {
	reg *prometheus.Registry
}

// New returns a registry carrying the Go runtime and process collectors.
// Nothing goes to Prometheus's global default registry, so tests and
// several pipelines in one process never collide.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return &Metrics{reg: reg}
}

// Registry is the registry the families live on, for tests and for
// registering more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// latencyBuckets span 0.5 ms to about 16 s, doubling: request, produce and
// bulk-write latencies all land inside it.
var latencyBuckets = prometheus.ExponentialBuckets(0.0005, 2, 16)
