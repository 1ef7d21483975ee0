package bench

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

const sec = time.Second

func TestParseStages(t *testing.T) {
	tests := []struct {
		in      string
		want    []Stage
		wantErr string
	}{
		{in: "30s:100,60s:100,30s:0", want: []Stage{{30 * sec, 100}, {60 * sec, 100}, {30 * sec, 0}}},
		{in: " 1m:5 , 500ms:0", want: []Stage{{time.Minute, 5}, {500 * time.Millisecond, 0}}},
		{in: "0s:10,5s:10", want: []Stage{{0, 10}, {5 * sec, 10}}},
		{in: "", wantErr: "want duration:target"},
		{in: "30s", wantErr: "want duration:target"},
		{in: "30:100", wantErr: "bad duration"},
		{in: "-1s:5", wantErr: "bad duration"},
		{in: "1s:-5", wantErr: "bad target"},
		{in: "1s:many", wantErr: "bad target"},
		{in: "1s:5,", wantErr: "want duration:target"},
		{in: "0s:5", wantErr: "lasts no time"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseStages(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseStages(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("ParseStages(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestResolveLoad(t *testing.T) {
	tests := []struct {
		name                  string
		profile, stages, rate string
		duration              time.Duration
		want                  Load
		wantErr               string
	}{
		{name: "seed is the original k6 test", profile: "seed",
			want: Load{Closed, []Stage{{30 * sec, 100}, {60 * sec, 100}, {30 * sec, 0}}, "profile seed", 10 * sec, 0, false}},
		{name: "quick", profile: "quick",
			want: Load{Closed, []Stage{{1 * sec, 50}, {4 * sec, 50}, {1 * sec, 0}}, "profile quick", 3 * sec, 3, true}},
		{name: "ingest: 100 VUs at once, 4 rounds of 5 s after a 15 s warm-up", profile: "ingest",
			want: Load{Closed, []Stage{{0, 100}, {5 * sec, 100}}, "profile ingest", 15 * sec, 4, false}},
		{name: "stages override the profile, not its warm-up", profile: "seed", stages: "1s:5",
			want: Load{Closed, []Stage{{sec, 5}}, "--stages", 10 * sec, 0, false}},
		{name: "constant rate lasts the profile", profile: "quick", rate: "200",
			want: Load{Open, []Stage{{0, 200}, {6 * sec, 200}}, "--rate", 3 * sec, 3, true}},
		{name: "constant rate with a duration", profile: "seed", rate: "200", duration: 3 * sec,
			want: Load{Open, []Stage{{0, 200}, {3 * sec, 200}}, "--rate", 10 * sec, 0, false}},
		{name: "rate stages", profile: "seed", rate: "2s:100,1s:0",
			want: Load{Open, []Stage{{2 * sec, 100}, {sec, 0}}, "--rate", 10 * sec, 0, false}},
		{name: "unknown profile", profile: "huge", wantErr: "unknown profile"},
		{name: "both models", profile: "seed", stages: "1s:5", rate: "10", wantErr: "exclude each other"},
		{name: "zero rate", profile: "seed", rate: "0", wantErr: "must be positive"},
		{name: "duration with rate stages", profile: "seed", rate: "1s:5", duration: sec, wantErr: "constant --rate"},
		{name: "duration alone", profile: "seed", duration: sec, wantErr: "constant --rate"},
		{name: "bad stages", profile: "seed", stages: "1s", wantErr: "--stages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveLoad(tt.profile, tt.stages, tt.rate, tt.duration)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Model != tt.want.Model || got.Source != tt.want.Source || got.Warmup != tt.want.Warmup || !slices.Equal(got.Stages, tt.want.Stages) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestResolveLoadDoesNotShareTheProfile(t *testing.T) {
	l, err := ResolveLoad("seed", "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	l.Stages[0].Target = 1
	if again, _ := ResolveLoad("seed", "", "", 0); again.Stages[0].Target != 100 {
		t.Fatalf("changing a resolved load changed the profile: %v", again.Stages)
	}
}

func TestVUsAt(t *testing.T) {
	seed := profiles["seed"].stages
	tests := []struct {
		name    string
		stages  []Stage
		elapsed time.Duration
		want    int
	}{
		{"start of the ramp", seed, 0, 0},
		{"first user once a whole one is due", seed, 299 * time.Millisecond, 0},
		{"first user", seed, 300 * time.Millisecond, 1},
		{"a third of the ramp", seed, 10 * sec, 33},
		{"half the ramp", seed, 15 * sec, 50},
		{"end of the ramp", seed, 30 * sec, 100},
		{"holding", seed, 60 * sec, 100},
		{"start of the ramp down", seed, 90 * sec, 100},
		{"ramp down keeps a user until it is wholly gone", seed, 90*sec + 299*time.Millisecond, 100},
		{"ramp down", seed, 90*sec + 300*time.Millisecond, 99},
		{"half the ramp down", seed, 105 * sec, 50},
		{"nearly over", seed, 120*sec - time.Millisecond, 1},
		{"over", seed, 120 * sec, 0},
		{"long over", seed, time.Hour, 0},
		{"a step", []Stage{{0, 10}, {sec, 10}}, 0, 10},
		{"steps up and down", []Stage{{sec, 10}, {0, 40}, {sec, 40}}, 1500 * time.Millisecond, 40},
		{"ramp between two levels", []Stage{{sec, 10}, {2 * sec, 30}}, 2 * sec, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := vusAt(tt.stages, tt.elapsed); got != tt.want {
				t.Errorf("vusAt(%v, %sec) = %d, want %d", tt.stages, tt.elapsed, got, tt.want)
			}
		})
	}
}

func TestStageAt(t *testing.T) {
	st := []Stage{{sec, 1}, {0, 5}, {2 * sec, 5}}
	for _, tt := range []struct {
		elapsed time.Duration
		want    int
	}{{0, 0}, {999 * time.Millisecond, 0}, {sec, 2}, {2 * sec, 2}, {3 * sec, 2}, {time.Hour, 2}} {
		if got := stageAt(st, tt.elapsed); got != tt.want {
			t.Errorf("stageAt(%sec) = %d, want %d", tt.elapsed, got, tt.want)
		}
	}
}

// allArrivals drains an arrival schedule.
func allArrivals(t *testing.T, stages []Stage) []time.Duration {
	t.Helper()
	a := newArrivals(stages)
	var out []time.Duration
	for {
		off, ok := a.Next()
		if !ok {
			return out
		}
		if len(out) > 1e6 {
			t.Fatal("the schedule does not end")
		}
		out = append(out, off)
	}
}

func TestArrivalsConstantRate(t *testing.T) {
	got := allArrivals(t, []Stage{{0, 10}, {sec, 10}})
	if len(got) != 10 {
		t.Fatalf("10/s for 1s gave %d arrivals: %v", len(got), got)
	}
	for i, off := range got {
		if want := time.Duration(i) * 100 * time.Millisecond; (off - want).Abs() > time.Microsecond {
			t.Errorf("arrival %d at %s, want %s", i, off, want)
		}
	}
}

func TestArrivalsRamp(t *testing.T) {
	// 0 → 100/s over 2 s: 100 arrivals, due when t²·25 = k, so at √(k/25).
	got := allArrivals(t, []Stage{{2 * sec, 100}})
	if len(got) != 100 {
		t.Fatalf("a ramp 0→100/s over 2s gave %d arrivals, want 100", len(got))
	}
	for _, k := range []int{0, 1, 25, 64, 99} {
		want := time.Duration(math.Sqrt(float64(k)/25) * float64(time.Second))
		if (got[k] - want).Abs() > time.Microsecond {
			t.Errorf("arrival %d at %s, want %s", k, got[k], want)
		}
	}
	// Arrivals come closer together as the rate rises.
	if first, last := got[1]-got[0], got[99]-got[98]; first <= last {
		t.Errorf("first gap %s is not wider than the last %s", first, last)
	}
}

func TestArrivalsCountMatchesSchedule(t *testing.T) {
	tests := [][]Stage{
		{{0, 10}, {sec, 10}},
		{{2 * sec, 100}},
		{{sec, 50}, {2 * sec, 50}, {sec, 0}},
		{{1500 * time.Millisecond, 7}, {0, 30}, {700 * time.Millisecond, 3}},
		{{sec, 0}, {sec, 0}, {sec, 20}},
	}
	for _, st := range tests {
		got := allArrivals(t, st)
		if want := newArrivals(st).Count(); len(got) != want {
			t.Errorf("%v: %d arrivals, Count says %d", st, len(got), want)
		}
		total := totalDuration(st)
		for i, off := range got {
			if off < 0 || off > total || i > 0 && off < got[i-1] {
				t.Fatalf("%v: arrival %d at %s is out of order or outside [0, %s]", st, i, off, total)
			}
		}
	}
}
