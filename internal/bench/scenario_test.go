package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
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
		{name: "kafka accepted, as the API writes it", scenario: "kafka", status: 202, answer: `{"id":"a","status":"accepted"}` + "\n", markers: []string{"m1"},
			want: outcome{posts: 1, accepted: []sentPost{{"a", "m1"}}}},
		{name: "kafka accepted, another shape", scenario: "kafka", status: 202, answer: `{ "status": "accepted", "id": "a\u0062" }`, markers: []string{"m1"},
			want: outcome{posts: 1, accepted: []sentPost{{"ab", "m1"}}}},
		{name: "kafka 202 with an empty id", scenario: "kafka", status: 202, answer: `{"id":"","status":"accepted"}`, markers: []string{"m1"},
			want: outcome{failure: "bad-answer"}},
		{name: "kafka 202 that is not JSON", scenario: "kafka", status: 202, answer: `{"id":"a","status":"accepted"`, markers: []string{"m1"},
			want: outcome{failure: "bad-answer"}},
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

// TestAppendJSONString: what the bench's encoder writes decodes back to the
// string (or, for invalid UTF-8, to what encoding/json makes of it), and a
// post encodes byte for byte as json.Marshal encodes it.
func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{
		"", "plain lowercase words", `a "quoted" word`, `back\slash`, "line\nbreak\r\ttab",
		"\x00\x01\x1f\x7f", "\b\f", "héllo wörld ✓ 😀", "bad \xff utf-8 \xc3", "line\u2028para\u2029", "<a&b>",
	} {
		t.Run(s, func(t *testing.T) {
			enc := post.AppendQuoted([]byte("prefix:"), s)
			enc, ok := bytes.CutPrefix(enc, []byte("prefix:"))
			if !ok {
				t.Fatalf("the prefix was not kept: %q", enc)
			}
			var got string
			if err := json.Unmarshal(enc, &got); err != nil {
				t.Fatalf("%q encoded as %s: %v", s, enc, err)
			}
			want, _ := json.Marshal(s)
			var wantStr string
			_ = json.Unmarshal(want, &wantStr)
			if got != wantStr {
				t.Errorf("%q encoded as %s decodes to %q, want %q", s, enc, got, wantStr)
			}
		})
	}
	for _, in := range []post.Input{
		newPosts(newWords(300), "R1", "kafka", 300).next(),
		{Author: "a", Title: "t", Content: "c"},
		{Author: "a", Title: "t", Subtitle: "s", Content: "c", Tags: []string{"x", "y z"}},
	} {
		want, _ := json.Marshal(in)
		if got := appendPost(nil, in); !bytes.Equal(got, want) {
			t.Errorf("appendPost = %s\nwant (json.Marshal) %s", got, want)
		}
	}
}

// TestAcceptedID: the fast read of a 202 takes the API's own shape and
// leaves every other one to json.Unmarshal.
func TestAcceptedID(t *testing.T) {
	tests := []struct {
		answer string
		id     string
		ok     bool
	}{
		{answer: `{"id":"0196a1b2","status":"accepted"}` + "\n", id: "0196a1b2", ok: true},
		{answer: `{"id":"a","status":"accepted"}`, id: "a", ok: true},
		{answer: `{"id":"","status":"accepted"}`},
		{answer: `{"id":"a\u0062","status":"accepted"}`},
		{answer: `{"id":"a","b":"c","status":"accepted"}`},
		{answer: `{"status":"accepted","id":"a"}`},
		{answer: `{"id":"a", "status":"accepted"}`},
		{answer: `{"id":"a","status":"queued"}`},
		{answer: `{"id":"a`},
		{answer: ``},
	}
	for _, tt := range tests {
		t.Run(tt.answer, func(t *testing.T) {
			id, ok := acceptedID([]byte(tt.answer))
			if id != tt.id || ok != tt.ok {
				t.Errorf("acceptedID = %q, %v; want %q, %v", id, ok, tt.id, tt.ok)
			}
		})
	}
}

func TestTurns(t *testing.T) {
	scs, err := lookupScenarios([]string{"batch", "noop", "kafka", "read", "update"})
	if err != nil {
		t.Fatal(err)
	}
	// name/round(of rounds), ! where the scenarios done are checked
	show := func(ts []turn) string {
		var parts []string
		for _, t := range ts {
			p := fmt.Sprintf("%s/%d(%d)", scs[t.scenario].name, t.round+1, t.rounds)
			if t.checks {
				p += "!"
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, " ")
	}
	tests := []struct {
		name       string
		rounds     int
		othersOnce bool
		want       string
	}{
		// update first, once, whatever is given: the collection is small then.
		{"one round: in the order given", 1, false, "update/1(1)! batch/1(1)! noop/1(1)! kafka/1(1)! read/1(1)!"},
		{"no rounds is one", 0, false, "update/1(1)! batch/1(1)! noop/1(1)! kafka/1(1)! read/1(1)!"},
		{"the compared take turns, the others follow, their rounds in a row", 2, false,
			"update/1(1)! noop/1(2) kafka/1(2) noop/2(2) kafka/2(2)! batch/1(2) batch/2(2)! read/1(2) read/2(2)!"},
		{"the others once", 3, true,
			"update/1(1)! noop/1(3) kafka/1(3) noop/2(3) kafka/2(3) noop/3(3) kafka/3(3)! batch/1(1)! read/1(1)!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := show(turns(scs, max(tt.rounds, 1), tt.othersOnce)); got != tt.want {
				t.Errorf("turns = %s\n        want %s", got, tt.want)
			}
		})
	}
}
