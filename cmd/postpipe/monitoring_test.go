package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"
)

// The Grafana dashboard and the alert rules of deploy/monitoring: every
// metric they query must be one the processes expose.
const (
	dashboardFile  = "../../deploy/monitoring/grafana-dashboard.json"
	alertRulesFile = "../../deploy/monitoring/alerts.yaml"
)

// synthetic are series Prometheus makes itself, not found on any /metrics.
var synthetic = map[string]bool{"up": true}

// monitoringQueries returns every PromQL expression of the dashboard and
// the rule file, each with where it is.
func monitoringQueries(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}

	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"` // a collapsed row's panels
	}
	var dash struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var walk func([]json.RawMessage)
	walk = func(panels []json.RawMessage) {
		for _, r := range panels {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("%s: %v", dashboardFile, err)
			}
			for _, tg := range p.Targets {
				out[tg.Expr] = "dashboard panel " + p.Title
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)

	raw, err = os.ReadFile(alertRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert  string `yaml:"alert"`
				Record string `yaml:"record"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("%s: %v", alertRulesFile, err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out[r.Expr] = "rule " + r.Alert + r.Record
		}
	}
	if len(out) < 10 {
		t.Fatalf("found %d queries in %s and %s; the files changed shape", len(out), dashboardFile, alertRulesFile)
	}
	return out
}

var (
	promqlStrings   = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	promqlMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlVariables = regexp.MustCompile(`\$\{?\w+\}?`)
	promqlNumbers   = regexp.MustCompile(`\b[0-9][0-9A-Za-z_.]*`) // 0.99, 1e3, 5m
	promqlIdent     = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?`)
	promqlKeywords  = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	}
)

// promqlMetricNames are the metric names expr selects: identifiers that
// are not in strings, label matchers, ranges or grouping clauses, not
// functions or aggregations (followed by "(") and not keywords. Enough for
// the queries of deploy/monitoring, which TestPromQLMetricNames pins.
func promqlMetricNames(expr string) []string {
	s := promqlStrings.ReplaceAllString(expr, `""`)
	s = promqlMatchers.ReplaceAllString(s, " ")
	s = promqlRanges.ReplaceAllString(s, " ")
	s = promqlGrouping.ReplaceAllString(s, " ")
	s = promqlVariables.ReplaceAllString(s, " ")
	s = promqlNumbers.ReplaceAllString(s, " ")
	var names []string
	for _, m := range promqlIdent.FindAllString(s, -1) {
		if strings.HasSuffix(m, "(") || promqlKeywords[strings.ToLower(m)] {
			continue
		}
		if !slices.Contains(names, m) {
			names = append(names, m)
		}
	}
	return names
}

func TestPromQLMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`up{job=~".*postpipe.*"} == 0`, []string{"up"}},
		{`max by (partition) (postpipe_sink_lag_seconds) > 30`, []string{"postpipe_sink_lag_seconds"}},
		{`sum(rate(a_total{route=~"POST .*", code="503"}[5m])) / sum(rate(a_total{route=~"POST .*"}[$__rate_interval]))`, []string{"a_total"}},
		{`histogram_quantile(0.99, sum by (le, route) (rate(h_bucket{route="x"}[1m])))`, []string{"h_bucket"}},
		{`absent(r{check="sink"} == 1)`, []string{"r"}},
		{`1 - min by (instance, check) (r)`, []string{"r"}},
		{`count by (version, revision) (b) or vector($max_in_flight) unless on (x) c offset 5m`, []string{"b", "c"}},
		{"sum(x{a='by (y)', b=`z{`})", []string{"x"}},
	}
	for _, tt := range tests {
		if got := promqlMetricNames(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("promqlMetricNames(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

// checkMonitoringReferences fails for every metric the dashboard or the
// alert rules query that neither the API's nor the sink's /metrics shows.
func checkMonitoringReferences(t *testing.T, scraped ...map[string]*dto.MetricFamily) {
	t.Helper()
	exposed := func(name string) bool {
		for _, fams := range scraped {
			if _, ok := fams[name]; ok {
				return true
			}
			// A histogram's series are its family name plus a suffix.
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suffix); ok {
					if f, ok := fams[base]; ok && (f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY) {
						return true
					}
				}
			}
		}
		return false
	}
	seen := 0
	for expr, where := range monitoringQueries(t) {
		names := promqlMetricNames(expr)
		if len(names) == 0 && !strings.HasPrefix(expr, "vector(") { // a constant line, e.g. a limit
			t.Errorf("%s: no metric in %q", where, expr)
		}
		for _, n := range names {
			seen++
			if !synthetic[n] && !exposed(n) {
				t.Errorf("%s queries %s, which no postpipe process exposes (query %q)", where, n, expr)
			}
		}
	}
	t.Logf("checked %d metric references in the dashboard and the alert rules", seen)
}
