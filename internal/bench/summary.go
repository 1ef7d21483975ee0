package bench

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The summaries of deploy/bench.sh's extra runs of the ingest profile,
// each a 'postpipe bench' run of its own in a directory under the main
// run's:
//
//   - scaling/api-<k>cores/: noop, fire-and-forget and kafka with the API
//     pinned to k CPUs (GOMAXPROCS=k), the broker and the bench client on
//     the others: how the API's throughput and CPU per post move with its
//     cores;
//   - conns/kafka-<n>/: kafka alone with n closed-loop connections: a
//     closed-loop client's rate is connections ÷ latency, and kafka's
//     latency holds the broker's ack, so at the main run's connections
//     kafka is slower than fire-and-forget even where the CPU is not what
//     limits it.
//
// 'postpipe bench --summarize DIR' (Summarize) reads their results.json
// files, writes scaling/scaling.{md,json} and conns/conns.{md,json}, and
// adds both to the main run's results.json, report.md and report.html.

// Where the extra runs are, under the main run's directory.
const (
	scalingDir  = "scaling"
	connsDir    = "conns"
	scalingName = "scaling"
	connsName   = "conns"
)

// reachShare is how near fire-and-forget's rate kafka must come for a
// count of connections to be "enough": 95 %.
const reachShare = 0.95

// ScalingSummary is the scaling runs, one row per API core count, and the
// main run's last (every process on every CPU).
type ScalingSummary struct {
	Rows []ScalingRow `json:"rows"`
}

// ScalingRow is one run of noop, fire-and-forget and kafka.
type ScalingRow struct {
	Dir string `json:"dir"` // the run's, relative to the main run's
	// Pinned: the API had CPUs of its own; false for the main run.
	Pinned   bool   `json:"pinned"`
	APICores int    `json:"api_cores"`
	APICPUs  string `json:"api_cpus"`              // its Cpus_allowed_list
	Others   string `json:"others_cpus,omitempty"` // the broker's
	// GOMAXPROCS is the API's setting; "": not set (Go's default, the
	// CPUs the process may use).
	GOMAXPROCS string `json:"gomaxprocs"`

	NoopRPS                float64 `json:"noop_rps"`
	FireAndForgetRPS       float64 `json:"fire_and_forget_rps"`
	KafkaRPS               float64 `json:"kafka_rps"`
	KafkaOverFireAndForget float64 `json:"kafka_over_fire_and_forget"`
	// The API's CPU per post (per request for noop), µs.
	NoopAPIUs          float64 `json:"noop_api_us"`
	FireAndForgetAPIUs float64 `json:"fire_and_forget_api_us"`
	KafkaAPIUs         float64 `json:"kafka_api_us"`
	// WaitShare is the run's split of the API's CPU per kafka post.
	WaitShare *WaitShare `json:"wait_share,omitempty"`
	// KafkaRPSPerAPICore is KafkaRPS ÷ APICores.
	KafkaRPSPerAPICore float64 `json:"kafka_rps_per_api_core"`
}

// ConnsSummary is the kafka runs with more connections than the main run's,
// against fire-and-forget's rate in the main run.
type ConnsSummary struct {
	// FireAndForgetRPS is fire-and-forget's req/s in the main run, with
	// FireAndForgetConns connections; 0: it did not run there.
	FireAndForgetRPS   float64 `json:"fire_and_forget_rps"`
	FireAndForgetConns int     `json:"fire_and_forget_connections"`
	Threshold          float64 `json:"threshold"` // kafka must reach this share of FireAndForgetRPS
	// Rows are by connections, the main run's kafka among them.
	Rows []ConnsRow `json:"rows"`
	// Needed is the fewest connections whose kafka rate reached the
	// threshold; 0: none did (or fire-and-forget's rate is unknown).
	Needed     int    `json:"connections_needed"`
	NeededText string `json:"connections_needed_text"` // "400", "more than 400", or why unknown
}

// ConnsRow is one run of kafka.
type ConnsRow struct {
	Dir         string  `json:"dir"`
	Connections int     `json:"connections"`
	KafkaRPS    float64 `json:"kafka_rps"`
	P50         float64 `json:"p50_ms"`
	P99         float64 `json:"p99_ms"`
	// OverFireAndForget is KafkaRPS ÷ the main run's fire-and-forget req/s.
	OverFireAndForget float64 `json:"over_fire_and_forget"`
	Reached           bool    `json:"reached"`
}

// Summary is what Summarize found and wrote.
type Summary struct {
	Scaling     *ScalingSummary
	Connections *ConnsSummary
	Written     []string // the files written or rewritten
	Notes       []string // what it could not do
}

// Markdown is the summaries, as report.md has them.
func (s *Summary) Markdown() string {
	var b strings.Builder
	if s.Scaling != nil {
		b.WriteString(scalingMarkdown(s.Scaling))
	}
	if s.Connections != nil {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(connsMarkdown(s.Connections))
	}
	return b.String()
}

// Summarize summarises the extra runs under dir, the main run's directory
// (above): it writes dir/scaling/scaling.{md,json} and
// dir/conns/conns.{md,json} for those it finds, and adds both to the main
// run's results.json, report.md and report.html when dir has one. It fails
// when it finds no extra run.
func Summarize(dir string) (*Summary, error) {
	sum := &Summary{}
	main, err := readResults(filepath.Join(dir, resultsFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		sum.Notes = append(sum.Notes, fmt.Sprintf("no main run in %s (%s): no reference row, and no report to add the summaries to", dir, resultsFile))
		main = nil
	case err != nil:
		return nil, err
	default:
		main.Dir = dir
	}
	scaling, err := readRuns(dir, scalingDir)
	if err != nil {
		return nil, err
	}
	conns, err := readRuns(dir, connsDir)
	if err != nil {
		return nil, err
	}
	if len(scaling) == 0 && len(conns) == 0 {
		return nil, fmt.Errorf("no runs to summarise in %s: want %s/*/%s or %s/*/%s", dir, scalingDir, resultsFile, connsDir, resultsFile)
	}
	if len(scaling) > 0 {
		sum.Scaling = summarizeScaling(main, scaling)
		files, err := writeSummary(filepath.Join(dir, scalingDir), scalingName, sum.Scaling, scalingMarkdown(sum.Scaling))
		if err != nil {
			return nil, err
		}
		sum.Written = append(sum.Written, files...)
	}
	if len(conns) > 0 {
		sum.Connections = summarizeConns(main, conns)
		files, err := writeSummary(filepath.Join(dir, connsDir), connsName, sum.Connections, connsMarkdown(sum.Connections))
		if err != nil {
			return nil, err
		}
		sum.Written = append(sum.Written, files...)
	}
	if main != nil {
		main.Scaling, main.Connections = sum.Scaling, sum.Connections
		if err := write(main); err != nil {
			return nil, err
		}
		for _, f := range []string{resultsFile, markdownFor, htmlFile} {
			sum.Written = append(sum.Written, filepath.Join(dir, f))
		}
	}
	return sum, nil
}

func readResults(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	res.Dir = filepath.Dir(path)
	return &res, nil
}

// readRuns reads dir/sub/*/results.json, in the order of their names; Dir
// of each is relative to dir.
func readRuns(dir, sub string) ([]*Results, error) {
	paths, err := filepath.Glob(filepath.Join(dir, sub, "*", resultsFile))
	if err != nil {
		return nil, err
	}
	slices.Sort(paths)
	var out []*Results
	for _, p := range paths {
		res, err := readResults(p)
		if err != nil {
			return nil, err
		}
		if rel, err := filepath.Rel(dir, res.Dir); err == nil {
			res.Dir = rel
		}
		out = append(out, res)
	}
	return out, nil
}

// writeSummary writes name.json and name.md into dir.
func writeSummary(dir, name string, v any, md string) ([]string, error) {
	js, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", name, err)
	}
	var written []string
	for _, f := range []struct {
		name string
		data []byte
	}{{name + ".json", append(js, '\n')}, {name + ".md", []byte(md)}} {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return nil, fmt.Errorf("write %s: %w", p, err)
		}
		written = append(written, p)
	}
	return written, nil
}

// byName is a run's uninterrupted scenarios by name.
func byName(res *Results) map[string]ScenarioResult {
	out := map[string]ScenarioResult{}
	for _, s := range res.Scenarios {
		if !s.Interrupted {
			out[s.Name] = s
		}
	}
	return out
}

// scalingRow sums up one run of noop, fire-and-forget and kafka.
func scalingRow(res *Results, pinned bool) ScalingRow {
	scs := byName(res)
	api := res.Run.CPUAffinity["api"]
	row := ScalingRow{Dir: cmp.Or(res.Dir, "."), Pinned: pinned, APICPUs: api, Others: res.Run.CPUAffinity["broker"],
		APICores: cmp.Or(countCPUs(api), res.Machine.CPUs), GOMAXPROCS: res.Run.ServerGOMAXPROCS,
		NoopRPS: scs["noop"].RPS, FireAndForgetRPS: scs["fire-and-forget"].RPS, KafkaRPS: scs["kafka"].RPS,
		NoopAPIUs: scs["noop"].CPUUsPerPost["api"], FireAndForgetAPIUs: scs["fire-and-forget"].CPUUsPerPost["api"],
		KafkaAPIUs: scs["kafka"].CPUUsPerPost["api"], WaitShare: cmp.Or(res.WaitShare, waitShare(res.Scenarios))}
	if row.FireAndForgetRPS > 0 {
		row.KafkaOverFireAndForget = round3(row.KafkaRPS / row.FireAndForgetRPS)
	}
	if row.APICores > 0 {
		row.KafkaRPSPerAPICore = round3(row.KafkaRPS / float64(row.APICores))
	}
	return row
}

// summarizeScaling makes a row of each pinned run, by API cores, and one
// of the main run (nil: none) last.
func summarizeScaling(main *Results, runs []*Results) *ScalingSummary {
	s := &ScalingSummary{}
	for _, r := range runs {
		s.Rows = append(s.Rows, scalingRow(r, true))
	}
	slices.SortStableFunc(s.Rows, func(a, b ScalingRow) int { return cmp.Compare(a.APICores, b.APICores) })
	if main != nil {
		m := *main
		m.Dir = "."
		s.Rows = append(s.Rows, scalingRow(&m, false))
	}
	return s
}

// connsOf is how many connections a closed-model run held: its peak of
// virtual users, each with one connection of its own.
func connsOf(res *Results) int {
	if res.Run.Model == Open {
		return res.Run.MaxVUs
	}
	return peakOf(res.Run.Stages)
}

// summarizeConns makes a row of the main run's kafka and each run of
// kafka with more connections, by connections, and finds the fewest
// connections whose rate came within reachShare of fire-and-forget's in
// the main run.
func summarizeConns(main *Results, runs []*Results) *ConnsSummary {
	s := &ConnsSummary{Threshold: reachShare}
	all := slices.Clone(runs)
	if main != nil {
		m := *main
		m.Dir = "."
		all = append([]*Results{&m}, all...)
		if ff, ok := byName(main)["fire-and-forget"]; ok {
			s.FireAndForgetRPS, s.FireAndForgetConns = ff.RPS, connsOf(main)
		}
	}
	for _, r := range all {
		k, ok := byName(r)["kafka"]
		if !ok {
			continue
		}
		row := ConnsRow{Dir: cmp.Or(r.Dir, "."), Connections: connsOf(r), KafkaRPS: k.RPS, P50: k.P50, P99: k.P99}
		if s.FireAndForgetRPS > 0 {
			row.OverFireAndForget = round3(k.RPS / s.FireAndForgetRPS)
			row.Reached = k.RPS >= reachShare*s.FireAndForgetRPS
		}
		s.Rows = append(s.Rows, row)
	}
	slices.SortStableFunc(s.Rows, func(a, b ConnsRow) int { return cmp.Compare(a.Connections, b.Connections) })
	switch {
	case s.FireAndForgetRPS <= 0:
		s.NeededText = "unknown: fire-and-forget did not run in the main run"
	case len(s.Rows) == 0:
		s.NeededText = "unknown: no run of kafka"
	default:
		for _, r := range s.Rows {
			if r.Reached {
				s.Needed = r.Connections
				break
			}
		}
		s.NeededText = fmt.Sprint(s.Needed)
		if s.Needed == 0 {
			s.NeededText = fmt.Sprintf("more than %d", s.Rows[len(s.Rows)-1].Connections)
		}
	}
	return s
}

// cell is a figure for a table, "–" where it was not measured.
func cell(x float64, format func(float64) string) string {
	if x == 0 {
		return "–"
	}
	return format(x)
}

func ratio2(x float64) string { return fmt.Sprintf("%.2f", x) }

var scalingCols = []string{"API cores", "API CPUs", "GOMAXPROCS", "noop req/s", "fire-and-forget req/s", "kafka req/s", "kafka ÷ fire-and-forget",
	"API µs/post noop", "API µs/post fire-and-forget", "API µs/post kafka", "wait's share", "kafka req/s per API core", "run"}

func scalingRows(s *ScalingSummary) [][]string {
	var rows [][]string
	for _, r := range s.Rows {
		cores := fmt.Sprint(r.APICores)
		if !r.Pinned {
			cores += " (not pinned)"
		}
		share := "–"
		if r.WaitShare != nil {
			share = percent(r.WaitShare.Share)
		}
		rows = append(rows, []string{cores, cmp.Or(r.APICPUs, "?"), cmp.Or(r.GOMAXPROCS, "default"),
			cell(r.NoopRPS, num), cell(r.FireAndForgetRPS, num), cell(r.KafkaRPS, num), cell(r.KafkaOverFireAndForget, ratio2),
			cell(r.NoopAPIUs, num), cell(r.FireAndForgetAPIUs, num), cell(r.KafkaAPIUs, num), share,
			cell(r.KafkaRPSPerAPICore, num), r.Dir})
	}
	return rows
}

// scalingIntro says what the scaling table shows.
const scalingIntro = "The API pinned to its cores (taskset, GOMAXPROCS as shown), the broker and the bench client on the other CPUs (others' CPUs in scaling.json); noop, fire-and-forget and kafka each run, their rounds taking turns, as in the main run. The last row is the main run, nothing pinned. API µs per post: its CPU per accepted post (per request for noop); the wait's share: (kafka − fire-and-forget) ÷ kafka of those. Each run's own report is in its directory."

func scalingMarkdown(s *ScalingSummary) string {
	var b strings.Builder
	b.WriteString("### Scaling: the API on k cores\n\n" + scalingIntro + "\n\n")
	mdTable(&b, scalingCols, scalingRows(s))
	return b.String()
}

var connsCols = []string{"connections", "kafka req/s", "p50 ms", "p99 ms", "÷ fire-and-forget", "run"}

func connsRows(s *ConnsSummary) [][]string {
	var rows [][]string
	for _, r := range s.Rows {
		rows = append(rows, []string{fmt.Sprint(r.Connections), num(r.KafkaRPS), ms(r.P50), ms(r.P99), cell(r.OverFireAndForget, ratio2), r.Dir})
	}
	return rows
}

// connsText is the line under the connections table: what kafka was
// compared with and how many connections it took.
func connsText(s *ConnsSummary) string {
	if s.FireAndForgetRPS <= 0 {
		return "Connections needed to reach fire-and-forget's rate: " + s.NeededText + "."
	}
	return fmt.Sprintf("fire-and-forget in the main run: %s req/s with %d connections. Connections kafka needs to reach %.0f %% of that: **%s**.",
		num(s.FireAndForgetRPS), s.FireAndForgetConns, 100*s.Threshold, s.NeededText)
}

// connsIntro says what the connections table shows.
const connsIntro = "kafka alone, every process on every CPU, one connection per closed-loop client: a closed loop's rate is connections ÷ latency, and kafka's latency holds the broker's ack, so with as many connections it is slower than fire-and-forget even where the CPU is not what limits it. The row of the main run's connections is the main run's kafka (its rounds taking turns with the others)."

func connsMarkdown(s *ConnsSummary) string {
	var b strings.Builder
	b.WriteString("### Connections: kafka with more closed-loop clients\n\n" + connsIntro + "\n\n")
	mdTable(&b, connsCols, connsRows(s))
	b.WriteString("\n" + connsText(s) + "\n")
	return b.String()
}
