package sink_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/postpipe/postpipe/internal/testkit"
)

// seenFetch is a fetch request as the broker received it.
type seenFetch struct {
	at                  time.Time
	minBytes, maxWaitMs int32
	partitions          int
}

// watchFetches has the cluster report every fetch request it receives, and
// then handle it as usual.
func watchFetches(c *kfake.Cluster) <-chan seenFetch {
	ch := make(chan seenFetch, 4096)
	c.ControlKey(int16(kmsg.Fetch), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		req := kr.(*kmsg.FetchRequest)
		f := seenFetch{at: time.Now(), minBytes: req.MinBytes, maxWaitMs: req.MaxWaitMillis}
		for _, tp := range req.Topics {
			f.partitions += len(tp.Partitions)
		}
		select {
		case ch <- f:
		default:
		}
		return nil, nil, false
	})
	return ch
}

// TestFetchIsHeld: the sink asks the broker to hold its fetches for
// FetchMinBytes or FetchMaxWait, and the broker does: records far under
// the min bytes, produced as a fetch begins, are written only once that
// fetch has waited FetchMaxWait (with min bytes 1 the fetch would return
// them at once).
func TestFetchIsHeld(t *testing.T) {
	c := testkit.Kafka(t, kfake.SeedTopics(3, topic), kfake.SeedTopics(1, dlqTopic))
	fetches := watchFetches(c)
	cl := newClient(t, c.ListenAddrs())
	w := newFakeWriter()
	cfg := sinkConfig("sink-held", 100)
	cfg.FetchMinBytes, cfg.FetchMaxWait = 1<<20, 300*time.Millisecond
	_, stop := startSink(t, c.ListenAddrs(), cfg, w)

	// The next fetch with at least partitions (a fetch session's later
	// fetches name only the partitions that changed).
	next := func(what string, partitions int) seenFetch {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case f := <-fetches:
				if f.partitions >= partitions {
					return f
				}
			case <-deadline:
				t.Fatalf("timed out after 30s waiting for %s", what)
			}
		}
	}
	first := next("the sink's first fetch of its partitions", 3) // it holds them all
	if first.minBytes != 1<<20 || first.maxWaitMs != 300 {
		t.Fatalf("fetch asks for min bytes %d, max wait %dms; want %d, 300ms", first.minBytes, first.maxWaitMs, 1<<20)
	}
	// Produce as a fetch begins: it is held until FetchMaxWait from then.
	for len(fetches) > 0 {
		<-fetches
	}
	f := next("a fetch after the first", 0)
	ids := produceGood(t, cl, 3)
	var written time.Duration
	testkit.Eventually(t, 30*time.Second, "the records written", func() bool {
		written = time.Since(f.at)
		return w.hasAll(ids)
	})
	// The fetch waits 300ms from its start; 150ms leaves room for a late
	// clock reading here, none for a fetch answered at the first record.
	if written < 150*time.Millisecond || written > 10*time.Second {
		t.Errorf("records written %s after the fetch began; want about its max wait, 300ms", written)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
