package tracing

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Propagator is the W3C Trace Context format, used on HTTP requests and
// Kafka records alike.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// headerCarrier lets the propagator read and write a record's headers.
type headerCarrier struct{ r *kgo.Record }

func (c headerCarrier) Get(key string) string {
	for _, h := range c.r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func (c headerCarrier) Set(key, value string) {
	for i, h := range c.r.Headers {
		if h.Key == key {
			c.r.Headers[i].Value = []byte(value)
			return
		}
	}
	c.r.Headers = append(c.r.Headers, kgo.RecordHeader{Key: key, Value: []byte(value)})
}

func (c headerCarrier) Keys() []string {
	keys := make([]string, len(c.r.Headers))
	for i, h := range c.r.Headers {
		keys[i] = h.Key
	}
	return keys
}

// Inject writes the trace context of ctx into r's headers (traceparent,
// tracestate).
func Inject(ctx context.Context, r *kgo.Record) {
	Propagator.Inject(ctx, headerCarrier{r})
}

// SpanContext reads the trace context a producer injected into r; it is
// invalid when there is none.
func SpanContext(r *kgo.Record) trace.SpanContext {
	return trace.SpanContextFromContext(Propagator.Extract(context.Background(), headerCarrier{r}))
}
