package sink_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/sink"
	"github.com/postpipe/postpipe/internal/testkit"
)

// lagOf sums what EachLag reports over the partitions; it reports an error
// for a row of another stream than posts (the only one routed).
func lagOf(t *testing.T, s *sink.Sink) (records int64, oldest float64, partitions int) {
	t.Helper()
	s.EachLag(func(stream string, _ int32, r int64, sec float64) {
		if stream != "posts" {
			t.Errorf("EachLag reported stream %q, want posts", stream)
		}
		records += r
		oldest = max(oldest, sec)
		partitions++
	})
	return records, oldest, partitions
}

// TestLagWhileTheStoreIsDown: records the sink holds but cannot write show
// as lag in records and in seconds, and both fall to zero once written.
func TestLagWhileTheStoreIsDown(t *testing.T) {
	brokers := newCluster(t)
	cl := newClient(t, brokers)
	w := newFakeWriter()
	w.setFailing(true)
	s, stop := startSink(t, brokers, sinkConfig("sink-lag", 100), w)
	ids := produceGood(t, cl, 30)

	testkit.Eventually(t, 30*time.Second, "a failed write", func() bool { return w.failedCalls() > 0 })
	time.Sleep(200 * time.Millisecond) // the oldest record ages
	records, oldest, parts := lagOf(t, s)
	if records != 30 || oldest < 0.2 || parts == 0 {
		t.Fatalf("while the store is down: lag %d records, %.3fs over %d partitions; want 30 records, at least 0.2s", records, oldest, parts)
	}

	w.setFailing(false)
	testkit.Eventually(t, 30*time.Second, "every record written", func() bool { return w.hasAll(ids) })
	testkit.Eventually(t, 10*time.Second, "lag back to zero", func() bool {
		r, o, _ := lagOf(t, s)
		return r == 0 && o == 0
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// countingObserver totals what the sink reports, over all streams and per
// stream (in byStream, BatchDone's figures only).
type countingObserver struct {
	mu                                        sync.Mutex
	attempts, failures                        int
	batches, records, inserted, dups, deadLet int
	byStream                                  map[string]sink.Stats
	attemptsOf                                map[string]int
}

func (o *countingObserver) WriteAttempted(stream string, _ time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.attemptsOf == nil {
		o.attemptsOf = map[string]int{}
	}
	o.attemptsOf[stream]++
	o.attempts++
	if err != nil {
		o.failures++
	}
}

func (o *countingObserver) BatchDone(stream string, records, inserted, duplicates, deadLettered int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.byStream == nil {
		o.byStream = map[string]sink.Stats{}
	}
	st := o.byStream[stream]
	st.Batches++
	st.Inserted += int64(inserted)
	st.Duplicates += int64(duplicates)
	st.DeadLettered += int64(deadLettered)
	o.byStream[stream] = st
	o.batches++
	o.records += records
	o.inserted += inserted
	o.dups += duplicates
	o.deadLet += deadLettered
}

func TestObserverSeesEveryBatch(t *testing.T) {
	brokers := newCluster(t)
	cl := newClient(t, brokers)
	w := newFakeWriter()
	w.setFailing(true)
	obs := &countingObserver{}
	cfg := sinkConfig("sink-obs", 16)
	cfg.Observer = obs
	s, stop := startSink(t, brokers, cfg, w)
	p := newPost(t, 0)
	ids := produceGood(t, cl, 20)
	produce(t, cl, postRecord(t, p), postRecord(t, p)) // the second is a duplicate
	produce(t, cl, &kgo.Record{Topic: topic, Key: []byte("poison"), Value: []byte("not JSON")})
	testkit.Eventually(t, 30*time.Second, "a failed write", func() bool { return w.failedCalls() > 0 })
	w.setFailing(false)
	testkit.Eventually(t, 30*time.Second, "every record written", func() bool { return w.hasAll(append(ids, p.ID)) })
	testkit.Eventually(t, 30*time.Second, "the poison record dead-lettered", func() bool { return s.Stats().DeadLettered == 1 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	st := s.Stats()
	if obs.failures == 0 || obs.attempts != int(st.Batches)+obs.failures {
		t.Errorf("observer saw %d attempts, %d failed; sink wrote %d batches", obs.attempts, obs.failures, st.Batches)
	}
	if obs.batches != int(st.Batches) || obs.records != 23 || obs.inserted != 21 || obs.dups != 1 || obs.deadLet != 1 {
		t.Errorf("observer: %d batches, %d records, %d inserted, %d duplicates, %d dead-lettered; want %d, 23, 21, 1, 1",
			obs.batches, obs.records, obs.inserted, obs.dups, obs.deadLet, st.Batches)
	}
	if got, want := obs.byStream, map[string]sink.Stats{"posts": st}; len(got) != 1 || got["posts"] != want["posts"] {
		t.Errorf("observer by stream: %+v, want %+v", got, want)
	}
	if ss := s.StreamStats(); len(ss) != 1 || ss["posts"] != st {
		t.Errorf("StreamStats() = %+v, want posts alone with the totals %+v", ss, st)
	}
	if len(obs.attemptsOf) != 1 || obs.attemptsOf["posts"] != obs.attempts {
		t.Errorf("write attempts by stream: %v, want all %d of posts", obs.attemptsOf, obs.attempts)
	}
}

func TestJoinedOnlyWhileConsumingInTheGroup(t *testing.T) {
	brokers := newCluster(t)
	s, err := sink.New(sinkConfig("sink-ready", 10), []sink.Route{sink.PostsRoute(topic, dlqTopic, newFakeWriter())}, quiet, kafka.ClientOpts(brokers, quiet)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Joined(t.Context()); err == nil {
		t.Fatal("Joined before Run: nil, want an error")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	testkit.Eventually(t, 30*time.Second, "the sink to join its group", func() bool { return s.Joined(t.Context()) == nil })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := s.Joined(t.Context()); err == nil {
		t.Fatal("Joined after Run returned: nil, want an error")
	}
}

// TestLagWhileTheFetchIsHeld: records the broker holds back from the sink
// (a fetch waiting for more bytes) show as lag, read from the broker's end
// offsets: the last fetch's high watermark knows nothing of them.
func TestLagWhileTheFetchIsHeld(t *testing.T) {
	brokers := newCluster(t)
	cl := newClient(t, brokers)
	w := newFakeWriter()
	cfg := sinkConfig("sink-lag-held", 100)
	cfg.FetchMinBytes, cfg.FetchMaxWait = 1<<30, 10*time.Second // no fetch returns within the test
	s, stop := startSink(t, brokers, cfg, w)

	testkit.Eventually(t, 30*time.Second, "the lag of the 3 partitions held", func() bool {
		_, _, parts := lagOf(t, s)
		return parts == 3
	})
	produceGood(t, cl, 12)
	var records int64
	testkit.Eventually(t, 30*time.Second, "a lag of the 12 records", func() bool {
		records, _, _ = lagOf(t, s)
		return records >= 12
	})
	if records != 12 {
		t.Errorf("lag %d records, want 12", records)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestLagGrowsWhileTheStoreIsDown: while the sink retries a batch it polls
// nothing, so no fetch tells it of the records produced since; the lag
// counts them all, and falls to zero once they are written.
func TestLagGrowsWhileTheStoreIsDown(t *testing.T) {
	brokers := newCluster(t)
	cl := newClient(t, brokers)
	w := newFakeWriter()
	w.setFailing(true)
	s, stop := startSink(t, brokers, sinkConfig("sink-lag-grows", 100), w)
	ids := produceGood(t, cl, 10)
	testkit.Eventually(t, 30*time.Second, "a failed write", func() bool { return w.failedCalls() > 0 })
	ids = append(ids, produceGood(t, cl, 20)...)
	var records int64
	testkit.Eventually(t, 30*time.Second, "a lag of the 30 records", func() bool {
		records, _, _ = lagOf(t, s)
		return records >= 30
	})
	if records != 30 {
		t.Errorf("lag %d records, want 30", records)
	}

	w.setFailing(false)
	testkit.Eventually(t, 30*time.Second, "every record written", func() bool { return w.hasAll(ids) })
	testkit.Eventually(t, 10*time.Second, "lag back to zero", func() bool {
		r, o, _ := lagOf(t, s)
		return r == 0 && o == 0
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
