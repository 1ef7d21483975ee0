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
	if len(res.Ratios) > 0 {
		b.WriteString("\nThroughput ratios (posts/s, same run): ")
		b.WriteString(ratioText(res.Ratios))
		b.WriteString("\n")
	}
	if cols, rows := cpuTable(res); len(rows) > 0 {
		fmt.Fprintf(&b, "\nCPU per accepted post, µs, by process, over each measured window (%s):\n\n", cpuSource(res))
		b.WriteString("| scenario | " + strings.Join(cols, " | ") + " |\n")
		b.WriteString("|---|" + strings.Repeat("---:|", len(cols)) + "\n")
		for _, r := range rows {
			b.WriteString("| " + strings.Join(r, " | ") + " |\n")
		}
	}
	if len(res.CPURatios) > 0 {
		b.WriteString("\n" + cpuRatioText(res.CPURatios) + "\n")
	}
	if res.WaitShare != nil {
		b.WriteString("\n" + waitShareText(res.WaitShare) + "\n")
	}
	if rows := producerRows(res); len(rows) > 0 {
		b.WriteString("\nProducer batching: " + producerIntro + "\n\n")
		mdTable(&b, producerCols, rows)
	}
	if rows := opRows(res); len(rows) > 0 {
		b.WriteString("\nReads, by kind of request:\n\n")
		b.WriteString("| scenario | request | requests | req/s | errors | p50 ms | p99 ms | max ms |\n")
		b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range rows {
			b.WriteString("| " + strings.Join(r, " | ") + " |\n")
		}
		b.WriteString("\n" + readNote(res) + "\n")
	}
	if rows := verificationRows(res); len(rows) > 0 {
		fmt.Fprintf(&b, "\n%s\n\n", verificationTitle(res))
		b.WriteString("| scenario | accepted | landed | lost | duplicated | lag p50 ms | lag p99 ms | lag max ms |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range rows {
			v := r.v
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s | %s | %s |\n",
				r.label(), v.Accepted, v.Landed, v.Lost, v.Duplicated, lagCell(v, v.LagP50), lagCell(v, v.LagP99), lagCell(v, v.LagMax))
		}
		b.WriteString("\n")
		for _, l := range verificationNotes(res) {
			fmt.Fprintf(&b, "%s\n", l)
		}
	}
	if rows := updateRows(res); len(rows) > 0 {
		b.WriteString("\nUpdate check: every id's stored state against the model of its accepted ops, after the sink applied them:\n\n")
		mdTable(&b, updateCheckCols, rows)
		b.WriteString("\n")
		mdTable(&b, updateOpCols, updateOpRows(res))
		b.WriteString("\n")
		for _, l := range updateNotes(res) {
			fmt.Fprintf(&b, "%s\n\n", l)
		}
	}
	if res.Scaling != nil {
		b.WriteString("\n" + scalingMarkdown(res.Scaling))
	}
	if res.Connections != nil {
		b.WriteString("\n" + connsMarkdown(res.Connections))
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

// mdTable writes a Markdown table, the first column left-aligned and the
// others right-aligned.
func mdTable(b *strings.Builder, cols []string, rows [][]string) {
	b.WriteString("| " + strings.Join(cols, " | ") + " |\n")
	b.WriteString("|---|" + strings.Repeat("---:|", len(cols)-1) + "\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
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

// affinityLine says which CPUs each process could run on, when they were
// not all alike (a pinned run) or the server's GOMAXPROCS was set; nothing
// otherwise.
func affinityLine(res *Results) string {
	a, gmp := res.Run.CPUAffinity, res.Run.ServerGOMAXPROCS
	alike := true
	for _, v := range a {
		for _, w := range a {
			alike = alike && v == w
		}
	}
	if len(a) == 0 || alike && gmp == "" {
		return ""
	}
	m := map[string]float64{}
	for k := range a {
		m[k] = 0
	}
	var parts []string
	for _, k := range cpuOrder(m) {
		parts = append(parts, k+" "+a[k])
	}
	line := "CPU affinity when the run began (Cpus_allowed_list): " + strings.Join(parts, ", ")
	if gmp != "" {
		line += "; the server's GOMAXPROCS=" + gmp
	}
	if !alike {
		line += "; the CPU count above is the bench client's, which follows its own affinity"
	}
	return line
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
		fmt.Sprintf("load: %s (from %s); scenarios one after another (or taking turns, below), each turn from cold connections", loadSentence(res), cmp.Or(r.LoadFrom, "the caller")),
		warmupLine(res),
		roundsLine(res),
		fmt.Sprintf("posts: author, title, subtitle and %d bytes of random content; %d posts per batch request", r.ContentBytes, r.BatchSize),
		ordersLine(res),
		serverMemory(res),
		affinityLine(res),
		"latency: from when a request was due to when its answer was read, every request counted (errors too); HDR histograms, 3 significant digits",
		fmt.Sprintf("run %s, %s to %s UTC", r.ID, r.StartedAt.Format("2006-01-02 15:04:05"), r.FinishedAt.Format("15:04:05")),
	}
	lines = slices.DeleteFunc(lines, func(l string) bool { return l == "" })
	for _, s := range res.Scenarios {
		if f := s.FireAndForget; f != nil {
			lines = append(lines, fmt.Sprintf("%s at the broker (the server's counts, warm-up included): %d sent, %d acknowledged, %d refused, %d still in flight when asked — its clients heard 202 for all of them",
				s.Name, f.Sent, f.Acknowledged, f.Failed, f.InFlight))
		}
	}
	for _, s := range res.Scenarios {
		if len(s.ErrorsByStatus) > 0 || len(s.FailedPostsByStatus) > 0 {
			lines = append(lines, fmt.Sprintf("errors of %s: %s%s", s.Name, counts(s.ErrorsByStatus), failedPosts(s)))
		}
	}
	return lines
}

// ordersLine says what the orders scenario sent, when it ran.
func ordersLine(res *Results) string {
	for _, s := range res.Scenarios {
		if s.Name == "orders" {
			return fmt.Sprintf("orders: %d-byte documents of examples/schemas/orders.json's shape (orderId, customer, status, placedAt, %d items of sku, name, quantity and amount, total, a note filling up), each with an orderId of its own — the document's id — to POST %s; the customer marks the run", orderBytes, orderItems, s.Path)
		}
	}
	return ""
}

// verificationNotes explain the store check's columns, and the posts
// answered 503 where there were any.
func verificationNotes(res *Results) []string {
	notes := []string{"Lost: accepted (202) but not in the store. Duplicated: documents of the run beyond one per post — a second copy under another id, or a post never answered with an id. Lag: ingestedAt − createdAt, from the API accepting a post to the sink storing it."}
	if res.Run.Verify == "topic" {
		notes = []string{"Lost: accepted (202) but no record with its id on the topic. Duplicated: more than one record with the id of an accepted post. No lag: no sink ran."}
	}
	for _, r := range verificationRows(res) {
		if r.v.Unacknowledged > 0 && r.name != "all" {
			notes = append(notes, fmt.Sprintf("%s: %d posts were answered 503 (the broker did not acknowledge them in time; they may land once under the id the 503 named); %d of them landed.",
				r.name, r.v.Unacknowledged, r.v.UnacknowledgedLanded))
		}
	}
	return notes
}

type verificationRow struct {
	name       string
	v          *Verification
	unpromised bool
}

func (r verificationRow) label() string {
	if r.unpromised {
		return r.name + " (nothing promised)"
	}
	return r.name
}

func verificationRows(res *Results) []verificationRow {
	var rows []verificationRow
	promised := 0
	for _, s := range res.Scenarios {
		if s.Verification != nil {
			rows = append(rows, verificationRow{s.Name, s.Verification, s.Unpromised})
			if !s.Unpromised {
				promised++
			}
		}
	}
	if promised > 1 && res.Verification != nil {
		rows = append(rows, verificationRow{name: "all promised", v: res.Verification})
	}
	return rows
}

// verificationTitle says where the accepted posts were looked for.
func verificationTitle(res *Results) string {
	if res.Run.Verify == "topic" {
		return "Topic check (no sink ran): every post answered 202 looked for on the topic by its id (the record key), from the offsets just before the scenario's warm-up to the end after it:"
	}
	return "Store check of the posts accepted through Kafka (warm-up included), after the sink drained:"
}

// warmupLine says how each scenario was warmed up.
func warmupLine(res *Results) string {
	if res.Run.WarmupS <= 0 {
		return "warm-up: none (--warmup 0): each measured window starts cold"
	}
	unit := "virtual users"
	if res.Run.Model == Open {
		unit = "requests/s"
	}
	return fmt.Sprintf("warm-up: %gs before each scenario's measured window, at the peak of the stages (%d %s) against the scenario's own endpoint; not in the figures, but its posts are checked like the rest",
		res.Run.WarmupS, peakOf(res.Run.Stages), unit)
}

func peakOf(stages string) int {
	st, err := ParseStages(stages)
	if err != nil {
		return 0
	}
	return peak(st)
}

// cpuRatioText is the CPU ratios as one line: "CPU per document (api +
// broker, same run): **orders ÷ kafka = 1.12** (orders 50.3 µs, kafka 44.9
// µs; by round 1.10, 1.15)".
func cpuRatioText(rs []CPURatio) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("**%s = %.2f** (%s: %s %s µs, %s %s µs", r.Name, r.Value, r.Basis, r.Of, num(r.OfUs), r.Over, num(r.OverUs))
		if len(r.Rounds) > 0 {
			parts[i] += "; " + roundsText(r.Rounds)
		}
		parts[i] += ")"
	}
	return "CPU per accepted document, same run: " + strings.Join(parts, ", ")
}

// ratioText is the ratios as one line.
func ratioText(rs []Ratio) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("**%s = %.2f**", r.Name, r.Value)
		if len(r.Rounds) > 0 {
			parts[i] += " (" + roundsText(r.Rounds) + ")"
		}
	}
	return strings.Join(parts, ", ")
}

// roundsText is a ratio's values by round: "by round 0.77, 0.74, 0.80".
func roundsText(rounds []float64) string {
	vs := make([]string, len(rounds))
	for i, v := range rounds {
		vs[i] = fmt.Sprintf("%.2f", v)
	}
	return "by round " + strings.Join(vs, ", ")
}

// roundsLine says how the scenarios took turns, or nothing when they did not.
func roundsLine(res *Results) string {
	if res.Run.Rounds <= 1 {
		return ""
	}
	var together, after, once []string
	for _, s := range res.Scenarios {
		switch {
		case len(s.Rounds) == 0:
			once = append(once, s.Name)
		case compared(s.Name):
			together = append(together, s.Name)
		default:
			after = append(after, s.Name)
		}
	}
	if len(together)+len(after) == 0 {
		return ""
	}
	line := fmt.Sprintf("rounds: %d, each running the stages once (the warm-up only before a scenario's first)", res.Run.Rounds)
	if len(together) > 0 {
		line += fmt.Sprintf("; %s took turns, so that the machine's drift slows them alike, and each ratio shows its value by round", strings.Join(together, ", "))
	}
	if len(after) > 0 {
		line += fmt.Sprintf("; %s then ran %s one after another", strings.Join(after, ", "), map[bool]string{true: "its rounds", false: "their rounds"}[len(after) == 1])
	}
	if len(once) > 0 {
		line += fmt.Sprintf("; %s ran one round", strings.Join(once, ", "))
	}
	return line + "; a scenario's figures add its rounds up"
}

// cpuSource names what the CPU figures were read from.
func cpuSource(res *Results) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(res.Run.Processes)) {
		pids := res.Run.Processes[name]
		ps := make([]string, len(pids))
		for i, p := range pids {
			ps[i] = fmt.Sprint(p)
		}
		parts = append(parts, name+" "+cmp.Or(strings.Join(ps, "+"), "not running"))
	}
	return "utime+stime of /proc/<pid>/stat, descendants included, at the start and end of the window; pids: " + strings.Join(parts, ", ")
}

// cpuTable is the CPU per accepted post (per request for read) of each
// process in each scenario, with api + broker beside.
func cpuTable(res *Results) (cols []string, rows [][]string) {
	all := map[string]float64{}
	for _, s := range res.Scenarios {
		for k := range s.CPUSeconds {
			all[k] = 0
		}
	}
	names := cpuOrder(all)
	if len(names) == 0 {
		return nil, nil
	}
	_, hasAPI := all["api"]
	_, hasBroker := all["broker"]
	cols = append(cols, names...)
	if hasAPI && hasBroker {
		cols = append(cols, "api + broker")
	}
	cols = append(cols, "all")
	for _, s := range res.Scenarios {
		per, unit := s.CPUUsPerPost, ""
		if per == nil {
			per, unit = s.CPUUsPerRequest, " /req"
		}
		if per == nil {
			continue
		}
		row := []string{s.Name + unit}
		var total float64
		for _, n := range names {
			row = append(row, num(per[n]))
			total += per[n]
		}
		if hasAPI && hasBroker {
			row = append(row, num(per["api"]+per["broker"]))
		}
		row = append(row, num(total))
		rows = append(rows, row)
	}
	return cols, rows
}

// opRows are the kinds of request of the reading scenarios.
func opRows(res *Results) [][]string {
	var rows [][]string
	for _, s := range res.Scenarios {
		for _, name := range []string{opGet, opList, opWrite} {
			o, ok := s.Ops[name]
			if !ok {
				continue
			}
			rows = append(rows, []string{s.Name, name, fmt.Sprint(o.Requests), num(o.RPS), fmt.Sprint(o.Errors), ms(o.P50), ms(o.P99), ms(o.Max)})
		}
	}
	return rows
}

// readNote says what served the reads, and why they are slow where they
// are: the store label is the run's own, never "MongoDB" for FerretDB.
func readNote(res *Results) string {
	store := label(res.Machine.Store, "--store-label")
	var docs []string
	for _, s := range res.Scenarios {
		if s.StoreDocs > 0 {
			docs = append(docs, fmt.Sprintf("%s started with %d documents in the collection", s.Name, s.StoreDocs))
		}
	}
	note := "The reads were served by " + store + "."
	if len(docs) > 0 {
		note += " " + strings.Join(docs, "; ") + "."
	}
	if strings.Contains(strings.ToLower(store), "ferretdb") {
		note += " FerretDB 1.x serves a get by id by scanning: it pushes {_id: x} down as `_jsonb->$1 @> $2`, which no btree index serves, and it sorts list pages in memory, so both grow with the collection. MongoDB serves both from the indexes postpipe creates (_id, and author + createdAt + _id)."
	}
	return note
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

// lagCell is a lag for the table: none where the posts were looked for on
// the topic (no sink stored them).
func lagCell(v *Verification, x float64) string {
	if v.Where == "topic" {
		return "–"
	}
	return ms(x)
}
