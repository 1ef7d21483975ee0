package bench

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// statLine is a /proc/<pid>/stat line of a process named comm with the
// given parent and CPU ticks (utime, stime); cutime and cstime are set to
// show they are not counted.
func statLine(pid int, comm string, ppid int, utime, stime uint64) string {
	return fmt.Sprintf("%d (%s) S %d %d %d 0 -1 4194560 100 0 0 0 %d %d 999 999 20 0 1 0 100 1000 10 18446744073709551615",
		pid, comm, ppid, pid, pid, utime, stime)
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    procStat
		wantErr bool
	}{
		{name: "plain", line: statLine(42, "postpipe", 1, 150, 50), want: procStat{ppid: 1, ticks: 200}},
		{name: "a command name with spaces and parentheses", line: statLine(43, "a) (b c) S 9 9", 7, 3, 4), want: procStat{ppid: 7, ticks: 7}},
		{name: "real java line", line: "4711 (java) S 1 4711 4711 0 -1 1077936384 51890 0 3 0 2331 412 0 0 20 0 61 0 1234 4021346304 89312 18446744073709551615",
			want: procStat{ppid: 1, ticks: 2743}},
		{name: "no command", line: "42 postpipe S 1", wantErr: true},
		{name: "too short", line: "42 (x) S 1 2 3", wantErr: true},
		{name: "not a number", line: "42 (x) S 1 1 1 0 -1 0 0 0 0 0 ten 5 0 0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat(tt.line)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// fakeProc writes a /proc with the given stat lines (pid → line), and a
// few entries that are not processes.
func fakeProc(t *testing.T, root string, procs map[int]string) {
	t.Helper()
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	for pid, line := range procs {
		dir := filepath.Join(root, fmt.Sprint(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, junk := range []string{"self", "stat", "99999"} { // 99999: a process gone, no stat file
		if err := os.MkdirAll(filepath.Join(root, junk), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCPUAccountingOverAWindow(t *testing.T) {
	root := filepath.Join(t.TempDir(), "proc")
	groups := []ProcessGroup{{Name: "api", PIDs: []int{10}}, {Name: "store", PIDs: []int{20, 30}}, {Name: "sink", PIDs: []int{40}}}
	p := procfs{root: root}

	// Before: api; FerretDB (20) and the postmaster (30) with two backends,
	// one of them (32) will end; an unrelated process (50) whose parent is 1.
	fakeProc(t, root, map[int]string{
		10: statLine(10, "postpipe", 1, 1000, 200),
		20: statLine(20, "postpipe", 1, 500, 100),
		30: statLine(30, "postgres", 1, 50, 50),
		31: statLine(31, "postgres", 30, 300, 100),
		32: statLine(32, "postgres", 30, 70, 0),
		50: statLine(50, "other", 1, 5, 5),
	})
	before := p.sample(groups)
	// After 1 s: api spent 1.5 s, FerretDB 0.4 s, backend 31 0.2 s, a new
	// backend 33 (a grandchild of 30, through 31) 0.05 s; 32 ended; the
	// postmaster idled; 50 burnt 10 s but is no one's.
	fakeProc(t, root, map[int]string{
		10: statLine(10, "postpipe", 1, 1120, 230),
		20: statLine(20, "postpipe", 1, 530, 110),
		30: statLine(30, "postgres", 1, 50, 50),
		31: statLine(31, "postgres", 30, 315, 105),
		33: statLine(33, "postgres", 31, 4, 1),
		50: statLine(50, "other", 1, 505, 505),
	})
	after := p.sample(groups)

	secs := cpuSeconds(before, after)
	want := map[string]float64{"api": 1.5, "store": 0.4 + 0.2 + 0.05, "sink": 0}
	for name, w := range want {
		if got := secs[name]; fmt.Sprintf("%.3f", got) != fmt.Sprintf("%.3f", w) {
			t.Errorf("%s: %.3f CPU s, want %.3f", name, got, w)
		}
	}
	if len(secs) != len(want) {
		t.Errorf("groups %v, want %v", slices.Sorted(maps.Keys(secs)), slices.Sorted(maps.Keys(want)))
	}

	per := perUnit(secs, 10000) // 10,000 posts accepted in the window
	if per["api"] != 150 || per["store"] != 65 || per["sink"] != 0 {
		t.Errorf("µs per post = %v, want api 150, store 65, sink 0", per)
	}
	if perUnit(secs, 0) != nil {
		t.Error("µs per post with no post accepted: want none")
	}
}

func TestCPUSecondsNeverGoNegative(t *testing.T) {
	// A pid reused by a new process between the samples reads lower.
	before := cpuSample{"api": {10: 500}}
	after := cpuSample{"api": {10: 20}}
	if got := cpuSeconds(before, after)["api"]; got != 0 {
		t.Errorf("got %v CPU s, want 0", got)
	}
}

func TestParseProcessGroups(t *testing.T) {
	tests := []struct {
		in      string
		want    []ProcessGroup
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "api=12,broker=34,store=56+78,sink=", want: []ProcessGroup{{"api", []int{12}}, {"broker", []int{34}}, {"store", []int{56, 78}}, {"sink", nil}}},
		{in: "api", wantErr: true},
		{in: "api=x", wantErr: true},
		{in: "api=1,api=2", wantErr: true},
		{in: "bench=1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseProcessGroups(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !slices.EqualFunc(got, tt.want, func(a, b ProcessGroup) bool { return a.Name == b.Name && slices.Equal(a.PIDs, b.PIDs) }) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAffinityAndEnviron(t *testing.T) {
	root := filepath.Join(t.TempDir(), "proc")
	write := func(pid int, name, content string) {
		dir := filepath.Join(root, fmt.Sprint(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(10, "status", "Name:\tpostpipe\nCpus_allowed:\t1\nCpus_allowed_list:\t0\nMems_allowed_list:\t0\n")
	write(10, "environ", "PATH=/bin\x00GOMAXPROCS=1\x00POSTPIPE_X=GOMAXPROCS=9\x00")
	write(20, "status", "Name:\tjava\nCpus_allowed_list:\t1-3\n")
	write(30, "environ", "PATH=/bin\x00")
	p := procfs{root: root}
	got := p.affinities([]ProcessGroup{{Name: "api", PIDs: []int{10}}, {Name: "broker", PIDs: []int{20, 21}}, {Name: "sink"}, {Name: "gone", PIDs: []int{99}}})
	if want := map[string]string{"api": "0", "broker": "1-3"}; !maps.Equal(got, want) {
		t.Errorf("affinities = %v, want %v", got, want)
	}
	if p.affinities([]ProcessGroup{{Name: "gone", PIDs: []int{99}}}) != nil {
		t.Error("no affinity read: want nil")
	}
	for pid, want := range map[int]string{10: "1", 30: "", 99: ""} {
		if got := p.environ(pid, "GOMAXPROCS"); got != want {
			t.Errorf("GOMAXPROCS of %d = %q, want %q", pid, got, want)
		}
	}
	if got := (procfs{root: "/proc"}).affinity(os.Getpid()); countCPUs(got) < 1 {
		t.Errorf("this process's affinity %q", got)
	}
}

func TestCountCPUs(t *testing.T) {
	for list, want := range map[string]int{"0": 1, "0-1": 2, "0-3,6": 5, "2,4-5,8-11": 7, " 0-15\n": 16, "": 0, "x": 0, "3-1": 0, "0-": 0} {
		if got := countCPUs(list); got != want {
			t.Errorf("countCPUs(%q) = %d, want %d", list, got, want)
		}
	}
}
