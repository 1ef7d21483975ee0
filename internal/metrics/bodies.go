package metrics

import "github.com/prometheus/client_golang/prometheus"

// Bodies is the request body budget's families. It implements
// api.BodyObserver.
type Bodies struct {
	held    prometheus.Gauge
	refused *prometheus.CounterVec
}

// bodyRefusalReasons are the reasons api.BodyObserver names (api's
// RefusedBudgetFull and RefusedClientShare); each series exists from the
// start, so a rate over it is 0, not absent, until the first refusal.
var bodyRefusalReasons = []string{"budget_full", "client_share"}

// Bodies registers the body budget's families.
func (m *Metrics) Bodies() *Bodies {
	b := &Bodies{
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "http", Name: "body_bytes_held",
			Help: "Request body bytes reserved in the body budget: declared or read, not yet released by their handler.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "http", Name: "body_refusals_total",
			Help: "Request bodies answered 503 unread because the body budget (budget_full) or the client's share of it (client_share) stayed full.",
		}, []string{"reason"}),
	}
	for _, r := range bodyRefusalReasons {
		b.refused.WithLabelValues(r)
	}
	m.reg.MustRegister(b.held, b.refused)
	return b
}

// BodyBytesHeld sets the bytes held.
func (b *Bodies) BodyBytesHeld(n int64) { b.held.Set(float64(n)) }

// BodyRefused counts a refusal. Refusals are rare, so the labelled
// lookup is not cached.
func (b *Bodies) BodyRefused(reason string) { b.refused.WithLabelValues(reason).Inc() }
