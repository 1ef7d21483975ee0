package tracing_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/sink"
	"github.com/postpipe/postpipe/internal/store"
	"github.com/postpipe/postpipe/internal/testkit"
	"github.com/postpipe/postpipe/internal/tracing"
)

var quiet = slog.New(slog.DiscardHandler)

const topic = "posts"

func newCluster(t *testing.T) []string {
	t.Helper()
	c := testkit.Kafka(t, kfake.SeedTopics(3, topic), kfake.SeedTopics(1, topic+".dlq"))
	return c.ListenAddrs()
}

func newClient(t *testing.T, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append(kafka.ClientOpts(brokers, quiet), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestOnePostsTripIsOneTrace sends one POST through the API, kfake and the
// sink into the embedded store (FerretDB on SQLite) and follows its trace:
// the client's trace continues in the server span, the producer span is its
// child, and the sink's write span links to the producer span.
func TestOnePostsTripIsOneTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	brokers := newCluster(t)
	mongo := testkit.Store(t)
	st, err := store.Open(ctx, mongo.URI(), "tracing", "posts")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) }) // before the store's own cleanup

	prod := newClient(t, brokers, kafka.ProducerOpts(5*time.Second, 0)...)
	pub := kafka.NewPublisher(prod, topic, 5*time.Second, kafka.Instruments{Tracer: tp.Tracer("kafka")})
	h := api.Instrument(api.New(api.Limits{MaxBodyBytes: 1 << 20, MaxBatchBodyBytes: 1 << 20, MaxBatchPosts: 10}, pub, st, nil, quiet),
		api.Instruments{Tracer: tp.Tracer("api")})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	sk, err := sink.New(sink.Config{Group: "tracing", BatchSize: 100,
		BatchWait: 20 * time.Millisecond, FlushTimeout: 5 * time.Second, Tracer: tp.Tracer("sink")},
		[]sink.Route{sink.PostsRoute(topic, topic+".dlq", st)}, quiet, kafka.ClientOpts(brokers, quiet)...)
	if err != nil {
		t.Fatal(err)
	}
	sinkCtx, stopSink := context.WithCancel(ctx)
	sinkDone := make(chan error, 1)
	go func() { sinkDone <- sk.Run(sinkCtx) }()
	t.Cleanup(func() { stopSink(); <-sinkDone })

	const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/posts", strings.NewReader(`{"author":"ada","title":"traced","content":"c"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+clientTrace+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	id := strings.Split(resp.Header.Get("Location"), "/")[3]
	testkit.Eventually(t, time.Minute, "the post stored", func() bool {
		_, err := st.Get(ctx, id)
		return err == nil
	})

	var server, producer, write tracetest.SpanStub
	testkit.Eventually(t, time.Minute, "the three spans", func() bool {
		for _, s := range exp.GetSpans() {
			switch s.SpanKind {
			case trace.SpanKindServer:
				server = s
			case trace.SpanKindProducer:
				producer = s
			case trace.SpanKindConsumer:
				write = s
			}
		}
		return server.Name != "" && producer.Name != "" && write.Name != ""
	})
	if server.Name != "POST /v1/posts" || server.SpanContext.TraceID().String() != clientTrace {
		t.Errorf("server span %q in trace %s, want POST /v1/posts in the client's trace %s", server.Name, server.SpanContext.TraceID(), clientTrace)
	}
	if producer.Parent.SpanID() != server.SpanContext.SpanID() || producer.SpanContext.TraceID() != server.SpanContext.TraceID() {
		t.Errorf("producer span %q is not a child of the server span", producer.Name)
	}
	linked := false
	for _, l := range write.Links {
		if l.SpanContext.TraceID() == server.SpanContext.TraceID() && l.SpanContext.SpanID() == producer.SpanContext.SpanID() {
			linked = true
		}
	}
	if !linked || write.Name != "process "+topic {
		t.Errorf("write span %q links %v; want a link to the producer span %s of trace %s", write.Name, write.Links, producer.SpanContext.SpanID(), clientTrace)
	}
}

// TestNoTracerNoHeaders: with tracing off the publisher adds nothing to a
// record, and a record without headers yields no span context.
func TestNoTracerNoHeaders(t *testing.T) {
	brokers := newCluster(t)
	prod := newClient(t, brokers, kafka.ProducerOpts(5*time.Second, 0)...)
	pub := kafka.NewPublisher(prod, topic, 5*time.Second, kafka.Instruments{})
	p := post.New(post.NewID(time.Now()), post.Input{Author: "a", Title: "t", Content: "c"}, time.Now())
	if err := pub.Publish(context.Background(), []post.Post{p})[0]; err != nil {
		t.Fatal(err)
	}
	cons := newClient(t, brokers, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rec *kgo.Record
	for rec == nil && ctx.Err() == nil {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { rec = r })
	}
	if rec == nil {
		t.Fatal("record not consumed")
	}
	if len(rec.Headers) != 0 {
		t.Errorf("headers %v on a record published without tracing", rec.Headers)
	}
	if tracing.SpanContext(rec).IsValid() {
		t.Error("a valid span context from a record without headers")
	}
}

func TestInjectExtractRoundTrip(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.Background(), "s")
	defer span.End()
	r := &kgo.Record{Headers: []kgo.RecordHeader{{Key: "other", Value: []byte("kept")}}}
	tracing.Inject(ctx, r)
	tracing.Inject(ctx, r) // twice: replaced, not repeated
	if got := tracing.SpanContext(r); !got.Equal(trace.SpanContextFromContext(ctx).WithRemote(true)) {
		t.Errorf("extracted %v, want %v", got, span.SpanContext())
	}
	if len(r.Headers) != 2 || r.Headers[0].Key != "other" || r.Headers[1].Key != "traceparent" {
		t.Errorf("headers = %v, want other and one traceparent", r.Headers)
	}
}
