package sink

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/postpipe/postpipe/internal/tracing"
)

// MaxSpanLinks bounds the links of one write span: a batch of thousands
// would otherwise make one span as big as the batch.
const MaxSpanLinks = 128

// startWriteSpan starts the span of a batch's bulk write to rt, linked to the
// trace each record carries, so the trace of one document's HTTP request leads
// to the write that stored it. Without a tracer it returns ctx and nil.
func (s *Sink) startWriteSpan(ctx context.Context, rt *Route, recs []*kgo.Record) (context.Context, trace.Span) {
	if s.cfg.Tracer == nil {
		return ctx, nil
	}
	var links []trace.Link
	for _, r := range recs {
		if len(links) == MaxSpanLinks {
			break
		}
		if sc := tracing.SpanContext(r); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	return s.cfg.Tracer.Start(ctx, "process "+rt.topic,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(links...),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", rt.topic),
			attribute.String("messaging.consumer.group.name", s.cfg.Group),
			attribute.String("postpipe.stream", rt.stream),
			attribute.Int("messaging.batch.message_count", len(recs)),
			attribute.String("db.system.name", "mongodb"),
			attribute.String("db.operation.name", "insertMany"),
		))
}

func endWriteSpan(span trace.Span, inserted, duplicates int, err error) {
	if span == nil {
		return
	}
	span.SetAttributes(attribute.Int("postpipe.inserted", inserted), attribute.Int("postpipe.duplicates", duplicates))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
