package main

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// Suites that need something 'make test' does not have (real Kafka, the
// standalone store, a browser) are chosen by POSTPIPE_TEST_SUITE, which the
// scripts that start those set:
//
//	POSTPIPE_TEST_SUITE=kafka          deploy/test-kafka.sh, single-node Apache Kafka
//	POSTPIPE_TEST_SUITE=kafka-cluster  deploy/test-kafka.sh, the 3-node cluster
//	POSTPIPE_TEST_SUITE=chaos          deploy/test-chaos.sh
//	POSTPIPE_TEST_SUITE=scale          deploy/scale-out.sh
//	POSTPIPE_TEST_SUITE=ui             make test-ui
//
// The members are listed as functions, not names, so renaming a test
// without updating its suite does not compile instead of silently dropping
// it out of CI. Without the variable every test runs, and the suite members
// skip when their servers are not configured; with it only the suite runs,
// and a member that would skip fails instead (see skipOutside).
var suites = map[string][]func(*testing.T){
	"kafka": {
		TestSinkStoppedRestartedAndRebalanced,
		TestIdempotencyKeyMakesOneDocument,
		TestPoisonRecordsGoToTheDLQ,
		TestSinkKilledWithSIGKILL,
		TestStreamsEndToEnd,
		TestChangesSurviveSinkKills,
	},
	"kafka-cluster": {TestClusterLosesABroker, TestChangesSurviveABrokerKill},
	"chaos":         {TestChaos},
	"scale":         {TestScaleOut},
	"ui":            {TestDashboardInBrowser},
}

// suite is the POSTPIPE_TEST_SUITE this test binary runs ("" for all).
var suite = os.Getenv("POSTPIPE_TEST_SUITE")

func TestMain(m *testing.M) {
	flag.Parse()
	if suite != "" {
		pattern, err := suitePattern(suite)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if err := flag.Set("test.run", pattern); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	code := m.Run()
	if testBin.dir != "" {
		os.RemoveAll(testBin.dir)
	}
	os.Exit(code)
}

// suitePattern is the -run pattern that selects exactly the members of name.
func suitePattern(name string) (string, error) {
	tests, ok := suites[name]
	if !ok {
		known := make([]string, 0, len(suites))
		for k := range suites {
			known = append(known, k)
		}
		slices.Sort(known)
		return "", fmt.Errorf("POSTPIPE_TEST_SUITE=%q: no such suite (known: %s)", name, strings.Join(known, ", "))
	}
	names := make([]string, len(tests))
	for i, fn := range tests {
		names[i] = testName(fn)
	}
	return "^(" + strings.Join(names, "|") + ")$", nil
}

// testName is the name 'go test -run' matches for the test function fn.
func testName(fn func(*testing.T)) string {
	full := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	return full[strings.LastIndexByte(full, '.')+1:]
}

// skipOutside skips t unless the suite t belongs to (name) is running, where
// the missing server is a failure: a suite run must not pass by skipping.
func skipOutside(t *testing.T, name, reason string) {
	t.Helper()
	if suite == name {
		t.Fatalf("POSTPIPE_TEST_SUITE=%s but %s", name, reason)
	}
	t.Skip(reason)
}

func TestSuitePattern(t *testing.T) {
	for _, tt := range []struct {
		suite, want string
		wantErr     bool
	}{
		{suite: "kafka-cluster", want: "^(TestClusterLosesABroker|TestChangesSurviveABrokerKill)$"},
		{suite: "kafka", want: "^(TestSinkStoppedRestartedAndRebalanced|TestIdempotencyKeyMakesOneDocument|TestPoisonRecordsGoToTheDLQ|TestSinkKilledWithSIGKILL|TestStreamsEndToEnd|TestChangesSurviveSinkKills)$"},
		{suite: "chaos", want: "^(TestChaos)$"},
		{suite: "nosuch", wantErr: true},
	} {
		t.Run(tt.suite, func(t *testing.T) {
			got, err := suitePattern(tt.suite)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("suitePattern(%q) = %q, %v; want %q (error: %v)", tt.suite, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
