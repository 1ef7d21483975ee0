package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine is what the figures were measured on. They mean little without
// it: the load generator, the server, the broker and the store usually
// share these CPUs.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	MemoryMB int64  `json:"memory_mb,omitempty"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	Kafka    string `json:"kafka"`
	Store    string `json:"store"`
	// BackgroundCPUPercent is how busy the CPUs were just before the run,
	// with nothing sent yet; nil where /proc/stat cannot be read.
	BackgroundCPUPercent *float64 `json:"background_cpu_percent"`
}

// busyWarning is the background load above which the figures are suspect.
const busyWarning = 20.0

// probeMachine describes this machine and measures its background load
// over idleFor. The note says what is wrong with the machine for a
// benchmark, if anything.
func probeMachine(ctx context.Context, idleFor time.Duration, kafka, store string) (m Machine, note string, err error) {
	m = Machine{
		CPUs:     runtime.NumCPU(),
		CPUModel: cpuModel(),
		MemoryMB: memoryMB(),
		OS:       runtime.GOOS,
		Arch:     runtime.GOARCH,
		Kernel:   kernel(),
		Go:       runtime.Version(),
		Kafka:    kafka,
		Store:    store,
	}
	busy, err := cpuBusy(ctx, idleFor)
	switch {
	case ctx.Err() != nil:
		return m, "", ctx.Err()
	case err != nil:
		return m, "background CPU load not measured: " + err.Error(), nil
	}
	busy = round3(busy)
	m.BackgroundCPUPercent = &busy
	if busy > busyWarning {
		note = fmt.Sprintf("the machine was %.0f %% busy before the run started (over %.0f %%): the figures are lower than an idle machine gives", busy, busyWarning)
	}
	return m, note, nil
}

// cpuBusy measures the share of CPU time not idle over d, from /proc/stat.
func cpuBusy(ctx context.Context, d time.Duration) (float64, error) {
	busy0, total0, err := cpuTimes()
	if err != nil {
		return 0, err
	}
	if err := sleep(ctx, d); err != nil {
		return 0, err
	}
	busy1, total1, err := cpuTimes()
	if err != nil {
		return 0, err
	}
	if total1 <= total0 {
		return 0, errors.New("/proc/stat did not advance")
	}
	return 100 * float64(busy1-busy0) / float64(total1-total0), nil
}

// cpuTimes reads the all-CPU line of /proc/stat: user nice system idle
// iowait irq softirq steal …, in clock ticks. Idle and iowait are idle.
func cpuTimes() (busy, total uint64, err error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("read cpu times: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0, errors.New("read cpu times: /proc/stat is empty")
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, fmt.Errorf("read cpu times: unexpected line %q", sc.Text())
	}
	// guest and guest_nice (fields 9, 10) are already in user and nice.
	for i, f := range fields[1:min(len(fields), 9)] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("read cpu times: field %d of %q: %w", i+1, sc.Text(), err)
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total, nil
}

func cpuModel() string {
	return procField("/proc/cpuinfo", "model name")
}

func memoryMB() int64 {
	kb := strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB")
	n, err := strconv.ParseInt(strings.TrimSpace(kb), 10, 64)
	if err != nil {
		return 0
	}
	return n / 1024
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// procField returns the value of the first "key: value" line of a /proc
// file, or "" where there is none.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
