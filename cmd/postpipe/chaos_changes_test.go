package main

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"
)

// TestChaos's update storm: beside the bench client's posts, a
// changesDriver (changes_model_test.go) keeps changing a few dozen posts —
// PUT, PATCH, DELETE, re-created, ops sent again, some waited for with
// Prefer: wait — while a sink is SIGKILLed; then each post must read as
// the model of the ops that got a 202 says. Its row in the table counts
// ops: requests sent (retries included), ops accepted, 503s, and posts
// that were not as their model: lost (an earlier state of the post: an
// accepted op missing) or reordered (a state the model never had: ops out
// of order, or one applied twice, which is why it has no duplicated of its
// own). CHAOS_SHORT halves the posts changed (the load is shorter too).

// stormIDs is how many posts the storm changes concurrently, and
// stormPause the pause between two ops on one: at most stormIDs/stormPause
// ops a second (640; fewer, as each op waits for its answer), beside the
// bench client's chaosRate posts.
const (
	stormIDs   = 32
	stormPause = 50 * time.Millisecond
)

// withUpdateStorm is a scenario's before hook: the scenario runs with the
// update storm beside the bench client's load, and has a row for it.
func withUpdateStorm(r *chaosRig) {
	ids := stormIDs
	if os.Getenv("CHAOS_SHORT") != "" {
		ids /= 2
	}
	r.storm = &updateStorm{ids: ids}
}

// updateStorm is the storm of one scenario.
type updateStorm struct {
	ids int
	d   *changesDriver
}

// begin makes the driver for the rig's API; on the test's goroutine.
func (s *updateStorm) begin(r *chaosRig) {
	// An op is retried (same key) while the sink's partitions move and
	// the API answers 503, within the drain the rest of the scenario gets.
	s.d = newChangesDriver(r.t, r.base, changesConfig{ids: s.ids, pause: stormPause, waitEvery: 20, retryFor: 2 * time.Minute})
}

// drive changes the posts for dur.
func (s *updateStorm) drive(dur time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	s.d.drive(ctx)
}

// row sends each post's last op with Prefer: wait, waits up to three
// minutes for every post to be as its model, and returns the storm's row
// of the table (failing the test on any post that is not); the API's
// memory and the failover are the scenario's.
func (s *updateStorm) row(t *testing.T, name string, maxRSS int64, failover string) chaosRow {
	t.Helper()
	d := s.d
	d.finish(false)
	out := d.check(3 * time.Minute)
	d.mu.Lock()
	row := chaosRow{
		scenario: name, sent: d.sent, accepted: d.accepted, unavailable: d.status[http.StatusServiceUnavailable],
		otherErrs: d.netErrs, lost: int64(out.lost + out.unread), reordered: int64(out.reordered), modelled: true,
		maxLatency: d.slowest, maxRSS: maxRSS, failover: failover,
	}
	for status, n := range d.status {
		switch status {
		case http.StatusAccepted, http.StatusServiceUnavailable, http.StatusUnprocessableEntity, // an op, a retry, a refused patch
			http.StatusOK, http.StatusNoContent, http.StatusNotFound: // Prefer: wait
		default:
			row.otherErrs += n
		}
	}
	d.mu.Unlock()
	t.Logf("%s: %s; every post as its model %s after the last op", name, d, out.took.Round(time.Millisecond))
	if limit := produceTimeout + 3*time.Second; row.maxLatency > limit {
		t.Errorf("%s: slowest answer %s, over the produce timeout %s + margin", name, row.maxLatency, produceTimeout)
	}
	if row.otherErrs > 0 {
		t.Errorf("%s: %d answers outside the contract (no answer, or a status an op may not get): %v", name, row.otherErrs, d.status)
	}
	if row.accepted < int64(s.ids)*10 {
		t.Errorf("%s: only %d ops accepted on %d posts", name, row.accepted, s.ids)
	}
	return row
}
