package metrics

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// readinessTimeout bounds each check at scrape time, like /readyz does.
const readinessTimeout = 2 * time.Second

var readinessDesc = prometheus.NewDesc(namespace+"_readiness_check_up",
	"1 when the readiness check passes at scrape time, 0 when it fails: the checks /readyz runs (kafka, mongodb, and sink on a sink's listener).",
	[]string{"check"}, nil)

// Readiness registers postpipe_readiness_check_up, one series per check,
// each run (at once, within 2 s) when scraped. /readyz tells only the
// kubelet; this lets an alert tell which dependency a pod lost.
func (m *Metrics) Readiness(checks map[string]func(context.Context) error) {
	names := make([]string, 0, len(checks))
	for n := range checks {
		names = append(names, n)
	}
	sort.Strings(names)
	m.reg.MustRegister(readinessCollector{names: names, checks: checks})
}

type readinessCollector struct {
	names  []string
	checks map[string]func(context.Context) error
}

func (c readinessCollector) Describe(ch chan<- *prometheus.Desc) { ch <- readinessDesc }

func (c readinessCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), readinessTimeout)
	defer cancel()
	up := make([]float64, len(c.names))
	var wg sync.WaitGroup
	for i, n := range c.names {
		wg.Go(func() {
			if c.checks[n](ctx) == nil {
				up[i] = 1
			}
		})
	}
	wg.Wait()
	for i, n := range c.names {
		ch <- prometheus.MustNewConstMetric(readinessDesc, prometheus.GaugeValue, up[i], n)
	}
}
