package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// sampleResults is a run of two scenarios, one of them verified.
func sampleResults(t *testing.T, verified bool) *Results {
	t.Helper()
	busy := 3.5
	res := &Results{
		Machine: Machine{CPUs: 2, CPUModel: "Test CPU", Go: "go1.26", OS: "linux", Arch: "amd64",
			Kafka: "kfake (embedded)", Store: "FerretDB 1.24 on SQLite", BackgroundCPUPercent: &busy},
		Run: RunInfo{ID: "R1", Command: "postpipe bench --target http://127.0.0.1:8080", Target: "http://127.0.0.1:8080",
			Model: Closed, Stages: "1s:5", LoadFrom: "--stages", ContentBytes: 300, BatchSize: 100,
			StartedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), FinishedAt: time.Date(2025, 1, 2, 3, 5, 5, 0, time.UTC)},
		Notes: []string{"a <note> & more"},
		Dir:   t.TempDir(),
	}
	for i, name := range []string{"noop", "kafka"} {
		sr := ScenarioResult{Name: name, Path: "/p", Requests: 100, RPS: 50, P50: 1, P90: 2, P99: 3, P999: 4, Max: 5, PostsPerS: 50,
			ErrorsByStatus: map[string]int64{}, Series: []Point{{T: 1, Seconds: 1, Requests: 50, RPS: 50, P50: 1, P99: 3, VUs: 5, Stage: 1}, {T: 2, Seconds: 1, Requests: 50, RPS: 50 + float64(i), P50: 1, P99: 2, VUs: 5, Stage: 1}}}
		if verified && name == "kafka" {
			sr.ServerRSSMaxMB = 41.6
			sr.Verification = &Verification{Accepted: 100, Landed: 99, Lost: 1, LagP50: 10, LagP99: 20, LagMax: 30,
				Unacknowledged: 3, UnacknowledgedLanded: 1, lags: newLags()}
			res.Verification = combine([]*Verification{sr.Verification})
		}
		res.Scenarios = append(res.Scenarios, sr)
	}
	return res
}

func readResultsJSON(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, resultsFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	return m
}

func requireKeys(t *testing.T, what string, v any, keys ...string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is %T, want an object", what, v)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s has no %q (has %v)", what, k, mapKeys(m))
		}
	}
	return m
}

func mapKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestResultsJSONFieldNames pins the names other tools read.
func TestResultsJSONFieldNames(t *testing.T) {
	for _, verified := range []bool{true, false} {
		t.Run(map[bool]string{true: "verified", false: "not verified"}[verified], func(t *testing.T) {
			res := sampleResults(t, verified)
			if err := write(res); err != nil {
				t.Fatal(err)
			}
			m := readResultsJSON(t, res.Dir)
			requireKeys(t, "results.json", m, "machine", "scenarios", "verification")
			requireKeys(t, "machine", m["machine"], "cpus", "go", "kafka", "store", "cpu_model", "background_cpu_percent", "kernel")
			scs, ok := m["scenarios"].([]any)
			if !ok || len(scs) != 2 {
				t.Fatalf("scenarios = %v", m["scenarios"])
			}
			for _, sc := range scs {
				requireKeys(t, "scenario", sc, "name", "requests", "rps", "errors", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "posts_per_s", "errors_by_status", "series")
			}
			verificationKeys := []string{"accepted", "landed", "lost", "duplicated", "lag_p50_ms", "lag_p99_ms", "lag_max_ms"}
			if !verified {
				if v, ok := m["verification"]; !ok || v != nil {
					t.Errorf("verification = %v, want null", v)
				}
				return
			}
			v := requireKeys(t, "verification", m["verification"], verificationKeys...)
			if v["lost"] != 1.0 || v["landed"] != 99.0 {
				t.Errorf("verification = %v", v)
			}
			requireKeys(t, "kafka's verification", scs[1].(map[string]any)["verification"], verificationKeys...)
		})
	}
}

// TestHTMLIsSelfContained: the page loads nothing from anywhere.
func TestHTMLIsSelfContained(t *testing.T) {
	res := sampleResults(t, true)
	page, err := renderHTML(res)
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	external := regexp.MustCompile(`(?i)(\b(src|href|xlink:href|action)\s*=)|url\(|@import|<script|<link|<iframe`)
	if loc := external.FindStringIndex(html); loc != nil {
		t.Errorf("report.html refers to something outside itself: %q", html[max(0, loc[0]-40):min(len(html), loc[1]+60)])
	}
	for _, want := range []string{"<svg", "polyline", "noop", "kafka", "FerretDB 1.24 on SQLite", "kfake (embedded)", "Test CPU",
		"requests per second", "kafka: latency per second", "virtual users over time", "a &lt;note&gt; &amp; more", "postpipe bench --target"} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if strings.Contains(html, "MongoDB") {
		t.Errorf("report.html says MongoDB, but the store is %q", res.Machine.Store)
	}
}

func TestMarkdownSummary(t *testing.T) {
	md := Markdown(sampleResults(t, true))
	for _, want := range []string{
		"| scenario | requests | req/s | posts/s | errors | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |",
		"| kafka | 100 | 50.0 | 50.0 | 0 | 1.00 | 2.00 | 3.00 | 4.00 | 5.00 |",
		"| kafka | 100 | 99 | 1 | 0 | 10.0 | 20.0 | 30.0 |",
		"broker: kfake (embedded)", "store: FerretDB 1.24 on SQLite",
		"kafka: 3 posts were answered 503", "1 of them landed",
		"peak per scenario: kafka 42 MB",
		"```sh\npostpipe bench --target http://127.0.0.1:8080\n```",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
}

func TestCommandLineMasksCredentials(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--profile", "quick"}, "postpipe bench --profile quick"},
		{[]string{"--mongodb-uri", "mongodb://u:secret@h:27017/"}, "postpipe bench --mongodb-uri mongodb://u:xxxxx@h:27017/"},
		{[]string{"--mongodb-uri=mongodb://u:secret@h/"}, "postpipe bench --mongodb-uri=mongodb://u:xxxxx@h/"},
		{[]string{"--kafka-label", "Apache Kafka 4.x (1 broker)"}, "postpipe bench --kafka-label 'Apache Kafka 4.x (1 broker)'"},
		{[]string{"--store-label", "it's"}, `postpipe bench --store-label 'it'\''s'`},
	}
	for _, tt := range tests {
		if got := commandLine(tt.args); got != tt.want {
			t.Errorf("commandLine(%q) = %s, want %s", tt.args, got, tt.want)
		}
	}
}

func TestNiceAxis(t *testing.T) {
	tests := []struct{ max, step, top float64 }{
		{0, 1, 1},
		{1, 0.2, 1},
		{7, 2, 8},
		{12345, 5000, 15000},
		{99, 20, 100},
		{100, 20, 100},
		{0.003, 0.001, 0.003},
	}
	for _, tt := range tests {
		step, top := niceAxis(tt.max)
		if diff := func(a, b float64) float64 { return (a - b) / b }; diff(step, tt.step) > 1e-9 || diff(step, tt.step) < -1e-9 ||
			diff(top, tt.top) > 1e-9 || diff(top, tt.top) < -1e-9 {
			t.Errorf("niceAxis(%v) = %v, %v; want %v, %v", tt.max, step, top, tt.step, tt.top)
		}
	}
}

// TestReportShowsThePriceOfThePromise: the ratios, the CPU per post of
// each process, the reads by kind with the store named as it is, and the
// warm-up, in report.md and report.html alike.
func TestReportShowsThePriceOfThePromise(t *testing.T) {
	res := sampleResults(t, true)
	res.Run.WarmupS = 5
	res.Run.Processes = map[string][]int{"api": {10}, "broker": {20}, "bench": {30}}
	for i := range res.Scenarios {
		s := &res.Scenarios[i]
		s.CPUSeconds = map[string]float64{"api": 1, "broker": 0.5, "bench": 0.25}
		s.CPUUsPerPost = map[string]float64{"api": 40, "broker": 10 * float64(i), "bench": 5}
	}
	res.Scenarios = append(res.Scenarios, ScenarioResult{Name: "read", Requests: 10, StoreDocs: 1234,
		CPUSeconds: map[string]float64{"api": 1}, CPUUsPerRequest: map[string]float64{"api": 300},
		Ops: map[string]OpResult{opGet: {Requests: 8, P50: 2}, opList: {Requests: 2, P50: 70}}})
	res.Ratios = ratios([]ScenarioResult{{Name: "noop", PostsPerS: 200}, {Name: "fire-and-forget", PostsPerS: 150}, {Name: "kafka", PostsPerS: 120}})
	if err := write(res); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(res.Dir, markdownFor))
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(res.Dir, htmlFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"kafka ÷ fire-and-forget = 0.80", "kafka ÷ noop = 0.60", "fire-and-forget ÷ noop = 0.75",
		"| scenario | api | broker | bench | api + broker | all |",
		"| kafka | 40.0 | 10.0 | 5.0 | 50.0 | 55.0 |",
		"| read /req | 300 | 0.0 | 0.0 | 300 | 300 |",
		"| read | get by id | 8 |", "| read | list by author | 2 |",
		"served by FerretDB 1.24 on SQLite", "1234 documents", "_jsonb-&gt;$1 @&gt; $2", "warm-up: 5s before each scenario",
	} {
		doc := string(md)
		if strings.Contains(want, "&gt;") {
			doc = string(page)
		}
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q:\n%s", want, doc)
		}
	}
	for _, want := range []string{"kafka ÷ fire-and-forget = 0.80", "<th>api &#43; broker</th>", "list by author", "warm-up: 5s"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	m := readResultsJSON(t, res.Dir)
	scs := m["scenarios"].([]any)
	requireKeys(t, "scenario kafka", scs[1], "cpu_us_per_post", "cpu_s", "warmup_s")
	requireKeys(t, "results.json", m, "ratios")
}

func TestReportOfATopicCheck(t *testing.T) {
	res := sampleResults(t, true)
	res.Run.Verify = "topic"
	res.Scenarios[1].Verification.Where = "topic"
	md := Markdown(res)
	for _, want := range []string{"Topic check (no sink ran)", "| kafka | 100 | 99 | 1 | 0 | – | – | – |", "no record with its id on the topic"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
}

// TestReportShowsTheRounds: a run in rounds says so, and each ratio shows
// its value in every round beside the whole run's.
func TestReportShowsTheRounds(t *testing.T) {
	res := sampleResults(t, true)
	res.Run.Rounds = 2
	in := func(name string, total float64, rounds ...float64) ScenarioResult {
		s := ScenarioResult{Name: name, PostsPerS: total}
		for i, r := range rounds {
			s.Rounds = append(s.Rounds, RoundResult{Round: i + 1, PostsPerS: r})
		}
		return s
	}
	res.Scenarios = []ScenarioResult{in("noop", 200, 180, 220), in("kafka", 160, 150, 170), in("batch", 1000, 900, 1100)}
	res.Ratios = ratios(res.Scenarios)
	if len(res.Ratios) != 1 || res.Ratios[0].Value != 0.8 || !slices.Equal(res.Ratios[0].Rounds, []float64{0.833, 0.773}) {
		t.Fatalf("ratios %+v, want kafka ÷ noop 0.8 by round 0.833, 0.773", res.Ratios)
	}
	if err := write(res); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{markdownFor, htmlFile} {
		b, err := os.ReadFile(filepath.Join(res.Dir, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"kafka ÷ noop = 0.80", "(by round 0.83, 0.77)", "rounds: 2, each running the stages once", "noop, kafka took turns", "batch then ran its rounds one after another"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s lacks %q", file, want)
			}
		}
	}
	res.Run.Rounds = 1
	if line := roundsLine(res); line != "" {
		t.Errorf("one round: %q, want no line", line)
	}
}

// TestReportShowsThePinning: a pinned run (deploy/bench.sh's scaling runs)
// says which CPUs each process had, and the server's GOMAXPROCS; a run of
// processes alike on every CPU says nothing of it.
func TestReportShowsThePinning(t *testing.T) {
	res := sampleResults(t, false)
	res.Run.CPUAffinity = map[string]string{"bench": "1", "api": "0", "broker": "1"}
	res.Run.ServerGOMAXPROCS = "1"
	want := "CPU affinity when the run began (Cpus_allowed_list): api 0, broker 1, bench 1; the server's GOMAXPROCS=1; the CPU count above is the bench client's"
	if md := Markdown(res); !strings.Contains(md, want) {
		t.Errorf("report.md lacks %q:\n%s", want, md)
	}
	res.Run.CPUAffinity = map[string]string{"bench": "0-1", "api": "0-1"}
	res.Run.ServerGOMAXPROCS = ""
	if md := Markdown(res); strings.Contains(md, "CPU affinity") {
		t.Errorf("unpinned, report.md says:\n%s", md)
	}
}

// TestReportShowsTheProducer: the producer's figures of each scenario are
// a table in report.md and report.html and an object in results.json, the
// ratios left out where nothing was produced; a run whose API served no
// /metrics shows none of it.
func TestReportShowsTheProducer(t *testing.T) {
	res := sampleResults(t, false)
	res.Scenarios[0].Producer = &ProducerFigures{} // noop: nothing produced
	per := 35.25
	res.Scenarios[1].Producer = &ProducerFigures{Requests: 500, RequestsPerSecond: 250, Records: 17625, Batches: 1000, RecordsPerRequest: &per, RecordsPerBatch: ptr(17.625)}
	if err := write(res); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(res.Dir, markdownFor))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Producer batching: The API's producer over each measured window, from its /metrics",
		"| scenario | produce requests | produce req/s | records / request | records / batch |",
		"| noop | 0 | 0.0 | – | – |",
		"| kafka | 500 | 250 | 35.2 | 17.6 |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	page, err := os.ReadFile(filepath.Join(res.Dir, htmlFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<h2>Producer batching</h2>", "<th>records / request</th>",
		"<tr><td>kafka</td><td>500</td><td>250</td><td>35.2</td><td>17.6</td></tr>", "<tr><td>noop</td><td>0</td><td>0.0</td><td>–</td><td>–</td></tr>"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	scs := readResultsJSON(t, res.Dir)["scenarios"].([]any)
	p := requireKeys(t, "kafka's producer", scs[1].(map[string]any)["producer"], "requests", "requests_per_second", "records_per_request", "records_per_batch", "records", "batches")
	if p["records_per_request"] != 35.25 || p["records_per_batch"] != 17.625 || p["requests"] != 500.0 || p["requests_per_second"] != 250.0 {
		t.Errorf("kafka's producer = %v", p)
	}
	noop := requireKeys(t, "noop's producer", scs[0].(map[string]any)["producer"], "requests", "requests_per_second")
	if _, ok := noop["records_per_request"]; ok {
		t.Errorf("noop's producer = %v: a ratio of nothing", noop)
	}

	none := sampleResults(t, false)
	if err := write(none); err != nil {
		t.Fatal(err)
	}
	md, _ = os.ReadFile(filepath.Join(none.Dir, markdownFor))
	page, _ = os.ReadFile(filepath.Join(none.Dir, htmlFile))
	if strings.Contains(string(md), "Producer batching") || strings.Contains(string(page), "Producer batching") {
		t.Error("without the producer's figures, the report still has their table")
	}
	for _, sc := range readResultsJSON(t, none.Dir)["scenarios"].([]any) {
		if _, ok := sc.(map[string]any)["producer"]; ok {
			t.Errorf("without the producer's figures, results.json has one: %v", sc)
		}
	}
}
