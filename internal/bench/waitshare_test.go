package bench

import (
	"html"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// withAPI is a scenario whose API spent us µs per post over the run and
// rounds[i] in round i+1.
func withAPI(name string, us float64, rounds ...float64) ScenarioResult {
	s := ScenarioResult{Name: name, CPUUsPerPost: map[string]float64{"api": us, "broker": 99, "bench": 7}}
	for i, r := range rounds {
		s.Rounds = append(s.Rounds, RoundResult{Round: i + 1, CPUUsPerPost: map[string]float64{"api": r, "broker": 1}})
	}
	return s
}

func TestWaitShare(t *testing.T) {
	interrupted := withAPI("kafka", 50)
	interrupted.Interrupted = true
	noAPI := ScenarioResult{Name: "fire-and-forget", CPUUsPerPost: map[string]float64{"broker": 3}}
	tests := []struct {
		name string
		scs  []ScenarioResult
		want *WaitShare
	}{
		{
			name: "the three, one round",
			scs:  []ScenarioResult{withAPI("noop", 20), withAPI("fire-and-forget", 30), withAPI("kafka", 50), withAPI("orders", 80)},
			want: &WaitShare{Basis: "api", NoopUs: 20, FireAndForgetUs: 30, KafkaUs: 50, ProduceUs: 10, WaitUs: 20, KafkaOverNoopUs: 30, Share: 0.4},
		},
		{
			name: "in rounds: the share in each",
			scs: []ScenarioResult{withAPI("noop", 20, 19, 21), withAPI("fire-and-forget", 30, 30, 30),
				withAPI("kafka", 50, 40, 60)},
			want: &WaitShare{Basis: "api", NoopUs: 20, FireAndForgetUs: 30, KafkaUs: 50, ProduceUs: 10, WaitUs: 20, KafkaOverNoopUs: 30, Share: 0.4,
				Rounds: []float64{0.25, 0.5}},
		},
		{
			name: "rounds that do not match are left out",
			scs:  []ScenarioResult{withAPI("noop", 20, 19, 21), withAPI("fire-and-forget", 30, 30), withAPI("kafka", 50, 40, 60)},
			want: &WaitShare{Basis: "api", NoopUs: 20, FireAndForgetUs: 30, KafkaUs: 50, ProduceUs: 10, WaitUs: 20, KafkaOverNoopUs: 30, Share: 0.4},
		},
		{
			name: "the drift larger than the wait: negative, as measured",
			scs:  []ScenarioResult{withAPI("noop", 20), withAPI("fire-and-forget", 45.5), withAPI("kafka", 44)},
			want: &WaitShare{Basis: "api", NoopUs: 20, FireAndForgetUs: 45.5, KafkaUs: 44, ProduceUs: 25.5, WaitUs: -1.5, KafkaOverNoopUs: 24, Share: -0.034},
		},
		{name: "no noop", scs: []ScenarioResult{withAPI("fire-and-forget", 30), withAPI("kafka", 50)}},
		{name: "no fire-and-forget", scs: []ScenarioResult{withAPI("noop", 20), withAPI("kafka", 50)}},
		{name: "kafka interrupted", scs: []ScenarioResult{withAPI("noop", 20), withAPI("fire-and-forget", 30), interrupted}},
		{name: "the API not measured", scs: []ScenarioResult{withAPI("noop", 20), noAPI, withAPI("kafka", 50)}},
		{name: "kafka took no CPU", scs: []ScenarioResult{withAPI("noop", 0), withAPI("fire-and-forget", 0), withAPI("kafka", 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := waitShare(tt.scs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("waitShare = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestReportShowsTheWaitShare: the split and the share, with the share by
// round, in report.md, report.html and results.json alike; nothing of it
// where the three did not all run.
func TestReportShowsTheWaitShare(t *testing.T) {
	res := sampleResults(t, false)
	res.Run.Processes = map[string][]int{"api": {10}, "bench": {30}}
	res.Scenarios = []ScenarioResult{withAPI("noop", 20, 19, 21), withAPI("fire-and-forget", 30, 30, 30), withAPI("kafka", 50, 40, 60)}
	for i := range res.Scenarios {
		res.Scenarios[i].CPUSeconds = map[string]float64{"api": 1}
	}
	res.WaitShare = waitShare(res.Scenarios)
	if err := write(res); err != nil {
		t.Fatal(err)
	}
	want := "The API's CPU per post (µs): noop 20.0; produce (fire-and-forget − noop) +10.0; wait for the ack (kafka − fire-and-forget) +20.0; kafka − noop +30.0; kafka 50.0. The wait's share of kafka's API CPU: 40 % (by round 25 %, 50 %)."
	for _, file := range []string{markdownFor, htmlFile} {
		b, err := os.ReadFile(filepath.Join(res.Dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(html.UnescapeString(string(b)), want) {
			t.Errorf("%s lacks %q", file, want)
		}
	}
	m := readResultsJSON(t, res.Dir)
	w := requireKeys(t, "wait_share", m["wait_share"], "basis", "noop_us", "fire_and_forget_us", "kafka_us", "produce_us", "wait_us", "kafka_minus_noop_us", "share", "rounds")
	if w["share"] != 0.4 || w["wait_us"] != 20.0 {
		t.Errorf("wait_share = %v", w)
	}

	res.Scenarios = res.Scenarios[1:]
	res.WaitShare = waitShare(res.Scenarios)
	if res.WaitShare != nil || strings.Contains(Markdown(res), "wait's share") {
		t.Errorf("without noop: %+v, report:\n%s", res.WaitShare, Markdown(res))
	}
	if err := write(res); err != nil {
		t.Fatal(err)
	}
	if _, ok := readResultsJSON(t, res.Dir)["wait_share"]; ok {
		t.Error("results.json has a wait_share without noop")
	}
}

func TestSigned(t *testing.T) {
	for x, want := range map[float64]string{12.34: "+12.3", -4: "−4.0", 0: "+0.0", 250: "+250", -250: "−250"} {
		if got := signed(x); got != want {
			t.Errorf("signed(%v) = %q, want %q", x, got, want)
		}
	}
}
