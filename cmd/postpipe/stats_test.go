package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/stats"
	"github.com/postpipe/postpipe/internal/testkit"
)

func getStats(t *testing.T, base string) stats.Snapshot {
	t.Helper()
	resp, err := client.Get(base + "/v1/stats")
	if err != nil {
		t.Fatalf("GET /v1/stats: %v", err)
	}
	defer resp.Body.Close()
	var s stats.Snapshot
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/stats: %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("GET /v1/stats: %v", err)
	}
	return s
}

// The API process runs without the sink: its stats must come from the
// broker, and follow what a separate sink process commits.
func TestStatsFollowASeparateSink(t *testing.T) {
	env := backendEnv(t)
	apiAddr := freeAddr(t)
	base := "http://" + apiAddr
	start(t, "api", with(env, "POSTPIPE_HTTP_ADDR", apiAddr))
	waitReady(t, base)

	const n = 60
	var acc accepted
	postMany(t, base, "stats", n, 0, &acc)
	// One poison record straight to the topic: the sink dead-letters it.
	produceRaw(t, env, &kgo.Record{Topic: env["POSTPIPE_KAFKA_TOPIC"], Value: []byte("not a post")})

	// No sink yet: everything is lag.
	var s stats.Snapshot
	testkit.Eventually(t, 30*time.Second, "the lag to show every record", func() bool {
		s = getStats(t, base)
		return s.Totals.Accepted == n && s.Lag.Total == n+1
	})
	if len(s.Lag.Partitions) != 6 || s.Totals.Committed != 0 || s.Error != "" {
		t.Fatalf("before the sink: %+v", s)
	}
	ingest := false
	for _, sm := range s.Samples {
		ingest = ingest || sm.IngestRate > 0
	}
	if !ingest {
		t.Errorf("no sample shows the %d posts coming in: %+v", n, s.Samples)
	}

	start(t, "sink", env)
	testkit.Eventually(t, 90*time.Second, "the sink to commit everything", func() bool {
		s = getStats(t, base)
		return s.Lag.Total == 0 && s.Totals.Committed == n+1 && s.Totals.DLQ == 1
	})
	sunk := false
	for _, sm := range s.Samples {
		sunk = sunk || sm.SinkRate > 0
	}
	if !sunk {
		t.Errorf("no sample shows the sink's progress: %+v", s.Samples)
	}
	if s.Totals.Accepted != n || len(s.Samples) < 2 {
		t.Errorf("after the sink: %s", fmt.Sprintf("%+v", s))
	}
}
