package bench

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"strings"
)

// The HTML report is one file that needs no network: the CSS is inline and
// the charts are SVG drawn here, so it opens the same from a laptop, a CI
// artifact or an air-gapped machine, years later.

// line is one series of a chart.
type line struct {
	name   string
	color  string
	dashed bool
	xs, ys []float64
}

// palette gives each scenario the same colour in every chart.
var palette = map[string]string{
	"noop":            "#6b7280",
	"fire-and-forget": "#d97706",
	"kafka":           "#2563eb",
	"direct":          "#dc2626",
	"batch":           "#059669",
	"read":            "#0891b2",
	"mixed":           "#be185d",
	"orders":          "#4f46e5",
}

func colorOf(name string) string {
	if c, ok := palette[name]; ok {
		return c
	}
	return "#7c3aed"
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH                     = 560, 260
	padLeft, padRight, padTop, padDown = 64, 16, 44, 36
)

// lineChart draws lines over a shared x axis (seconds) with a y axis from
// 0 to a round number above the highest value.
func lineChart(title, yUnit string, lines []line) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" role="img" aria-label="%s">`, chartW, chartH, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="%d" y="16" class="t">%s</text>`, padLeft, template.HTMLEscapeString(title))

	xMax, yMax := 0.0, 0.0
	for _, l := range lines {
		for i := range l.xs {
			xMax, yMax = math.Max(xMax, l.xs[i]), math.Max(yMax, l.ys[i])
		}
	}
	xStep, xTop := niceAxis(xMax)
	yStep, yTop := niceAxis(yMax)
	plotW, plotH := float64(chartW-padLeft-padRight), float64(chartH-padTop-padDown)
	px := func(x float64) float64 { return float64(padLeft) + x/xTop*plotW }
	py := func(y float64) float64 { return float64(padTop) + plotH - y/yTop*plotH }

	// Grid and ticks.
	for y := 0.0; y <= yTop+yStep/2; y += yStep {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="g"/>`, padLeft, chartW-padRight, py(y), py(y))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" class="yl">%s</text>`, padLeft-6, py(y)+4, tickLabel(y))
	}
	for x := 0.0; x <= xTop+xStep/2; x += xStep {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="xl">%s</text>`, px(x), chartH-padDown+16, tickLabel(x))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="xl">s</text>`, chartW-padRight, chartH-4)
	fmt.Fprintf(&b, `<text x="8" y="%d" class="u">%s</text>`, padTop-8, template.HTMLEscapeString(yUnit))
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="a"/>`, padLeft, chartW-padRight, py(0), py(0))

	// Lines, then the legend above them.
	for _, l := range lines {
		if len(l.xs) == 0 {
			continue
		}
		pts := make([]string, len(l.xs))
		for i := range l.xs {
			pts[i] = fmt.Sprintf("%.1f,%.1f", px(l.xs[i]), py(l.ys[i]))
		}
		dash := ""
		if l.dashed {
			dash = ` stroke-dasharray="5 4"`
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`, strings.Join(pts, " "), l.color, dash)
	}
	x := float64(padLeft)
	for _, l := range lines {
		dash := ""
		if l.dashed {
			dash = ` stroke-dasharray="5 4"`
		}
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="30" y2="30" stroke="%s" stroke-width="2"%s/>`, x, x+18, l.color, dash)
		fmt.Fprintf(&b, `<text x="%.0f" y="34" class="lg">%s</text>`, x+22, template.HTMLEscapeString(l.name))
		x += 34 + 7*float64(len(l.name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built here from numbers and escaped names
}

// niceAxis picks a tick step of 1, 2 or 5 × 10ⁿ giving about five ticks,
// and the first tick at or above max.
func niceAxis(max float64) (step, top float64) {
	if max <= 0 || math.IsNaN(max) || math.IsInf(max, 0) {
		return 1, 1
	}
	raw := max / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step = 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	return step, math.Ceil(max/step-1e-9) * step
}

func tickLabel(v float64) string {
	switch {
	case v >= 1e6 && math.Mod(v, 1e6) == 0:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e4 && math.Mod(v, 1e3) == 0:
		return fmt.Sprintf("%gk", v/1e3)
	default:
		return fmt.Sprintf("%g", math.Round(v*1000)/1000)
	}
}

// charts are the report's figures: throughput and users of every scenario
// on shared axes, latency per scenario on its own scale (a store write and
// the no-I/O ceiling differ a hundredfold).
type charts struct {
	Throughput template.HTML
	VUs        template.HTML
	Latency    []template.HTML
}

func buildCharts(res *Results) charts {
	var rps, vus []line
	var lat []template.HTML
	for _, s := range res.Scenarios {
		var xs, r, u, p50, p99 []float64
		for _, p := range s.Series {
			if p.Seconds < 0.5 { // the sliver after the last whole second: a rate over it is noise
				continue
			}
			xs, r, u = append(xs, p.T), append(r, p.RPS), append(u, float64(p.VUs))
			p50, p99 = append(p50, p.P50), append(p99, p.P99)
		}
		c := colorOf(s.Name)
		rps = append(rps, line{name: s.Name, color: c, xs: xs, ys: r})
		vus = append(vus, line{name: s.Name, color: c, xs: xs, ys: u})
		lat = append(lat, lineChart(s.Name+": latency per second", "ms", []line{
			{name: "p99", color: c, xs: xs, ys: p99},
			{name: "p50", color: c, dashed: true, xs: xs, ys: p50},
		}))
	}
	users := "virtual users"
	if res.Run.Model == Open {
		users = "requests in flight"
	}
	return charts{
		Throughput: lineChart("requests per second", "req/s", rps),
		VUs:        lineChart(users+" over time", users, vus),
		Latency:    lat,
	}
}

// htmlView is what the page template gets.
type htmlView struct {
	*Results
	Setup             string
	SetupLines        []string
	Verifications     []verificationView
	VerificationTitle string
	VerificationNotes []string
	Charts            charts
	CPUSource         string
	CPUCols           []string
	CPURows           [][]string
	OpRows            [][]string
	ReadNote          string
	UpdateCols        []string
	UpdateRows        [][]string
	UpdateOpCols      []string
	UpdateOpRows      [][]string
	UpdateNotes       []string
	ScalingIntro      string
	ScalingCols       []string
	ScalingRows       [][]string
	ConnsIntro        string
	ConnsCols         []string
	ConnsRows         [][]string
	ConnsText         template.HTML
	ProducerIntro     string
	ProducerCols      []string
	ProducerRows      [][]string
}

type verificationView struct {
	Name string
	*Verification
}

// boldHTML escapes s and turns its **bold** Markdown into <strong>.
func boldHTML(s string) template.HTML {
	parts := strings.Split(template.HTMLEscapeString(s), "**")
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString(map[bool]string{true: "<strong>", false: "</strong>"}[i%2 == 1])
		}
		b.WriteString(p)
	}
	if len(parts)%2 == 0 { // an odd number of **: close the last
		b.WriteString("</strong>")
	}
	return template.HTML(b.String()) // escaped above
}

func renderHTML(res *Results) ([]byte, error) {
	view := htmlView{Results: res, Setup: setupSentence(res), SetupLines: setupLines(res), VerificationNotes: verificationNotes(res), Charts: buildCharts(res),
		VerificationTitle: verificationTitle(res), CPUSource: cpuSource(res), OpRows: opRows(res)}
	view.CPUCols, view.CPURows = cpuTable(res)
	if view.UpdateRows = updateRows(res); len(view.UpdateRows) > 0 {
		view.UpdateCols, view.UpdateOpCols, view.UpdateOpRows, view.UpdateNotes = updateCheckCols, updateOpCols, updateOpRows(res), updateNotes(res)
	}
	if len(view.OpRows) > 0 {
		view.ReadNote = readNote(res)
	}
	if view.ProducerRows = producerRows(res); len(view.ProducerRows) > 0 {
		view.ProducerIntro, view.ProducerCols = producerIntro, producerCols
	}
	if res.Scaling != nil {
		view.ScalingIntro, view.ScalingCols, view.ScalingRows = scalingIntro, scalingCols, scalingRows(res.Scaling)
	}
	if res.Connections != nil {
		view.ConnsIntro, view.ConnsCols, view.ConnsRows = connsIntro, connsCols, connsRows(res.Connections)
		view.ConnsText = boldHTML(connsText(res.Connections))
	}
	for _, r := range verificationRows(res) {
		view.Verifications = append(view.Verifications, verificationView{r.label(), r.v})
	}
	var b bytes.Buffer
	if err := page.Execute(&b, view); err != nil {
		return nil, fmt.Errorf("render report.html: %w", err)
	}
	return b.Bytes(), nil
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"num": num, "ms": ms, "errors": errorsCell, "colorOf": colorOf, "lag": lagCell, "roundsText": roundsText, "waitShareText": waitShareText,
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>postpipe bench {{.Run.ID}}</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #111827; margin: 2rem auto; max-width: 1180px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #e5e7eb; padding-bottom: .25rem; }
.sub { color: #4b5563; margin-top: 0; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { padding: .3rem .7rem; border-bottom: 1px solid #e5e7eb; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f9fafb; font-weight: 600; }
td.bad { color: #b91c1c; font-weight: 600; }
.sw { display: inline-block; width: .7rem; height: .7rem; border-radius: 2px; margin-right: .4rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 1rem; }
svg { width: 100%; height: auto; background: #fff; border: 1px solid #e5e7eb; border-radius: 6px; }
svg text { font: 11px system-ui, sans-serif; fill: #374151; }
svg .t { font-size: 13px; font-weight: 600; fill: #111827; }
svg .yl { text-anchor: end; }
svg .xl { text-anchor: middle; }
svg .g { stroke: #f3f4f6; }
svg .a { stroke: #9ca3af; }
pre { background: #f3f4f6; padding: .75rem; border-radius: 6px; overflow-x: auto; }
ul { padding-left: 1.2rem; }
.note { background: #fffbeb; border-left: 4px solid #f59e0b; padding: .5rem .75rem; margin: .5rem 0; }
</style>
</head>
<body>
<h1>postpipe bench</h1>
<p class="sub">Run {{.Run.ID}} against {{.Run.Target}}, {{.Run.StartedAt.Format "2006-01-02 15:04:05 MST"}}</p>
<p>{{.Setup}}</p>
{{range .Notes}}<div class="note">{{.}}</div>
{{end}}
<h2>Summary</h2>
<table>
<tr><th>scenario</th><th>endpoint</th><th>requests</th><th>req/s</th><th>peak req/s</th><th>posts/s</th><th>errors</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th></tr>
{{range .Scenarios}}<tr><td><span class="sw" style="background: {{colorOf .Name}}"></span>{{.Name}}</td><td>POST {{.Path}}</td><td>{{.Requests}}</td><td>{{num .RPS}}</td><td>{{num .PeakRPS}}</td><td>{{num .PostsPerS}}</td><td{{if .Errors}} class="bad"{{end}}>{{errors .}}</td><td>{{ms .P50}}</td><td>{{ms .P90}}</td><td>{{ms .P99}}</td><td>{{ms .P999}}</td><td>{{ms .Max}}</td></tr>
{{end}}</table>
{{if .Ratios}}<p>Throughput ratios (posts/s, same run): {{range $i, $r := .Ratios}}{{if $i}}, {{end}}<strong>{{$r.Name}} = {{printf "%.2f" $r.Value}}</strong>{{if $r.Rounds}} ({{roundsText $r.Rounds}}){{end}}{{end}}</p>{{end}}
{{if .CPURows}}
<h2>CPU per accepted post</h2>
<p class="sub">µs of CPU per post accepted in each measured window (per request where marked /req), by process: {{.CPUSource}}.</p>
<table>
<tr><th>scenario</th>{{range .CPUCols}}<th>{{.}}</th>{{end}}</tr>
{{range .CPURows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{if .CPURatios}}<p>CPU per accepted document, same run: {{range $i, $r := .CPURatios}}{{if $i}}, {{end}}<strong>{{$r.Name}} = {{printf "%.2f" $r.Value}}</strong> ({{$r.Basis}}: {{$r.Of}} {{num $r.OfUs}} µs, {{$r.Over}} {{num $r.OverUs}} µs{{if $r.Rounds}}; {{roundsText $r.Rounds}}{{end}}){{end}}</p>{{end}}
{{with .WaitShare}}<p>{{waitShareText .}}</p>{{end}}
{{end}}
{{if .ProducerRows}}
<h2>Producer batching</h2>
<p class="sub">{{.ProducerIntro}}</p>
<table>
<tr>{{range .ProducerCols}}<th>{{.}}</th>{{end}}</tr>
{{range .ProducerRows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{end}}
{{if .OpRows}}
<h2>Reads</h2>
<table>
<tr><th>scenario</th><th>request</th><th>requests</th><th>req/s</th><th>errors</th><th>p50 ms</th><th>p99 ms</th><th>max ms</th></tr>
{{range .OpRows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
<p class="sub">{{.ReadNote}}</p>
{{end}}
{{if .Verifications}}
<h2>Check of the accepted posts</h2>
<p>{{.VerificationTitle}}</p>
<table>
<tr><th>scenario</th><th>accepted</th><th>landed</th><th>lost</th><th>duplicated</th><th>lag p50 ms</th><th>lag p99 ms</th><th>lag max ms</th><th>check s</th></tr>
{{range .Verifications}}<tr><td>{{.Name}}</td><td>{{.Accepted}}</td><td>{{.Landed}}</td><td{{if .Lost}} class="bad"{{end}}>{{.Lost}}</td><td{{if .Duplicated}} class="bad"{{end}}>{{.Duplicated}}</td><td>{{lag .Verification .LagP50}}</td><td>{{lag .Verification .LagP99}}</td><td>{{lag .Verification .LagMax}}</td><td>{{num .CheckS}}</td></tr>
{{end}}</table>
{{range .VerificationNotes}}<p class="sub">{{.}}</p>
{{end}}
{{else}}
<h2>Check of the accepted posts</h2>
<p>Not run (see the notes above).</p>
{{end}}
{{if .UpdateRows}}
<h2>Update check</h2>
<p>Every id's stored state against the model of its accepted ops, after the sink applied them:</p>
<table>
<tr>{{range .UpdateCols}}<th>{{.}}</th>{{end}}</tr>
{{range .UpdateRows}}<tr>{{range $i, $c := .}}<td{{if and (ge $i 8) (le $i 10) (ne $c "0")}} class="bad"{{end}}>{{$c}}</td>{{end}}</tr>
{{end}}</table>
<table>
<tr>{{range .UpdateOpCols}}<th>{{.}}</th>{{end}}</tr>
{{range .UpdateOpRows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{range .UpdateNotes}}<p class="sub">{{.}}</p>
{{end}}
{{end}}
{{if .ScalingRows}}
<h2>Scaling: the API on k cores</h2>
<p>{{.ScalingIntro}}</p>
<table>
<tr>{{range .ScalingCols}}<th>{{.}}</th>{{end}}</tr>
{{range .ScalingRows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{end}}
{{if .ConnsRows}}
<h2>Connections: kafka with more closed-loop clients</h2>
<p>{{.ConnsIntro}}</p>
<table>
<tr>{{range .ConnsCols}}<th>{{.}}</th>{{end}}</tr>
{{range .ConnsRows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
<p>{{.ConnsText}}</p>
{{end}}
<h2>Over time</h2>
<p class="sub">Each scenario's time axis starts at its own beginning; the scenarios ran one after another.</p>
<div class="grid">
{{.Charts.Throughput}}
{{.Charts.VUs}}
{{range .Charts.Latency}}{{.}}
{{end}}</div>
<h2>Setup</h2>
<ul>
{{range .SetupLines}}<li>{{.}}</li>
{{end}}</ul>
<h2>Command</h2>
<pre>{{.Run.Command}}</pre>
</body>
</html>
`))
