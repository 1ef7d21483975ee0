package bench

import (
	"bytes"
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// run is a scenario of a synthetic run: its req/s, the API's µs per post
// and its latencies.
type run struct {
	rps, apiUs, p50, p99 float64
}

// writeRun writes a synthetic results directory (results.json and the
// reports, as 'postpipe bench' does) of the scenarios given, closed model
// with conns virtual users.
func writeRun(t *testing.T, dir string, conns int, affinity map[string]string, gomaxprocs string, scs map[string]run) *Results {
	t.Helper()
	res := sampleResults(t, false)
	res.Dir = dir
	res.Run.Stages = "0s:" + itoa(conns) + ",5s:" + itoa(conns)
	res.Run.CPUAffinity, res.Run.ServerGOMAXPROCS = affinity, gomaxprocs
	res.Scenarios = nil
	for _, name := range []string{"noop", "fire-and-forget", "kafka", "orders"} {
		r, ok := scs[name]
		if !ok {
			continue
		}
		res.Scenarios = append(res.Scenarios, ScenarioResult{Name: name, Requests: int64(r.rps * 10), RPS: r.rps, PostsPerS: r.rps, P50: r.p50, P99: r.p99,
			CPUSeconds: map[string]float64{"api": r.apiUs * r.rps * 10 / 1e6}, CPUUsPerPost: map[string]float64{"api": r.apiUs, "broker": 20, "bench": 15},
			Series: []Point{{T: 1, Seconds: 1, RPS: r.rps, VUs: int64(conns)}}})
	}
	res.Ratios, res.CPURatios, res.WaitShare = ratios(res.Scenarios), cpuRatios(res.Scenarios), waitShare(res.Scenarios)
	if err := write(res); err != nil {
		t.Fatal(err)
	}
	return res
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestSummarize: the scaling runs and the connection runs under a main
// run's directory are summed up in their own files and added to the main
// run's reports, the rest of whose results.json is left as it was.
func TestSummarize(t *testing.T) {
	dir := t.TempDir()
	all := map[string]string{"api": "0-3", "broker": "0-3", "bench": "0-3"}
	writeRun(t, dir, 100, all, "", map[string]run{
		"noop": {40000, 20, 1, 3}, "fire-and-forget": {20000, 30, 3, 9}, "kafka": {12000, 50, 8, 20}, "orders": {11000, 55, 9, 21}})
	writeRun(t, filepath.Join(dir, "scaling", "api-3cores"), 100, map[string]string{"api": "0-2", "broker": "3", "bench": "3"}, "3", map[string]run{
		"noop": {36000, 21, 1, 3}, "fire-and-forget": {18000, 31, 3, 9}, "kafka": {9000, 52, 8, 20}})
	writeRun(t, filepath.Join(dir, "scaling", "api-1cores"), 100, map[string]string{"api": "0", "broker": "1-3", "bench": "1-3"}, "1", map[string]run{
		"noop": {15000, 18, 1, 3}, "fire-and-forget": {9000, 28, 3, 9}, "kafka": {6000, 40, 8, 20}})
	writeRun(t, filepath.Join(dir, "conns", "kafka-400"), 400, all, "", map[string]run{"kafka": {19500, 45, 18, 40}})
	writeRun(t, filepath.Join(dir, "conns", "kafka-200"), 200, all, "", map[string]run{"kafka": {16000, 47, 12, 30}})
	before, err := os.ReadFile(filepath.Join(dir, resultsFile))
	if err != nil {
		t.Fatal(err)
	}

	sum, err := Summarize(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Notes) != 0 {
		t.Errorf("notes %q", sum.Notes)
	}
	var scaling ScalingSummary
	readJSON(t, filepath.Join(dir, "scaling", "scaling.json"), &scaling)
	if !reflect.DeepEqual(&scaling, sum.Scaling) {
		t.Errorf("scaling.json %+v, Summarize returned %+v", scaling, sum.Scaling)
	}
	type key struct {
		cores          int
		pinned         bool
		gmp, api, dir  string
		kafka, perCore float64
		overFF         float64
		apiUs          [3]float64
		share          float64
	}
	var got []key
	for _, r := range scaling.Rows {
		k := key{r.APICores, r.Pinned, r.GOMAXPROCS, r.APICPUs, r.Dir, r.KafkaRPS, r.KafkaRPSPerAPICore, r.KafkaOverFireAndForget,
			[3]float64{r.NoopAPIUs, r.FireAndForgetAPIUs, r.KafkaAPIUs}, -1}
		if r.WaitShare != nil {
			k.share = r.WaitShare.Share
		}
		got = append(got, k)
	}
	want := []key{
		{1, true, "1", "0", filepath.Join("scaling", "api-1cores"), 6000, 6000, 0.667, [3]float64{18, 28, 40}, 0.3},
		{3, true, "3", "0-2", filepath.Join("scaling", "api-3cores"), 9000, 3000, 0.5, [3]float64{21, 31, 52}, 0.404},
		{4, false, "", "0-3", ".", 12000, 3000, 0.6, [3]float64{20, 30, 50}, 0.4},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scaling rows\n got %+v\nwant %+v", got, want)
	}

	var conns ConnsSummary
	readJSON(t, filepath.Join(dir, "conns", "conns.json"), &conns)
	if !reflect.DeepEqual(&conns, sum.Connections) {
		t.Errorf("conns.json %+v, Summarize returned %+v", conns, sum.Connections)
	}
	wantConns := ConnsSummary{FireAndForgetRPS: 20000, FireAndForgetConns: 100, Threshold: 0.95, Needed: 400, NeededText: "400",
		Rows: []ConnsRow{
			{Dir: ".", Connections: 100, KafkaRPS: 12000, P50: 8, P99: 20, OverFireAndForget: 0.6},
			{Dir: filepath.Join("conns", "kafka-200"), Connections: 200, KafkaRPS: 16000, P50: 12, P99: 30, OverFireAndForget: 0.8},
			{Dir: filepath.Join("conns", "kafka-400"), Connections: 400, KafkaRPS: 19500, P50: 18, P99: 40, OverFireAndForget: 0.975, Reached: true},
		}}
	if !reflect.DeepEqual(conns, wantConns) {
		t.Errorf("conns\n got %+v\nwant %+v", conns, wantConns)
	}

	scalingRow1 := "| 1 | 0 | 1 | 15000 | 9000 | 6000 | 0.67 | 18.0 | 28.0 | 40.0 | 30 % | 6000 | " + filepath.Join("scaling", "api-1cores") + " |"
	mainRow := "| 4 (not pinned) | 0-3 | default | 40000 | 20000 | 12000 | 0.60 | 20.0 | 30.0 | 50.0 | 40 % | 3000 | . |"
	connsRow := "| 400 | 19500 | 18.0 | 40.0 | 0.97 | " + filepath.Join("conns", "kafka-400") + " |"
	needed := "fire-and-forget in the main run: 20000 req/s with 100 connections. Connections kafka needs to reach 95 % of that: **400**."
	for file, wants := range map[string][]string{
		filepath.Join("scaling", "scaling.md"): {"### Scaling: the API on k cores", scalingRow1, mainRow},
		filepath.Join("conns", "conns.md"):     {"### Connections: kafka with more closed-loop clients", connsRow, needed},
		markdownFor:                            {"### Scaling", scalingRow1, mainRow, "### Connections", connsRow, needed, "The wait's share of kafka's API CPU: 40 %"},
	} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range wants {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s lacks %q:\n%s", file, w, b)
			}
		}
	}
	if md := sum.Markdown(); !strings.Contains(md, scalingRow1) || !strings.Contains(md, needed) {
		t.Errorf("Summary.Markdown:\n%s", md)
	}
	page, err := os.ReadFile(filepath.Join(dir, htmlFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"<h2>Scaling: the API on k cores</h2>", "<td>4 (not pinned)</td><td>0-3</td><td>default</td>", "<h2>Connections: kafka with more closed-loop clients</h2>",
		"<td>400</td><td>19500</td>", "reach 95 % of that: <strong>400</strong>."} {
		if !strings.Contains(html.UnescapeString(string(page)), w) {
			t.Errorf("report.html lacks %q", w)
		}
	}

	// The main run's results.json: the two summaries added, the rest as
	// the bench wrote it.
	after, err := os.ReadFile(filepath.Join(dir, resultsFile))
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]json.RawMessage
	if err := json.Unmarshal(before, &b); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(after, &a); err != nil {
		t.Fatal(err)
	}
	if a["scaling"] == nil || a["connections"] == nil {
		t.Error("results.json lacks scaling or connections")
	}
	delete(a, "scaling")
	delete(a, "connections")
	for k := range b {
		if !bytes.Equal(compact(t, a[k]), compact(t, b[k])) {
			t.Errorf("results.json's %s changed:\n%s\n%s", k, b[k], a[k])
		}
	}
	if len(a) != len(b) {
		t.Errorf("results.json has %d keys besides the summaries, had %d", len(a), len(b))
	}

	// Again: the same files, the summaries replaced, not added twice.
	if _, err := Summarize(dir); err != nil {
		t.Fatal(err)
	}
	again, err := os.ReadFile(filepath.Join(dir, resultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, after) {
		t.Error("a second --summarize changed results.json")
	}
	md, _ := os.ReadFile(filepath.Join(dir, markdownFor))
	if strings.Count(string(md), "### Scaling") != 1 {
		t.Errorf("report.md after a second --summarize:\n%s", md)
	}
}

func compact(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if len(b) == 0 {
		return nil
	}
	if err := json.Compact(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestConnectionsNeeded(t *testing.T) {
	kafkaAt := func(conns int, rps float64) *Results {
		return &Results{Dir: "conns/kafka-" + itoa(conns), Run: RunInfo{Model: Closed, Stages: "0s:" + itoa(conns) + ",5s:" + itoa(conns)},
			Scenarios: []ScenarioResult{{Name: "kafka", RPS: rps}}}
	}
	mainRun := func(ff, kafka float64) *Results {
		m := &Results{Run: RunInfo{Model: Closed, Stages: "0s:100,5s:100"}}
		if ff > 0 {
			m.Scenarios = append(m.Scenarios, ScenarioResult{Name: "fire-and-forget", RPS: ff})
		}
		m.Scenarios = append(m.Scenarios, ScenarioResult{Name: "kafka", RPS: kafka})
		return m
	}
	tests := []struct {
		name       string
		main       *Results
		runs       []*Results
		needed     int
		neededText string
		rows       int
	}{
		{"the first count that reaches it", mainRun(1000, 600), []*Results{kafkaAt(400, 990), kafkaAt(200, 960)}, 200, "200", 3},
		{"exactly 95 %", mainRun(1000, 600), []*Results{kafkaAt(200, 950)}, 200, "200", 2},
		{"none reaches it", mainRun(1000, 600), []*Results{kafkaAt(200, 800), kafkaAt(400, 949)}, 0, "more than 400", 3},
		{"the main run's connections are enough", mainRun(1000, 980), []*Results{kafkaAt(200, 990)}, 100, "100", 2},
		{"no fire-and-forget in the main run", mainRun(0, 600), []*Results{kafkaAt(200, 990)}, 0, "unknown: fire-and-forget did not run in the main run", 2},
		{"no main run", nil, []*Results{kafkaAt(200, 990)}, 0, "unknown: fire-and-forget did not run in the main run", 1},
		{"a run without kafka", mainRun(1000, 600), []*Results{{Run: RunInfo{Model: Closed, Stages: "0s:200"}}}, 0, "more than 100", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := summarizeConns(tt.main, tt.runs)
			if s.Needed != tt.needed || s.NeededText != tt.neededText || len(s.Rows) != tt.rows {
				t.Errorf("needed %d %q, %d rows; want %d %q, %d rows (%+v)", s.Needed, s.NeededText, len(s.Rows), tt.needed, tt.neededText, tt.rows, s)
			}
			for i := 1; i < len(s.Rows); i++ {
				if s.Rows[i].Connections < s.Rows[i-1].Connections {
					t.Errorf("rows not by connections: %+v", s.Rows)
				}
			}
		})
	}
}

// TestSummarizeWithoutAMainRun: the scaling summary is still written, with
// no reference row, and a note says so; no run at all is an error.
func TestSummarizeWithoutAMainRun(t *testing.T) {
	dir := t.TempDir()
	if _, err := Summarize(dir); err == nil || !strings.Contains(err.Error(), "no runs to summarise") {
		t.Errorf("empty directory: %v", err)
	}
	writeRun(t, filepath.Join(dir, "scaling", "api-1cores"), 100, map[string]string{"api": "0", "broker": "1"}, "1", map[string]run{
		"noop": {15000, 18, 1, 3}, "fire-and-forget": {9000, 28, 3, 9}, "kafka": {6000, 40, 8, 20}})
	sum, err := Summarize(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Notes) != 1 || !strings.Contains(sum.Notes[0], "no main run") || sum.Connections != nil || len(sum.Scaling.Rows) != 1 {
		t.Errorf("summary %+v", sum)
	}
	if _, err := os.Stat(filepath.Join(dir, "scaling", "scaling.md")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(dir, resultsFile)); err == nil {
		t.Error("a main results.json written where there was none")
	}
}

// TestSummaryCellsOfARunCutShort: a scenario missing from a scaling run
// shows as "–", never as 0 or a division by zero.
func TestSummaryCellsOfARunCutShort(t *testing.T) {
	s := summarizeScaling(nil, []*Results{{Dir: "scaling/api-1cores", Run: RunInfo{CPUAffinity: map[string]string{"api": "0"}},
		Scenarios: []ScenarioResult{{Name: "noop", RPS: 1000, CPUUsPerPost: map[string]float64{"api": 10}}}}})
	rows := scalingRows(s)
	want := []string{"1", "0", "default", "1000", "–", "–", "–", "10.0", "–", "–", "–", "–", "scaling/api-1cores"}
	if len(rows) != 1 || !reflect.DeepEqual(rows[0], want) {
		t.Errorf("rows %q, want %q", rows, want)
	}
}
