package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// watchRSS samples the resident memory of process pid every 250 ms until
// done, and returns the peak in MB (0 when it could not be read: another
// OS, or the process is gone).
func watchRSS(done <-chan struct{}, pid int) float64 {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	peak, _ := rssMB(pid)
	for {
		select {
		case <-done:
			if mb, err := rssMB(pid); err == nil {
				peak = max(peak, mb)
			}
			return peak
		case <-t.C:
			if mb, err := rssMB(pid); err == nil {
				peak = max(peak, mb)
			}
		}
	}
}

// rssMB reads VmRSS from /proc/<pid>/status.
func rssMB(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmRSS %q: %w", rest, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
