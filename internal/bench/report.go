package bench

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The files a run writes. results.json is for tools (its field names are
// fixed); report.md is for pasting into a README; report.html is for
// looking at, and needs nothing but the file.
const (
	resultsFile = "results.json"
	markdownFor = "report.md"
	htmlFile    = "report.html"
)

// write puts the three files into res.Dir.
func write(res *Results) error {
	if err := os.MkdirAll(res.Dir, 0o755); err != nil {
		return fmt.Errorf("create the results directory: %w", err)
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	page, err := renderHTML(res)
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		resultsFile: append(js, '\n'),
		markdownFor: []byte(Markdown(res)),
		htmlFile:    page,
	} {
		if err := os.WriteFile(filepath.Join(res.Dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// Markdown is the summary as Markdown: the table, the store check, the
// setup and the command that reproduces it.
func Markdown(res *Results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## postpipe bench, %s\n\n", res.Run.StartedAt.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "%s\n\n", setupSentence(res))
	b.WriteString("| scenario | requests | req/s | posts/s | errors | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range res.Scenarios {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			s.Name, s.Requests, num(s.RPS), num(s.PostsPerS), errorsCell(s),
			ms(s.P50), ms(s.P90), ms(s.P99), ms(s.P999), ms(s.Max))
	}
	if rows := verificationRows(res); len(rows) > 0 {
		b.WriteString("\nStore check of the posts accepted through Kafka, after the sink drained:\n\n")
		b.WriteString("| scenario | accepted | landed | lost | duplicated | lag p50 ms | lag p99 ms | lag max ms |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range rows {
			v := r.v
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s | %s | %s |\n",
				r.name, v.Accepted, v.Landed, v.Lost, v.Duplicated, ms(v.LagP50), ms(v.LagP99), ms(v.LagMax))
		}
		b.WriteString("\n")
		for _, l := range verificationNotes(res) {
			fmt.Fprintf(&b, "%s\n", l)
		}
	}
	b.WriteString("\nSetup:\n\n")
	for _, l := range setupLines(res) {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	if len(res.Notes) > 0 {
		b.WriteString("\nNotes:\n\n")
		for _, n := range res.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	fmt.Fprintf(&b, "\nCommand:\n\n```sh\n%s\n```\n", res.Run.Command)
	return b.String()
}

// setupSentence says in one line what ran against what.
func setupSentence(res *Results) string {
	m := res.Machine
	return fmt.Sprintf("%s; %d CPU%s (%s), %s; broker: %s; store: %s.",
		loadSentence(res), m.CPUs, plural(m.CPUs), cmp.Or(m.CPUModel, "CPU model unknown"), where(res.Run.Target),
		label(m.Kafka, "--kafka-label"), label(m.Store, "--store-label"))
}

// where says whether the load generator shared the machine with the server.
func where(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "server at " + target
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		return "load generator and server sharing them (" + target + ")"
	}
	return "the load generator's; server at " + target
}

func loadSentence(res *Results) string {
	r := res.Run
	switch r.Model {
	case Open:
		return fmt.Sprintf("Open model, arrival rate %s (requests/s) per scenario, at most %d in flight", r.Stages, r.MaxVUs)
	default:
		return fmt.Sprintf("Closed model, virtual users %s per scenario", r.Stages)
	}
}

// serverMemory names the server's peak resident memory in each scenario.
func serverMemory(res *Results) string {
	var parts []string
	for _, s := range res.Scenarios {
		if s.ServerRSSMaxMB > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f MB", s.Name, s.ServerRSSMaxMB))
		}
	}
	if len(parts) == 0 {
		return "server memory: not measured (--server-pid)"
	}
	return fmt.Sprintf("server resident memory (VmRSS of pid %d), peak per scenario: %s", res.Run.ServerPID, strings.Join(parts, ", "))
}

// setupLines are the details of the setup, one per line.
func setupLines(res *Results) []string {
	m, r := res.Machine, res.Run
	bg := "not measured"
	if m.BackgroundCPUPercent != nil {
		bg = fmt.Sprintf("%.1f %% busy before the run", *m.BackgroundCPUPercent)
	}
	mem := ""
	if m.MemoryMB > 0 {
		mem = fmt.Sprintf(", %.1f GiB RAM", float64(m.MemoryMB)/1024)
	}
	lines := []string{
		fmt.Sprintf("machine: %d × %s%s, %s/%s %s, %s; background CPU %s", m.CPUs, cmp.Or(m.CPUModel, "unknown CPU"), mem, m.OS, m.Arch, m.Kernel, m.Go, bg),
		fmt.Sprintf("broker: %s", label(m.Kafka, "--kafka-label")),
		fmt.Sprintf("store: %s", label(m.Store, "--store-label")),
		fmt.Sprintf("target: %s (postpipe %s)", r.Target, cmp.Or(r.Version, "dev")),
		fmt.Sprintf("load: %s (from %s); scenarios one after another, each from cold connections", loadSentence(res), cmp.Or(r.LoadFrom, "the caller")),
		fmt.Sprintf("posts: author, title, subtitle and %d bytes of random content; %d posts per batch request", r.ContentBytes, r.BatchSize),
		serverMemory(res),
		"latency: from when a request was due to when its answer was read, every request counted (errors too); HDR histograms, 3 significant digits",
		fmt.Sprintf("run %s, %s to %s UTC", r.ID, r.StartedAt.Format("2006-01-02 15:04:05"), r.FinishedAt.Format("15:04:05")),
	}
	for _, s := range res.Scenarios {
		if len(s.ErrorsByStatus) > 0 || len(s.FailedPostsByStatus) > 0 {
			lines = append(lines, fmt.Sprintf("errors of %s: %s%s", s.Name, counts(s.ErrorsByStatus), failedPosts(s)))
		}
	}
	return lines
}

// verificationNotes explain the store check's columns, and the posts
// answered 503 where there were any.
func verificationNotes(res *Results) []string {
	notes := []string{"Lost: accepted (202) but not in the store. Duplicated: documents of the run beyond one per post — a second copy under another id, or a post never answered with an id. Lag: ingestedAt − createdAt, from the API accepting a post to the sink storing it."}
	for _, r := range verificationRows(res) {
		if r.v.Unacknowledged > 0 && r.name != "all" {
			notes = append(notes, fmt.Sprintf("%s: %d posts were answered 503 (the broker did not acknowledge them in time; they may land once under the id the 503 named); %d of them landed.",
				r.name, r.v.Unacknowledged, r.v.UnacknowledgedLanded))
		}
	}
	return notes
}

type verificationRow struct {
	name string
	v    *Verification
}

func verificationRows(res *Results) []verificationRow {
	var rows []verificationRow
	for _, s := range res.Scenarios {
		if s.Verification != nil {
			rows = append(rows, verificationRow{s.Name, s.Verification})
		}
	}
	if len(rows) > 1 && res.Verification != nil {
		rows = append(rows, verificationRow{"all", res.Verification})
	}
	return rows
}

func errorsCell(s ScenarioResult) string {
	if s.Unsent > 0 {
		return fmt.Sprintf("%d (+%d unsent)", s.Errors, s.Unsent)
	}
	return fmt.Sprint(s.Errors)
}

func counts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s × %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func failedPosts(s ScenarioResult) string {
	if len(s.FailedPostsByStatus) == 0 {
		return ""
	}
	return "; refused posts inside batches: " + counts(s.FailedPostsByStatus)
}

func label(v, flag string) string { return cmp.Or(v, "not stated ("+flag+")") }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// num formats a rate: whole above 100, one decimal below.
func num(x float64) string {
	if x >= 100 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.1f", x)
}

// ms formats milliseconds with three significant digits or so.
func ms(x float64) string {
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}
