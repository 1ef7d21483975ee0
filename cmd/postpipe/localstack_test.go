//go:build !nodev

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/devstack"
)

// captureStdout runs f with os.Stdout going to a pipe and returns what f
// printed (the dlq tools print their table there).
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	out := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		out <- string(b)
	}()
	defer func() {
		os.Stdout = saved
	}()
	f()
	os.Stdout = saved
	w.Close()
	return <-out
}

// TestDLQListFindsTheEmbeddedStackOfRun is issue 20's fifth item: beside
// 'postpipe run' (whose embedded broker listens on a random port), 'postpipe
// dlq list' with nothing configured but the same data dir reads that
// broker's dead-letter topic; once run stops, its state file is gone.
func TestDLQListFindsTheEmbeddedStackOfRun(t *testing.T) {
	dataDir := t.TempDir()
	addr := freeAddr(t)
	p := start(t, "run", map[string]string{"POSTPIPE_DATA_DIR": dataDir, "POSTPIPE_HTTP_ADDR": addr})
	waitReady(t, "http://"+addr)

	st, err := devstack.ReadState(dataDir)
	if err != nil {
		t.Fatalf("run wrote no state file: %v", err)
	}
	if st.Command != "run" || st.PID != os.Getpid() || st.Kafka == "" || st.MongoDB == "" || st.HTTP != addr {
		t.Errorf("state file %+v: want run, this process, both addresses and the API at %s", st, addr)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := map[string]string{"POSTPIPE_DATA_DIR": dataDir}
	var dlqErr error
	out := captureStdout(t, func() {
		dlqErr = run(ctx, []string{"dlq", "list"}, func(k string) string { return env[k] })
	})
	if code := exitCode(io.Discard, dlqErr); code != 0 {
		t.Fatalf("dlq list beside run: exit %d: %v", code, dlqErr)
	}
	if !strings.Contains(out, "0 shown of 0 on posts.dlq") {
		t.Errorf("dlq list printed %q, want an empty list of posts.dlq", out)
	}

	if err := p.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := devstack.ReadState(dataDir); !errors.Is(err, devstack.ErrNoState) {
		t.Errorf("after a clean stop the state file is still there (%v)", err)
	}
}

// logTo returns a logger writing text records to buf.
func logTo(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, nil))
}

// TestLocalStackUsesTheLiveStateFileAndIgnoresAStaleOne: api and sink with
// nothing configured take the addresses of the stack file in the data dir
// while its process runs and its ports answer; a file whose process is
// gone, or whose broker no longer answers, is passed over with a warning
// saying why, for the stack's default addresses.
func TestLocalStackUsesTheLiveStateFileAndIgnoresAStaleOne(t *testing.T) {
	listen := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln.Addr().String()
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	live := devstack.State{Command: "run", PID: os.Getpid(), StartedAt: time.Now().UTC(),
		Kafka: listen(), MongoDB: "mongodb://" + listen() + "/", HTTP: "127.0.0.1:18080"}
	gone := live
	gone.PID = dead.Process.Pid
	closed := live
	closed.Kafka = freeAddr(t)

	def := config.Default()
	for _, tt := range []struct {
		name           string
		st             *devstack.State
		broker, store  string
		warn           string
		target, noWarn string
	}{
		{name: "no file", broker: def.StackKafkaAddr, store: "mongodb://" + def.StackMongoAddr + "/"},
		{name: "live", st: &live, broker: live.Kafka, store: live.MongoDB, target: "http://127.0.0.1:18080"},
		{name: "process gone", st: &gone, broker: def.StackKafkaAddr, store: "mongodb://" + def.StackMongoAddr + "/", warn: "is gone"},
		{name: "broker closed", st: &closed, broker: def.StackKafkaAddr, store: "mongodb://" + def.StackMongoAddr + "/", warn: "does not answer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.st != nil {
				if _, err := devstack.WriteState(dir, *tt.st); err != nil {
					t.Fatal(err)
				}
			}
			// api reads the folder from POSTPIPE_DATA_DIR: it has no data-dir setting.
			getenv := func(k string) string {
				if k == config.EnvName("data-dir") {
					return dir
				}
				return ""
			}
			cfg := def
			cfg.DataDir = stackDataDir("api", cfg, getenv)
			if cfg.DataDir != dir {
				t.Fatalf("api's data dir %q, want POSTPIPE_DATA_DIR %q", cfg.DataDir, dir)
			}
			var buf bytes.Buffer
			got := localStack(cfg, logTo(&buf))
			if !slices.Equal(got.KafkaBrokers, []string{tt.broker}) || got.MongoURI != tt.store {
				t.Errorf("brokers %v, store %q; want %s and %s", got.KafkaBrokers, got.MongoURI, tt.broker, tt.store)
			}
			logged := buf.String()
			t.Logf("log: %s", logged)
			if tt.warn != "" && (!strings.Contains(logged, "level=WARN") || !strings.Contains(logged, "stale") ||
				!strings.Contains(logged, tt.warn) || !strings.Contains(logged, filepath.Join(dir, devstack.StateFile))) {
				t.Errorf("log %q: want a warning naming the stale file and saying %q", logged, tt.warn)
			}
			if tt.warn == "" && strings.Contains(logged, "level=WARN") {
				t.Errorf("log %q: want no warning", logged)
			}

			buf.Reset()
			if got := stackTarget(getenv, logTo(&buf)); got != tt.target {
				t.Errorf("bench's target from the data dir: %q, want %q", got, tt.target)
			}
		})
	}
}

// A command with its own data dir (run, stack) looks in that one, whatever
// POSTPIPE_DATA_DIR says; one without reads the variable, else the default.
func TestStackDataDir(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "POSTPIPE_DATA_DIR" {
				return v
			}
			return ""
		}
	}
	cfg := config.Default()
	cfg.DataDir = "/from/flag"
	for _, tt := range []struct {
		cmd, env, want string
	}{
		{"run", "/from/env", "/from/flag"},
		{"stack", "/from/env", "/from/flag"},
		{"api", "/from/env", "/from/env"},
		{"sink", "/from/env", "/from/env"},
		{"dlq list", "/from/env", "/from/env"},
		{"api", "", config.Default().DataDir},
	} {
		if got := stackDataDir(tt.cmd, cfg, env(tt.env)); got != tt.want {
			t.Errorf("%s with POSTPIPE_DATA_DIR=%q: %q, want %q", tt.cmd, tt.env, got, tt.want)
		}
	}
}

func TestStackStateHTTPAddress(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "127.0.0.1:8080",
		":8080":          "127.0.0.1:8080",
		"0.0.0.0:8080":   "127.0.0.1:8080",
		"[::]:8080":      "127.0.0.1:8080",
		"localhost:9000": "localhost:9000",
		":0":             "",
		"nonsense":       "",
	} {
		if got := dialableHTTP(addr); got != want {
			t.Errorf("dialableHTTP(%q) = %q, want %q", addr, got, want)
		}
	}
}

// TestVersionNamesTheRevision: the link-time revision (the Makefile's) is
// what 'postpipe version' and build_info show; without one, the go
// command's VCS stamp or "unknown", never empty.
func TestVersionNamesTheRevision(t *testing.T) {
	if rev := revision(); rev == "" {
		t.Error("revision() is empty without an override, want the VCS stamp or unknown")
	}
	saved := revisionOverride
	t.Cleanup(func() { revisionOverride = saved })
	revisionOverride = "4f1c2d9e0b7a"
	if got := versionLine(); !strings.Contains(got, "revision 4f1c2d9e0b7a") || !strings.HasPrefix(got, "postpipe "+version()) {
		t.Errorf("versionLine() = %q, want the version and revision 4f1c2d9e0b7a", got)
	}
}
