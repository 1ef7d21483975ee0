package sink_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/sink"
	"github.com/postpipe/postpipe/internal/testkit"
)

// rebalanceLog keeps the sink's rebalance records: the message, the change
// and what the member holds after it.
type rebalanceLog struct {
	mu   sync.Mutex
	recs []rebalanceRecord
}

type rebalanceRecord struct {
	level         slog.Level
	msg           string
	change, holds map[string][]int32
}

func (l *rebalanceLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *rebalanceLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *rebalanceLog) WithGroup(string) slog.Handler            { return l }

func (l *rebalanceLog) Handle(_ context.Context, r slog.Record) error {
	rec := rebalanceRecord{level: r.Level, msg: r.Message}
	var ok bool
	r.Attrs(func(a slog.Attr) bool {
		m, isMap := a.Value.Any().(map[string][]int32)
		switch {
		case !isMap:
		case a.Key == "holds":
			rec.holds, ok = m, true
		case a.Key == "assigned" || a.Key == "revoked" || a.Key == "lost":
			rec.change = m
		}
		return true
	})
	if ok {
		l.mu.Lock()
		l.recs = append(l.recs, rec)
		l.mu.Unlock()
	}
	return nil
}

func (l *rebalanceLog) records() []rebalanceRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.recs)
}

// last is the newest record, the zero one when there is none.
func (l *rebalanceLog) last() rebalanceRecord {
	recs := l.records()
	if len(recs) == 0 {
		return rebalanceRecord{}
	}
	return recs[len(recs)-1]
}

// asStreamKeys turns a topic -> partitions map into assigned's keys
// ("posts/0", "notes/1").
func asStreamKeys(m map[string][]int32) map[string]bool {
	streamOf := map[string]string{blogTopic: "posts", notesTopic: notes}
	out := map[string]bool{}
	for t, ps := range m {
		for _, p := range ps {
			out[fmt.Sprintf("%s/%d", streamOf[t], p)] = true
		}
	}
	return out
}

// TestRebalanceLogsSayWhatTheMemberHolds: each assigned/revoked log names
// the change and, per stream topic, every partition the member holds after
// it (issue 20: "partitions assigned partitions=[]" while the member held
// partitions 0-2, since franz-go hands the callback the change alone).
func TestRebalanceLogsSayWhatTheMemberHolds(t *testing.T) {
	brokers := newRoutesCluster(t)
	adm := kadm.NewClient(newClient(t, brokers))
	const group = "rebalance-logs"
	cfg := sinkConfig(group, 20)
	cfg1, cfg2 := cfg, cfg
	cfg1.InstanceID, cfg2.InstanceID = "logs-1", "logs-2"

	start := func(cfg sink.Config) *rebalanceLog {
		l := &rebalanceLog{}
		s, err := sink.New(cfg, twoRoutes(newFakeWriter(), newWriter(noteID)), slog.New(l), kafka.ClientOpts(brokers, quiet)...)
		if err != nil {
			t.Fatalf("sink.New: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Error("Run did not return within 20s of its context ending")
			}
		})
		return l
	}

	everything := map[string][]int32{blogTopic: {0, 1, 2}, notesTopic: {0, 1}}
	l1 := start(cfg1)
	testkit.Eventually(t, 30*time.Second, "the first member to log that it holds every partition", func() bool {
		return maps.EqualFunc(l1.last().holds, everything, slices.Equal)
	})
	if first := l1.records()[0]; first.msg != "partitions assigned" || !maps.EqualFunc(first.change, everything, slices.Equal) {
		t.Errorf("first rebalance log %q assigned %v, want partitions assigned with every partition", first.msg, first.change)
	}

	// A second member joins: each member's newest log holds what the
	// group assigns it, and names both topics, held or not.
	l2 := start(cfg2)
	var a map[string]map[string]bool
	testkit.Eventually(t, 30*time.Second, "each member's last log to hold its assignment", func() bool {
		a = assigned(t, adm, group)
		h1, h2 := l1.last().holds, l2.last().holds
		return len(a) == 2 && len(a["logs-1"])+len(a["logs-2"]) == 5 &&
			maps.Equal(asStreamKeys(h1), a["logs-1"]) && maps.Equal(asStreamKeys(h2), a["logs-2"])
	})
	var revoked bool
	for _, r := range l1.records() {
		if len(r.holds) != 2 || r.holds[blogTopic] == nil || r.holds[notesTopic] == nil {
			t.Errorf("%s: holds %v, want both topics (an empty list for one held none of)", r.msg, r.holds)
		}
		if r.msg == "partitions revoked" && (len(asStreamKeys(r.change)) > 0) != (r.level == slog.LevelInfo) {
			t.Errorf("revoked %v logged at %v: want info when partitions go, debug when none do", r.change, r.level)
		}
		if r.msg == "partitions revoked" && len(asStreamKeys(r.change)) > 0 {
			revoked = true
			for k := range asStreamKeys(r.change) {
				if asStreamKeys(r.holds)[k] {
					t.Errorf("revoked %s but still holds it: %v", k, r.holds)
				}
			}
		}
	}
	if !revoked {
		t.Errorf("the first member never logged the partitions it gave up; its logs: %+v", l1.records())
	}
	t.Logf("assignment %v; first member's logs %+v; second's %+v", a, l1.records(), l2.records())
}
