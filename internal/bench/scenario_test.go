package bench

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/postpipe/postpipe/internal/post"
)

func scenarioNamed(t *testing.T, name string) scenario {
	t.Helper()
	scs, err := lookupScenarios([]string{name})
	if err != nil {
		t.Fatal(err)
	}
	return scs[0]
}

func TestJudge(t *testing.T) {
	tests := []struct {
		name     string
		scenario string
		status   int
		answer   string
		markers  []string
		want     outcome
	}{
		{name: "noop accepted", scenario: "noop", status: 202, answer: `{"id":"a","status":"accepted"}`, markers: []string{"m1"},
			want: outcome{posts: 1}},
		{name: "kafka accepted: its id must land", scenario: "kafka", status: 202, answer: `{"id":"a","status":"accepted"}`, markers: []string{"m1"},
			want: outcome{posts: 1, accepted: []sentPost{{"a", "m1"}}}},
		{name: "kafka 503", scenario: "kafka", status: 503, answer: `{"title":"unavailable"}`, markers: []string{"m1"},
			want: outcome{failure: "503"}},
		{name: "kafka 503 naming the id the post may land under", scenario: "kafka", status: 503,
			answer: `{"title":"Service Unavailable","status":503,"id":"a"}`, markers: []string{"m1"},
			want: outcome{failure: "503", maybe: []sentPost{{"a", "m1"}}}},
		{name: "direct 503 promises nothing", scenario: "direct", status: 503, answer: `{"id":"a"}`, markers: []string{"m1"},
			want: outcome{failure: "503"}},
		{name: "kafka 202 without an id", scenario: "kafka", status: 202, answer: `{}`, markers: []string{"m1"},
			want: outcome{failure: "bad-answer"}},
		{name: "direct created", scenario: "direct", status: 201, answer: `{"id":"a"}`, markers: []string{"m1"},
			want: outcome{posts: 1}},
		{name: "direct 202 is not its success", scenario: "direct", status: 202, answer: `{"id":"a"}`, markers: []string{"m1"},
			want: outcome{failure: "202"}},
		{name: "batch all accepted", scenario: "batch", status: 207,
			answer: `[{"id":"a","status":202},{"id":"b","status":202}]`, markers: []string{"m1", "m2"},
			want: outcome{posts: 2, accepted: []sentPost{{"a", "m1"}, {"b", "m2"}}}},
		{name: "batch partly refused", scenario: "batch", status: 207,
			answer:  `[{"status":422,"detail":"x"},{"id":"b","status":202},{"id":"c","status":503},{"id":"d","status":503}]`,
			markers: []string{"m1", "m2", "m3", "m4"},
			want: outcome{failure: "207-partial", posts: 1, failed: map[string]int{"422": 1, "503": 2},
				accepted: []sentPost{{"b", "m2"}}, maybe: []sentPost{{"c", "m3"}, {"d", "m4"}}}},
		{name: "batch answer of the wrong length", scenario: "batch", status: 207,
			answer: `[{"id":"a","status":202}]`, markers: []string{"m1", "m2"},
			want: outcome{failure: "bad-answer"}},
		{name: "batch 413", scenario: "batch", status: 413, answer: `{}`, markers: []string{"m1"},
			want: outcome{failure: "413"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scenarioNamed(t, tt.scenario).judge(tt.status, []byte(tt.answer), tt.markers)
			if got.failure != tt.want.failure || got.posts != tt.want.posts ||
				!maps.Equal(got.failed, tt.want.failed) || !slices.Equal(got.accepted, tt.want.accepted) || !slices.Equal(got.maybe, tt.want.maybe) {
				t.Errorf("judge = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLookupScenarios(t *testing.T) {
	tests := []struct {
		names   []string
		want    []string
		wantErr string
	}{
		{names: []string{"noop", "kafka", "direct", "batch"}, want: []string{"noop", "kafka", "direct", "batch"}},
		{names: []string{"batch", "noop"}, want: []string{"batch", "noop"}},
		{names: []string{"kafka", "mongo"}, wantErr: `unknown scenario "mongo"`},
		{names: []string{"kafka", "kafka"}, wantErr: "given twice"},
		{names: nil, wantErr: "no scenario"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.names, ","), func(t *testing.T) {
			got, err := lookupScenarios(tt.names)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v; want an error with %q", err, tt.wantErr)
				}
				return
			}
			var names []string
			for _, s := range got {
				names = append(names, s.name)
			}
			if err != nil || !slices.Equal(names, tt.want) {
				t.Fatalf("got %v, %v; want %v", names, err, tt.want)
			}
		})
	}
}

// TestBodiesAreValidMarkedPosts: what the bench sends passes the server's
// validation, every post has its own marker, and the author marks the run
// and scenario.
func TestBodiesAreValidMarkedPosts(t *testing.T) {
	for _, tt := range []struct {
		scenario     string
		batch        int
		contentBytes int
	}{{"kafka", 1, 300}, {"batch", 50, 300}, {"direct", 1, 1}, {"kafka", 1, 10000}} {
		t.Run(tt.scenario, func(t *testing.T) {
			s := &sender{sc: scenarioNamed(t, tt.scenario), posts: newPosts(newWords(tt.contentBytes), "R1", tt.scenario, tt.contentBytes), batchSize: tt.batch}
			seen := map[string]bool{}
			for range 20 {
				body, markers := s.body(nil, nil)
				var ins []post.Input
				var err error
				if s.sc.batch {
					err = json.Unmarshal(body, &ins)
				} else {
					var in post.Input
					err = json.Unmarshal(body, &in)
					ins = []post.Input{in}
				}
				if err != nil {
					t.Fatalf("body %s: %v", body, err)
				}
				if len(ins) != tt.batch || len(markers) != tt.batch {
					t.Fatalf("%d posts and %d markers in a request, want %d", len(ins), len(markers), tt.batch)
				}
				for i, in := range ins {
					if err := in.Validate(); err != nil {
						t.Fatalf("post %+v: %v", in, err)
					}
					if in.Author != "bench-R1-"+tt.scenario || in.Title != markers[i] || len(in.Content) != tt.contentBytes || in.Subtitle == "" {
						t.Fatalf("post %+v (marker %q) is not shaped as expected", in, markers[i])
					}
					if seen[in.Title] {
						t.Fatalf("marker %q used twice", in.Title)
					}
					seen[in.Title] = true
				}
			}
		})
	}
}
