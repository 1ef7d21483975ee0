package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Every alert of deploy/monitoring links to its section of docs/runbooks.md,
// and alerts_test.yaml makes each one fire and stay silent.
const (
	runbooksFile   = "../../docs/runbooks.md"
	alertTestsFile = "../../deploy/monitoring/alerts_test.yaml"
	// runbookURLBase is where a rule's runbook_url points, less its anchor.
	runbookURLBase = "https://github.com/postpipe/postpipe/blob/main/docs/runbooks.md#"
)

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Annotations map[string]string `yaml:"annotations"`
}

func parseAlertRules(raw []byte) ([]alertRule, error) {
	var f struct {
		Groups []struct {
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		return nil, err
	}
	var out []alertRule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// runbookProblems lists the alerts of rules whose runbook_url is missing,
// points elsewhere than docs/runbooks.md, or names an anchor that no
// heading of runbooks (its text) has; and those without a summary or a
// description.
func runbookProblems(rules []alertRule, runbooks string) []string {
	ids := anchors(runbooks)
	var out []string
	for _, r := range rules {
		for _, a := range []string{"summary", "description"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				out = append(out, r.Alert+": no "+a)
			}
		}
		url, ok := r.Annotations["runbook_url"]
		if !ok {
			out = append(out, r.Alert+": no runbook_url")
			continue
		}
		anchor, ok := strings.CutPrefix(url, runbookURLBase)
		switch {
		case !ok || anchor == "":
			out = append(out, r.Alert+": runbook_url "+url+" is not "+runbookURLBase+"<anchor>")
		case !ids[anchor]:
			out = append(out, r.Alert+": runbook_url "+url+": no heading #"+anchor+" in docs/runbooks.md")
		}
	}
	return out
}

func TestRunbookAnchors(t *testing.T) {
	raw, err := os.ReadFile(alertRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := parseAlertRules(raw)
	if err != nil {
		t.Fatalf("%s: %v", alertRulesFile, err)
	}
	if len(rules) < 6 {
		t.Fatalf("found %d alerts in %s; the file changed shape", len(rules), alertRulesFile)
	}
	runbooks, err := os.ReadFile(runbooksFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range runbookProblems(rules, string(runbooks)) {
		t.Error(p)
	}
}

func TestRunbookProblemsFindsBadLinks(t *testing.T) {
	const runbooks = "# Runbooks\n\n## PostpipeA\n\ntext\n\n```\n## PostpipeInAFence\n```\n"
	rule := func(name, url string) alertRule {
		a := map[string]string{"summary": "s", "description": "d"}
		if url != "" {
			a["runbook_url"] = url
		}
		return alertRule{Alert: name, Annotations: a}
	}
	tests := []struct {
		name string
		rule alertRule
		bad  int
	}{
		{"anchor there", rule("PostpipeA", runbookURLBase+"postpipea"), 0},
		{"anchor missing", rule("PostpipeB", runbookURLBase+"postpipeb"), 1},
		{"heading in a fence", rule("PostpipeC", runbookURLBase+"postpipeinafence"), 1},
		{"no anchor", rule("PostpipeD", strings.TrimSuffix(runbookURLBase, "#")), 1},
		{"another page", rule("PostpipeE", "https://example.com/runbooks.md#postpipea"), 1},
		{"no runbook_url", rule("PostpipeF", ""), 1},
		{"no summary nor description", alertRule{Alert: "PostpipeG", Annotations: map[string]string{"runbook_url": runbookURLBase + "postpipea"}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runbookProblems([]alertRule{tt.rule}, runbooks); len(got) != tt.bad {
				t.Errorf("problems %q, want %d", got, tt.bad)
			}
		})
	}
}

// TestAlertTestsCoverEveryAlert: promtool runs alerts_test.yaml (make
// test-deploy); this checks that it asks of every alert both that it fires
// (an evaluation expecting it) and that it stays silent (one expecting
// none), and names no alert the rules lack.
func TestAlertTestsCoverEveryAlert(t *testing.T) {
	raw, err := os.ReadFile(alertRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := parseAlertRules(raw)
	if err != nil {
		t.Fatal(err)
	}
	raw, err = os.ReadFile(alertTestsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []struct {
					ExpAnnotations map[string]string `yaml:"exp_annotations"`
				} `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s: %v", alertTestsFile, err)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range f.Tests {
		for _, at := range tc.AlertRuleTest {
			if !slices.ContainsFunc(rules, func(r alertRule) bool { return r.Alert == at.Alertname }) {
				t.Errorf("%s tests %s, which %s does not define", alertTestsFile, at.Alertname, alertRulesFile)
			}
			if len(at.ExpAlerts) == 0 {
				silent[at.Alertname] = true
				continue
			}
			fires[at.Alertname] = true
			for _, e := range at.ExpAlerts {
				if e.ExpAnnotations["runbook_url"] == "" {
					t.Errorf("%s: a case of %s expects it without its runbook_url", alertTestsFile, at.Alertname)
				}
			}
		}
	}
	for _, r := range rules {
		if !fires[r.Alert] {
			t.Errorf("%s never makes %s fire", alertTestsFile, r.Alert)
		}
		if !silent[r.Alert] {
			t.Errorf("%s never expects %s to stay silent", alertTestsFile, r.Alert)
		}
	}
}
