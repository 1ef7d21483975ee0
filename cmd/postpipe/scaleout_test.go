package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/bench"
)

// 'make bench-scale' (deploy/scale-out.sh) runs TestScaleOut on the local
// 3-node Kafka cluster and FerretDB on PostgreSQL: two api processes under
// a steady open-model load of batch requests, more than one sink stores,
// while the sink group grows 1 → 2 → 3 and shrinks to 2 again. It reports
// the stored posts/s of each phase (from the group's committed offsets: a
// commit follows a durable write), the longest stall of any partition after
// each join and leave, the CPU seconds of every process, and checks that
// every accepted post is stored exactly once. SCALE_PHASE sets a phase's
// length, SCALE_RATE the batch requests/s per api, SCALE_OUT a file for the
// report.

// scalePhase is one stretch of the run with a fixed number of sinks.
type scalePhase struct {
	name     string
	sinks    int
	from, to time.Time
	stored   int64         // committed offsets gained in [from, to)
	pause    time.Duration // longest partition stall after the change
}

func TestScaleOut(t *testing.T) {
	if suite != "scale" {
		skipOutside(t, "scale", "the scale-out measurement: run 'make bench-scale' (deploy/scale-out.sh)")
	}
	env, ok := realEnv(t, "POSTPIPE_TEST_KAFKA_CLUSTER_BROKERS")
	if !ok {
		t.Fatal("needs POSTPIPE_TEST_KAFKA_CLUSTER_BROKERS and POSTPIPE_TEST_MONGODB_URI")
	}
	phase := envDuration(t, "SCALE_PHASE", 40*time.Second)
	rate := envInt(t, "SCALE_RATE", 40)
	const batch = 50
	env = with(env, "POSTPIPE_KAFKA_REPLICATION", "3", "POSTPIPE_KAFKA_PARTITIONS", "6", "POSTPIPE_LOG_LEVEL", "warn")

	var procs sync.Map // name → *extProc, for the CPU table
	start := func(name, sub string, extra ...string) *extProc {
		p := startBinary(t, name, sub, with(env, extra...))
		procs.Store(name, p)
		return p
	}
	apis := []string{freeAddr(t), freeAddr(t)}
	for i, a := range apis {
		start(fmt.Sprintf("api-%d", i+1), "api", "POSTPIPE_HTTP_ADDR", a)
	}
	sinks := []*extProc{start("sink-1", "sink", "POSTPIPE_KAFKA_INSTANCE_ID", "sink-1")}
	for _, a := range apis {
		waitReady(t, "http://"+a)
	}
	connectMongo(t, env) // drops the run's database at the end

	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(env["POSTPIPE_KAFKA_BROKERS"], ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	sampler := newCommitSampler(adm, env["POSTPIPE_KAFKA_GROUP"], env["POSTPIPE_KAFKA_TOPIC"])
	go sampler.run()
	defer sampler.stop()
	cpuBefore := cpuOf(&procs)

	// The load: the same open model on each api, for all the phases.
	loadFor := 4*phase + 10*time.Second
	type outcome struct {
		res *bench.Results
		err error
	}
	done := make(chan outcome, len(apis))
	for _, a := range apis {
		go func() {
			res, err := bench.Run(context.Background(), bench.Config{
				Target:       "http://" + a,
				Load:         bench.Load{Model: bench.Open, Stages: []bench.Stage{{Duration: 100 * time.Millisecond, Target: rate}, {Duration: loadFor, Target: rate}}},
				MaxVUs:       20 * rate,
				Scenarios:    []string{"batch"},
				Out:          t.TempDir(),
				ContentBytes: 300,
				BatchSize:    batch,
				Timeout:      30 * time.Second,
				MongoURI:     env["POSTPIPE_MONGODB_URI"], MongoDatabase: env["POSTPIPE_MONGODB_DATABASE"],
				DrainTimeout: 20 * time.Minute,
			})
			done <- outcome{res, err}
		}()
	}

	began := time.Now()
	phases := []*scalePhase{{name: "1 sink", sinks: 1, from: began}}
	change := func(name string, n int, do func()) {
		do()
		now := time.Now()
		phases[len(phases)-1].to = now
		phases = append(phases, &scalePhase{name: name, sinks: n, from: now})
	}
	time.Sleep(phase)
	change("2 sinks (sink-2 joined)", 2, func() {
		sinks = append(sinks, start("sink-2", "sink", "POSTPIPE_KAFKA_INSTANCE_ID", "sink-2"))
	})
	time.Sleep(phase)
	change("3 sinks (sink-3 joined)", 3, func() {
		sinks = append(sinks, start("sink-3", "sink", "POSTPIPE_KAFKA_INSTANCE_ID", "sink-3"))
	})
	time.Sleep(phase)
	var atLeave map[string]float64 // sink-3's CPU is read before it goes
	change("2 sinks (sink-3 left)", 2, func() {
		atLeave = cpuOf(&procs)
		if _, err := sinks[2].terminate(); err != nil {
			t.Errorf("sink-3 after SIGTERM: %v", err)
		}
	})
	time.Sleep(phase)
	phases[len(phases)-1].to = time.Now()

	var sent, accepted, lost, dup int64
	for range apis {
		o := <-done
		if o.err != nil {
			t.Errorf("bench: %v", o.err)
		}
		if o.res == nil || len(o.res.Scenarios) == 0 || o.res.Verification == nil {
			t.Fatal("the bench client measured nothing")
		}
		sc, v := o.res.Scenarios[0], o.res.Verification
		sent += sc.Requests
		accepted += v.Accepted
		lost += v.Lost
		dup += v.Duplicated
	}
	cpuAfter := cpuOf(&procs)
	for name, v := range atLeave {
		cpuAfter[name] = max(cpuAfter[name], v)
	}
	if lost > 0 || dup > 0 {
		t.Errorf("%d lost, %d duplicated", lost, dup)
	}

	// The first seconds after a change are the rebalance: the phase's rate
	// counts from when it settled.
	const settle = 5 * time.Second
	for i, p := range phases {
		p.stored = sampler.between(p.from.Add(settle), p.to)
		if i > 0 {
			p.pause = sampler.longestStall(p.from, p.from.Add(20*time.Second))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d batch requests/s of %d posts on each of 2 api processes (offered %d posts/s), phases of %s; %d requests sent, %d posts accepted, %d lost, %d duplicated\n\n",
		rate, batch, 2*rate*batch, phase, sent, accepted, lost, dup)
	b.WriteString("| phase | sinks | stored posts/s (after 5 s) | vs 1 sink | longest partition stall after the change |\n|---|---:|---:|---:|---:|\n")
	base := 0.0
	for i, p := range phases {
		secs := p.to.Sub(p.from.Add(settle)).Seconds()
		r := float64(p.stored) / secs
		if i == 0 {
			base = r
		}
		pause := "-"
		if i > 0 {
			pause = fmt.Sprintf("%.1f s", p.pause.Seconds())
		}
		fmt.Fprintf(&b, "| %s | %d | %.0f | %.2f× | %s |\n", p.name, p.sinks, r, r/base, pause)
	}
	b.WriteString("\nCPU seconds during the load and the drain (utime+stime from /proc):\n\n| process | CPU s |\n|---|---:|\n")
	for _, name := range sortedKeys(cpuAfter) {
		fmt.Fprintf(&b, "| %s | %.1f |\n", name, cpuAfter[name]-cpuBefore[name])
	}
	fmt.Fprintf(&b, "\nwall time %s\n", time.Since(began).Round(time.Second))
	fmt.Print(b.String())
	if path := os.Getenv("SCALE_OUT"); path != "" {
		_ = os.WriteFile(path, []byte(b.String()), 0o644)
	}
}

// commitSampler reads the group's committed offsets every 100 ms.
type commitSampler struct {
	adm          *kadm.Client
	group, topic string
	quit         chan struct{}
	wg           sync.WaitGroup
	mu           sync.Mutex
	samples      []commitSample
}

type commitSample struct {
	at   time.Time
	offs map[int32]int64
}

func newCommitSampler(adm *kadm.Client, group, topic string) *commitSampler {
	return &commitSampler{adm: adm, group: group, topic: topic, quit: make(chan struct{})}
}

func (s *commitSampler) run() {
	s.wg.Add(1)
	defer s.wg.Done()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		offs, err := s.adm.FetchOffsets(ctx, s.group)
		cancel()
		if err == nil {
			m := map[int32]int64{}
			offs.Each(func(o kadm.OffsetResponse) {
				if o.Topic == s.topic && o.Err == nil {
					m[o.Partition] = o.At
				}
			})
			s.mu.Lock()
			s.samples = append(s.samples, commitSample{time.Now(), m})
			s.mu.Unlock()
		}
		select {
		case <-s.quit:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *commitSampler) stop() {
	close(s.quit)
	s.wg.Wait()
}

func sum(m map[int32]int64) (n int64) {
	for _, v := range m {
		n += max(v, 0)
	}
	return n
}

// between is the committed offsets gained from the last sample at or
// before from to the last one at or before to.
func (s *commitSampler) between(from, to time.Time) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var a, b map[int32]int64
	for _, x := range s.samples {
		if !x.at.After(from) {
			a = x.offs
		}
		if !x.at.After(to) {
			b = x.offs
		}
	}
	return sum(b) - sum(a)
}

// longestStall is the longest time in [from, to) during which some
// partition's committed offset did not move.
func (s *commitSampler) longestStall(from, to time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := map[int32]time.Time{}
	prev := map[int32]int64{}
	var worst time.Duration
	for _, x := range s.samples {
		if x.at.Before(from) {
			prev = x.offs
			continue
		}
		if !x.at.Before(to) {
			break
		}
		for p, o := range x.offs {
			if _, ok := last[p]; !ok {
				last[p] = from
			}
			if o != prev[p] {
				last[p] = x.at
			}
			worst = max(worst, x.at.Sub(last[p]))
		}
		prev = x.offs
	}
	return worst
}

// cpuOf is the CPU seconds (user+system) of the postpipe processes, the
// Kafka nodes and the store so far, by name; gone processes count 0.
func cpuOf(procs *sync.Map) map[string]float64 {
	out := map[string]float64{}
	procs.Range(func(k, v any) bool {
		out[k.(string)] = cpuSeconds(v.(*extProc).cmd.Process.Pid)
		return true
	})
	root, _ := filepath.Abs("../..")
	for n := 1; n <= 3; n++ {
		out[fmt.Sprintf("kafka node %d", n)] = cpuSeconds(pidFile(filepath.Join(root, ".kafka", "cluster", fmt.Sprintf("node%d", n), "kafka.pid")))
	}
	out["FerretDB"] = cpuSeconds(pidFile(filepath.Join(root, ".store", "ferretdb.pid")))
	out["PostgreSQL (every postgres process)"] = commandCPU("postgres")
	out["whole machine (every process, other jobs too)"] = machineCPU()
	return out
}

// commandCPU is the CPU seconds of every running process named comm.
func commandCPU(comm string) float64 {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var total float64
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), "("+comm+")") {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			total += cpuSeconds(pid)
		}
	}
	return total
}

// machineCPU is the busy CPU seconds of the machine (all but idle and
// iowait) from /proc/stat.
func machineCPU() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	var busy float64
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseFloat(f, 64)
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy / 100
}

func pidFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// cpuSeconds is utime+stime of pid from /proc/<pid>/stat (USER_HZ 100).
func cpuSeconds(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (u + st) / 100
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}
