package kafka_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/testkit"
)

// atSize returns a keyed post whose record is exactly n bytes.
func atSize(t *testing.T, n int) post.Post {
	t.Helper()
	in := post.Input{Author: "a", Title: "t", Content: "x"}
	p := post.New(post.KeyedID("size"), in, time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC))
	p.Fingerprint = in.Fingerprint()
	p.Content = strings.Repeat("😀", (n-post.EncodedLen(p))/4) + strings.Repeat("x", 1+(n-post.EncodedLen(p))%4)
	if got := post.EncodedLen(p); got != n {
		t.Fatalf("built a post of %d bytes, want %d", got, n)
	}
	return p
}

// TestLargestPostFitsARecord publishes a post whose record is exactly
// post.MaxEncodedBytes, with trace headers, through a producer with
// ProducerOpts: it must be acknowledged, not refused as too large.
func TestLargestPostFitsARecord(t *testing.T) {
	cluster := testkit.Kafka(t, kfake.SeedTopics(1, "posts"), kfake.BrokerConfigs(map[string]string{"message.max.bytes": "1048576"}))
	log := slog.New(slog.DiscardHandler)
	cl, err := kgo.NewClient(append(kafka.ClientOpts(cluster.ListenAddrs(), log), kafka.ProducerOpts(10*time.Second, 0)...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	pub := kafka.NewPublisher(cl, "posts", 10*time.Second, kafka.Instruments{})
	p := atSize(t, post.MaxEncodedBytes)
	if b, err := post.Marshal(p); err != nil || len(b) != post.MaxEncodedBytes {
		t.Fatalf("record of %d bytes (%v)", len(b), err)
	}
	if err := pub.Publish(t.Context(), []post.Post{p})[0]; err != nil {
		t.Fatalf("a post at the API's limit was not acknowledged: %v", err)
	}
}
