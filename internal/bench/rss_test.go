package bench

import (
	"os"
	"runtime"
	"testing"
)

func TestRSSOfThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	mb, err := rssMB(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// A Go test binary is resident with a few MB at least and far less than 10 GB.
	if mb < 1 || mb > 10_000 {
		t.Fatalf("resident memory %.1f MB is not plausible", mb)
	}
	done := make(chan struct{})
	close(done)
	if peak := watchRSS(done, os.Getpid()); peak < 1 {
		t.Fatalf("peak %.1f MB, want the process's memory", peak)
	}
	if _, err := rssMB(-1); err == nil {
		t.Fatal("no error for a process that cannot exist")
	}
}
