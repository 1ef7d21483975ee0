// Package testkit is the harness postpipe's tests share: an in-memory
// Kafka-protocol cluster, the embedded store, and waiting for a condition.
// Only tests import it; cmd/postpipe/nodev_test.go keeps it out of the
// production binary.
package testkit

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/postpipe/postpipe/internal/devstack"
)

// Kafka starts an in-memory Kafka-protocol cluster (kfake) that the test
// closes when it ends. It has one broker unless opts say otherwise; seed
// topics, SASL and the like come in opts.
func Kafka(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("kfake.NewCluster: %v", err)
	}
	t.Cleanup(c.Close) // registered first, so it runs after the test's clients are closed
	return c
}

// Store starts the embedded MongoDB-protocol store (FerretDB on SQLite) in
// a temporary directory on a free loopback port and stops it when the test
// ends.
func Store(t testing.TB) *devstack.Mongo {
	t.Helper()
	m, err := devstack.StartMongo(t.TempDir(), "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start the embedded store: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("stop the embedded store: %v", err)
		}
	})
	return m
}

// pollEvery is how often Eventually checks: often enough that a test does
// not wait long after the condition holds, seldom enough not to load the
// machine it waits for.
const pollEvery = 10 * time.Millisecond

// Eventually calls cond until it returns true and fails the test when that
// has not happened within the given time. within is a guard against a hang,
// not a timing assertion: give it a generous value.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(pollEvery)
	}
}

// Listening waits until every addr accepts a TCP connection, failing the
// test when one does not within the given time (a guard, as in Eventually).
func Listening(t testing.TB, within time.Duration, addrs ...string) {
	t.Helper()
	for _, addr := range addrs {
		Eventually(t, within, "a listener on "+addr, func() bool {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	}
}
