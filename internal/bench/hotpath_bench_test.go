package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/testkit"
)

// Benchmarks of the per-post work on the hot paths, through the exported
// APIs of the packages that do it, with posts shaped like the ones the load
// test sends. Run them with
//
//	go test -run '^$' -bench . -benchmem ./internal/bench

// benchInput is a post as the load test makes them.
func benchInput(b *testing.B, contentBytes int) post.Input {
	b.Helper()
	return newPosts(newWords(contentBytes), "B", "kafka", contentBytes).next()
}

func benchBody(b *testing.B) []byte {
	b.Helper()
	body, err := json.Marshal(benchInput(b, 300))
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkDecodeValidate is what the API does with a body before anything
// else: a strict decode, then validation.
func BenchmarkDecodeValidate(b *testing.B) {
	body := benchBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var in post.Input
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			b.Fatal(err)
		}
		if err := in.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNoopHandler is POST /v1/bench/noop in process: reading, decoding,
// validating, an id, the 202 — the request handling without the network.
func BenchmarkNoopHandler(b *testing.B) {
	h := api.New(api.Limits{MaxBodyBytes: 1 << 20, MaxBatchBodyBytes: 16 << 20, MaxBatchPosts: 500, BenchEndpoints: true},
		nil, nil, nil, slog.New(slog.DiscardHandler))
	body := benchBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/bench/noop", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusAccepted {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// ackAll is a publisher whose broker acknowledges everything at once, so a
// benchmark measures the API's own work.
type ackAll struct{}

func (ackAll) Publish(_ context.Context, posts []post.Post) []error { return make([]error, len(posts)) }

// BenchmarkBatchHandler is POST /v1/posts:batch with 100 posts, in process,
// the broker answering at once: decoding, validation, ids, record encoding
// and the 207 answer. One op is one request of 100 posts.
func BenchmarkBatchHandler(b *testing.B) {
	h := api.New(api.Limits{MaxBodyBytes: 1 << 20, MaxBatchBodyBytes: 16 << 20, MaxBatchPosts: 500},
		ackAll{}, nil, nil, slog.New(slog.DiscardHandler))
	gen := newPosts(newWords(300), "B", "batch", 300)
	in := make([]post.Input, 100)
	for i := range in {
		in[i] = gen.next()
	}
	body, err := json.Marshal(in)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/posts:batch", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusMultiStatus {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkRecordEncode is the Kafka record value the API produces.
func BenchmarkRecordEncode(b *testing.B) {
	now := time.Now()
	p := post.New(post.NewID(now), benchInput(b, 300), now)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := post.Marshal(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSinkBatchConversion is the sink turning a polled batch of
// records back into posts (decode and re-validate each) before its bulk
// write; 500 is the default batch size.
func BenchmarkSinkBatchConversion(b *testing.B) {
	const batch = 500
	keys, values := make([][]byte, batch), make([][]byte, batch)
	size := 0
	for i := range batch {
		now := time.Now()
		p := post.New(post.NewID(now), benchInput(b, 300), now)
		v, err := post.Marshal(p)
		if err != nil {
			b.Fatal(err)
		}
		keys[i], values[i] = []byte(p.ID), v
		size += len(v)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	posts := make([]post.Post, batch)
	for b.Loop() {
		for i := range batch {
			p, err := post.Unmarshal(keys[i], values[i])
			if err != nil {
				b.Fatal(err)
			}
			posts[i] = p
		}
	}
	if len(posts) != batch || posts[batch-1].ID == "" {
		b.Fatal("the batch was not converted")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/post")
}

// BenchmarkProduce is the API's publish — produce, wait for the ack —
// against kfake in process, for one post and for a batch. It measures the
// client and the round trip on loopback, not a real broker's disk.
func BenchmarkProduce(b *testing.B) {
	cluster := testkit.Kafka(b, kfake.SeedTopics(6, "posts"))
	opts := append(kafka.ClientOpts(cluster.ListenAddrs(), slog.New(slog.DiscardHandler)), kafka.ProducerOpts(10*time.Second, 0)...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	pub := kafka.NewPublisher(cl, "posts", 10*time.Second, kafka.Instruments{})
	in := benchInput(b, 300)

	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("posts=%d", n), func(b *testing.B) {
			posts := make([]post.Post, n)
			b.ReportAllocs()
			for b.Loop() {
				now := time.Now()
				for i := range posts {
					posts[i] = post.New(post.NewID(now), in, now)
				}
				for _, err := range pub.Publish(context.Background(), posts) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/post")
		})
	}
}

// BenchmarkLoadGeneratorBody is the load generator's own cost per request,
// which shares the CPUs with the server in a local run.
func BenchmarkLoadGeneratorBody(b *testing.B) {
	for _, sc := range []string{"kafka", "batch"} {
		b.Run(sc, func(b *testing.B) {
			scs, err := lookupScenarios([]string{sc})
			if err != nil {
				b.Fatal(err)
			}
			s := &sender{sc: scs[0], posts: newPosts(newWords(300), "B", sc, 300), batchSize: 100}
			var (
				body    []byte
				markers []string
			)
			b.ReportAllocs()
			for b.Loop() {
				body, markers = s.body(body[:0], markers[:0])
			}
			if len(body) == 0 || len(markers) == 0 {
				b.Fatal("no body made")
			}
		})
	}
}
