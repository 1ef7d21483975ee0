package testkit

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB whose Fatalf stops the helper (as t.Fatalf does)
// and keeps the message instead of failing the test.
type recorder struct {
	testing.TB
	fatal string
}

type stopped struct{}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	panic(stopped{})
}

// run calls f with a recorder and returns what it failed with ("" if not).
func run(t *testing.T, f func(testing.TB)) string {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if v := recover(); v != nil && v != (stopped{}) {
				panic(v)
			}
		}()
		f(r)
	}()
	return r.fatal
}

func TestEventually(t *testing.T) {
	for _, tt := range []struct {
		name      string
		trueAfter int // calls until cond holds; -1: never
		within    time.Duration
		wantFatal string
	}{
		{name: "at once", trueAfter: 0, within: time.Minute},
		{name: "after a few calls", trueAfter: 3, within: time.Minute},
		{name: "never", trueAfter: -1, within: 50 * time.Millisecond, wantFatal: "waiting for the thing"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			got := run(t, func(tb testing.TB) {
				Eventually(tb, tt.within, "the thing", func() bool {
					calls++
					return tt.trueAfter >= 0 && calls > tt.trueAfter
				})
			})
			if tt.wantFatal == "" && got != "" || tt.wantFatal != "" && !strings.Contains(got, tt.wantFatal) {
				t.Fatalf("failed with %q, want %q", got, tt.wantFatal)
			}
			if tt.trueAfter >= 0 && calls != tt.trueAfter+1 {
				t.Fatalf("cond called %d times, want %d", calls, tt.trueAfter+1)
			}
		})
	}
}

func TestListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	if got := run(t, func(tb testing.TB) { Listening(tb, time.Minute, ln.Addr().String()) }); got != "" {
		t.Errorf("open listener: failed with %q", got)
	}
	if got := run(t, func(tb testing.TB) { Listening(tb, 100*time.Millisecond, ln.Addr().String(), closedAddr) }); !strings.Contains(got, closedAddr) {
		t.Errorf("closed port: failed with %q, want one naming %s", got, closedAddr)
	}
}

func TestKafkaHasOneBrokerByDefault(t *testing.T) {
	if n := len(Kafka(t).ListenAddrs()); n != 1 {
		t.Fatalf("%d brokers, want 1", n)
	}
}
