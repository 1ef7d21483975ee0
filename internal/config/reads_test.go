package config

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestReadsSettings(t *testing.T) {
	for _, cmd := range []string{"run", "api"} {
		c := loadCmd(t, cmd, map[string]string{"POSTPIPE_READ_TIMEOUT": "750ms"}, "--max-reads-in-flight=3")
		if c.ReadTimeout != 750*time.Millisecond || c.MaxReadsInFlight != 3 {
			t.Errorf("%s: read timeout %s, reads in flight %d; want 750ms and 3", cmd, c.ReadTimeout, c.MaxReadsInFlight)
		}
	}

	if c := Default(); c.ReadsInFlight() != DefaultReadsInFlight {
		t.Errorf("default reads in flight %d, want %d against a store of its own", c.ReadsInFlight(), DefaultReadsInFlight)
	}
	c := Default()
	c.DevStoreReads()
	if want := max(1, runtime.GOMAXPROCS(0)/2); c.ReadsInFlight() != want {
		t.Errorf("development store's reads in flight %d, want half of GOMAXPROCS, at least 1 (%d)", c.ReadsInFlight(), want)
	}
	c.MaxReadsInFlight = 7
	if c.DevStoreReads(); c.ReadsInFlight() != 7 {
		t.Errorf("a set bound became %d with the development store, want 7 kept", c.ReadsInFlight())
	}

	for _, ok := range []Reads{{100 * time.Millisecond, 0}, {5 * time.Minute, 10000}} {
		c := Default()
		c.Reads = ok
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v, want valid", ok, err)
		}
	}
	for _, tt := range []struct {
		reads   Reads
		wantEnv string
	}{
		{Reads{99 * time.Millisecond, 32}, "POSTPIPE_READ_TIMEOUT"},
		{Reads{5*time.Minute + 1, 32}, "POSTPIPE_READ_TIMEOUT"},
		{Reads{time.Second, -1}, "POSTPIPE_MAX_READS_IN_FLIGHT"},
		{Reads{time.Second, 10001}, "POSTPIPE_MAX_READS_IN_FLIGHT"},
	} {
		c := Default()
		c.Reads = tt.reads
		lines := problems(t, c.Validate())
		if len(lines) != 1 || !strings.HasPrefix(lines[0], tt.wantEnv+": ") {
			t.Errorf("%+v: problems = %q, want exactly one, about %s", tt.reads, lines, tt.wantEnv)
		}
	}
}
