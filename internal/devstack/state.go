package devstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// StateFile is the name of the file, in the data directory, where a running
// embedded stack ('postpipe run' without a broker or store, 'postpipe
// stack') says where it listens. The processes that need a broker or store
// and have none configured read it, so they find a broker on a random port
// as surely as one on the stack's fixed address.
const StateFile = "stack.json"

// State is what the file holds. An address is empty for what the stack does
// not serve ('postpipe run' with a real broker and the embedded store, say).
type State struct {
	// Command is the command that wrote it: run or stack.
	Command string `json:"command"`
	PID     int    `json:"pid"`
	// StartedAt is when the broker and store were up.
	StartedAt time.Time `json:"startedAt"`
	// Kafka is the broker's host:port.
	Kafka string `json:"kafka,omitempty"`
	// MongoDB is the store's mongodb:// URI.
	MongoDB string `json:"mongodb,omitempty"`
	// HTTP is where 'postpipe run' serves the API (host:port, dialable);
	// empty for 'postpipe stack', which has none, or when the port is
	// picked at start (":0").
	HTTP string `json:"http,omitempty"`
}

// ErrNoState means the data directory holds no state file: no embedded stack
// runs there, or it was started before stacks wrote one.
var ErrNoState = errors.New("no embedded stack state file")

// WriteState writes s to dir's state file, replacing it whole (a reader never
// sees half of it), and returns the function that removes it: call it when
// the stack stops cleanly. The caller holds the data directory's lock
// (LockDir), so no other stack writes there meanwhile.
func WriteState(dir string, s State) (remove func() error, err error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode stack state: %w", err)
	}
	path := filepath.Join(dir, StateFile)
	tmp, err := os.CreateTemp(dir, StateFile+".*")
	if err != nil {
		return nil, fmt.Errorf("write stack state: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return nil, fmt.Errorf("write stack state %s: %w", path, err)
	}
	return func() error {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stack state: %w", err)
		}
		return nil
	}, nil
}

// ReadState reads dir's state file: ErrNoState when there is none. It says
// nothing about whether the stack still runs: see Check.
func ReadState(dir string) (State, error) {
	path := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, ErrNoState
	}
	if err != nil {
		return State{}, fmt.Errorf("read stack state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("stack state %s: %w", path, err)
	}
	if s.PID <= 0 || (s.Kafka == "" && s.MongoDB == "") {
		return State{}, fmt.Errorf("stack state %s: no process id or no address in it", path)
	}
	return s, nil
}

// Check tells a state file left behind from a live one: it fails, saying
// why, when the process that wrote it is gone or one of its addresses
// refuses a connection (the process died and another took its id). A
// stack killed without its clean stop leaves its file; the next one on the
// data directory replaces it.
func (s State) Check(timeout time.Duration) error {
	if err := syscall.Kill(s.PID, 0); errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("its process %d is gone", s.PID)
	}
	addrs := map[string]string{}
	if s.Kafka != "" {
		addrs["broker"] = s.Kafka
	}
	if s.MongoDB != "" {
		u, err := url.Parse(s.MongoDB)
		if err != nil || u.Host == "" {
			return fmt.Errorf("its store URI %q has no host", s.MongoDB)
		}
		addrs["store"] = u.Host
	}
	for _, what := range []string{"broker", "store"} {
		addr, ok := addrs[what]
		if !ok {
			continue
		}
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			return fmt.Errorf("its %s at %s does not answer (%v)", what, addr, err)
		}
		_ = c.Close()
	}
	return nil
}
