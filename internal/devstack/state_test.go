package devstack

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listening returns the address of a listener open until the test ends.
func listening(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// closedAddr returns an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// deadPID returns the id of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	return cmd.Process.Pid
}

func TestStackStateWriteReadRemove(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadState(dir); !errors.Is(err, ErrNoState) {
		t.Fatalf("ReadState of an empty dir: %v, want ErrNoState", err)
	}
	want := State{Command: "run", PID: os.Getpid(), StartedAt: time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC),
		Kafka: "127.0.0.1:40001", MongoDB: "mongodb://127.0.0.1:40002/", HTTP: "127.0.0.1:8080"}
	remove, err := WriteState(dir, want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadState(dir)
	if err != nil || got != want {
		t.Fatalf("ReadState = %+v, %v; want %+v", got, err, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != StateFile {
		t.Errorf("the data dir holds %v, want %s alone (no temporary file left)", entries, StateFile)
	}
	if err := remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadState(dir); !errors.Is(err, ErrNoState) {
		t.Fatalf("ReadState after remove: %v, want ErrNoState", err)
	}
	if err := remove(); err != nil {
		t.Errorf("a second remove: %v, want nil", err)
	}
}

func TestStackStateRefusesAFileWithoutAddresses(t *testing.T) {
	for name, content := range map[string]string{
		"not JSON":     "pid=12",
		"no pid":       `{"command":"run","kafka":"127.0.0.1:1"}`,
		"no addresses": `{"command":"run","pid":12}`,
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, StateFile), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadState(dir); err == nil || errors.Is(err, ErrNoState) {
			t.Errorf("%s: ReadState = %v, want an error naming the file", name, err)
		}
	}
}

// TestStackStateCheck: a file is live while its process runs and its
// addresses answer; a process gone or a port closed makes it stale.
func TestStackStateCheck(t *testing.T) {
	live := State{Command: "run", PID: os.Getpid(), Kafka: listening(t), MongoDB: "mongodb://" + listening(t) + "/"}
	if err := live.Check(time.Second); err != nil {
		t.Fatalf("Check of a live stack: %v", err)
	}
	kafkaOnly := State{Command: "run", PID: os.Getpid(), Kafka: listening(t)}
	if err := kafkaOnly.Check(time.Second); err != nil {
		t.Fatalf("Check of a stack serving the broker alone: %v", err)
	}

	gone := live
	gone.PID = deadPID(t)
	closedBroker, closedStore := live, live
	closedBroker.Kafka = closedAddr(t)
	closedStore.MongoDB = "mongodb://" + closedAddr(t) + "/"
	for name, tt := range map[string]struct {
		s    State
		want string
	}{
		"process gone":  {gone, "is gone"},
		"broker closed": {closedBroker, "broker at " + closedBroker.Kafka + " does not answer"},
		"store closed":  {closedStore, "store at"},
	} {
		if err := tt.s.Check(time.Second); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Check = %v, want an error saying %q", name, err, tt.want)
		}
	}
}
