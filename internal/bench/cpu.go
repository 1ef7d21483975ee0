package bench

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// CPU accounting: how much CPU each process the bench knows spent on a
// scenario's measured window, per post accepted in it. It reads utime and
// stime of /proc/<pid>/stat at the start and the end of the window. A
// process is counted with its descendants (PostgreSQL's backends are the
// postmaster's children), found by their parent pid.

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// which Linux fixes at 100 for user space whatever the kernel's HZ.
const userHZ = 100

// BenchClient is the name the bench's own process is accounted under.
const BenchClient = "bench"

// ProcessGroup is a named set of processes whose CPU is added up: the
// listed pids and all their descendants.
type ProcessGroup struct {
	Name string
	PIDs []int
}

// ParseProcessGroups reads "api=12,broker=34,store=56+78": a name and the
// pids of its processes (joined by +). An empty string gives no group.
func ParseProcessGroups(s string) ([]ProcessGroup, error) {
	var out []ProcessGroup
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		name, pids, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("%q: want name=pid[+pid…], e.g. api=1234", part)
		}
		if seen[name] || name == BenchClient {
			return nil, fmt.Errorf("%q: the name %s is taken", part, name)
		}
		seen[name] = true
		g := ProcessGroup{Name: name}
		for p := range strings.SplitSeq(pids, "+") {
			if p == "" {
				continue // a process that is not running: the group is empty
			}
			n, err := strconv.Atoi(p)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("%q: bad pid %q", part, p)
			}
			g.PIDs = append(g.PIDs, n)
		}
		out = append(out, g)
	}
	return out, nil
}

// procStat is what the accounting needs of one /proc/<pid>/stat.
type procStat struct {
	ppid  int
	ticks uint64 // utime + stime, in 1/userHZ s
}

// parseProcStat reads a /proc/<pid>/stat line. The command name (field 2)
// is in parentheses and may hold spaces and parentheses itself, so the
// fields are counted from the last ')': state is field 3, ppid 4, utime 14,
// stime 15.
func parseProcStat(line string) (procStat, error) {
	end := strings.LastIndexByte(line, ')')
	if end < 0 {
		return procStat{}, fmt.Errorf("no command name in %q", line)
	}
	f := strings.Fields(line[end+1:]) // f[0] is field 3
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, fmt.Errorf("ppid %q: %w", f[1], err)
	}
	utime, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("utime %q: %w", f[11], err)
	}
	stime, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("stime %q: %w", f[12], err)
	}
	return procStat{ppid: ppid, ticks: utime + stime}, nil
}

// cpuSample is, per group, the CPU ticks of each of its processes at one
// moment.
type cpuSample map[string]map[int]uint64

// procfs reads process statistics under root (/proc, or a fake one in
// tests).
type procfs struct{ root string }

// all reads the stat of every process; processes that vanish while it
// reads are left out.
func (p procfs) all() map[int]procStat {
	entries, _ := os.ReadDir(p.root)
	out := make(map[int]procStat, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(p.root, e.Name(), "stat"))
		if err != nil {
			continue
		}
		st, err := parseProcStat(string(bytes.TrimSpace(b)))
		if err != nil {
			continue
		}
		out[pid] = st
	}
	return out
}

// sample reads the ticks of every group's processes and their descendants.
func (p procfs) sample(groups []ProcessGroup) cpuSample {
	procs := p.all()
	children := map[int][]int{}
	for pid, st := range procs {
		children[st.ppid] = append(children[st.ppid], pid)
	}
	out := make(cpuSample, len(groups))
	for _, g := range groups {
		ticks := map[int]uint64{}
		todo := slices.Clone(g.PIDs)
		for len(todo) > 0 {
			pid := todo[len(todo)-1]
			todo = todo[:len(todo)-1]
			st, ok := procs[pid]
			if _, done := ticks[pid]; !ok || done {
				continue
			}
			ticks[pid] = st.ticks
			todo = append(todo, children[pid]...)
		}
		out[g.Name] = ticks
	}
	return out
}

// cpuSeconds is, per group, the CPU seconds spent between two samples.
// A process in both counts its growth; one that appeared in between (a new
// PostgreSQL backend) counts all it has, spent within the window; one that
// ended in between is missed, its last part of a tick per process at most
// being unknown — the accounting undercounts there, never overcounts.
func cpuSeconds(before, after cpuSample) map[string]float64 {
	out := make(map[string]float64, len(after))
	for name, now := range after {
		var ticks uint64
		for pid, t := range now {
			t0, ok := before[name][pid]
			switch {
			case !ok:
				ticks += t
			case t >= t0:
				ticks += t - t0
			}
		}
		out[name] = float64(ticks) / userHZ
	}
	return out
}

// perUnit divides CPU seconds by a count, in microseconds each; nil when
// the count is zero.
func perUnit(secs map[string]float64, n int64) map[string]float64 {
	if n <= 0 || len(secs) == 0 {
		return nil
	}
	out := make(map[string]float64, len(secs))
	for name, s := range secs {
		out[name] = round3(s * 1e6 / float64(n))
	}
	return out
}

// cpuOrder lists group names in the report's order: the known ones first,
// the bench client last.
func cpuOrder(m map[string]float64) []string {
	known := []string{"api", "broker", "sink", "store"}
	var out []string
	for _, k := range known {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(known, k) && k != BenchClient {
			out = append(out, k)
		}
	}
	if _, ok := m[BenchClient]; ok {
		out = append(out, BenchClient)
	}
	return out
}

// The CPUs a process may run on. deploy/bench.sh pins the API, the broker
// and the bench client to CPUs of their own for its scaling runs; the
// results record what each process was allowed, read back from /proc, not
// what the script meant to set.

// affinity is the Cpus_allowed_list of /proc/<pid>/status ("0-3,6"); ""
// where it cannot be read.
func (p procfs) affinity(pid int) string {
	b, err := os.ReadFile(filepath.Join(p.root, strconv.Itoa(pid), "status"))
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// affinities is each group's affinity, that of its first process: a group
// is pinned as a whole (taskset -a), or not at all.
func (p procfs) affinities(groups []ProcessGroup) map[string]string {
	out := map[string]string{}
	for _, g := range groups {
		if len(g.PIDs) == 0 {
			continue
		}
		if a := p.affinity(g.PIDs[0]); a != "" {
			out[g.Name] = a
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// environ is the value of the variable name in the environment the
// process started with (/proc/<pid>/environ, readable by its user only);
// "" where it is not set or cannot be read.
func (p procfs) environ(pid int, name string) string {
	b, err := os.ReadFile(filepath.Join(p.root, strconv.Itoa(pid), "environ"))
	if err != nil {
		return ""
	}
	for kv := range bytes.SplitSeq(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte(name+"=")); ok {
			return string(v)
		}
	}
	return ""
}

// countCPUs counts the CPUs of a list as Linux writes one ("0-3,6" is 5);
// 0 for one it cannot read.
func countCPUs(list string) int {
	n := 0
	for part := range strings.SplitSeq(strings.TrimSpace(list), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return 0
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0
			}
		}
		n += b - a + 1
	}
	return n
}
