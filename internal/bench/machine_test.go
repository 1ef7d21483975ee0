package bench

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestProcField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpuinfo")
	content := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13 64-Core Processor\nmodel\t\t: 1\n\nprocessor\t: 1\nmodel name\t: other\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ key, want string }{
		{"model name", "AMD EPYC 7B13 64-Core Processor"},
		{"model", "1"},
		{"vendor_id", "AuthenticAMD"},
		{"flags", ""},
	}
	for _, tt := range tests {
		if got := procField(path, tt.key); got != tt.want {
			t.Errorf("procField(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
	if got := procField(filepath.Join(t.TempDir(), "missing"), "model name"); got != "" {
		t.Errorf("a missing file gave %q", got)
	}
}

func TestProbeMachine(t *testing.T) {
	m, note, err := probeMachine(t.Context(), 200*time.Millisecond, "kafka label", "store label")
	if err != nil {
		t.Fatal(err)
	}
	if m.CPUs != runtime.NumCPU() || m.Go != runtime.Version() || m.Kafka != "kafka label" || m.Store != "store label" {
		t.Errorf("machine = %+v", m)
	}
	if runtime.GOOS != "linux" {
		return
	}
	if m.BackgroundCPUPercent == nil {
		t.Fatalf("no background CPU load measured on Linux (note %q)", note)
	}
	if p := *m.BackgroundCPUPercent; p < 0 || p > 100 {
		t.Errorf("background CPU load %v %% is outside 0–100", p)
	}
	if (*m.BackgroundCPUPercent > busyWarning) != (note != "") {
		t.Errorf("load %v %% with note %q: a note is due exactly above %v %%", *m.BackgroundCPUPercent, note, busyWarning)
	}
	if m.Kernel == "" {
		t.Error("no kernel release on Linux")
	}
}
