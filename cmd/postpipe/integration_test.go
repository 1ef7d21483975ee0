package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The fault tests below run postpipe as real processes against real Apache
// Kafka and the standalone store; 'make test-kafka' starts those and sets
// the POSTPIPE_TEST_* variables. Without them the tests skip.

var testBin struct {
	once sync.Once
	path string
	dir  string
	err  error
}

// binary is the postpipe executable: POSTPIPE_TEST_BINARY, or built once.
func binary(t *testing.T) string {
	t.Helper()
	testBin.once.Do(func() {
		if p := os.Getenv("POSTPIPE_TEST_BINARY"); p != "" {
			testBin.path, testBin.err = filepath.Abs(p)
			return
		}
		testBin.dir, testBin.err = os.MkdirTemp("", "postpipe-test-bin")
		if testBin.err != nil {
			return
		}
		testBin.path = filepath.Join(testBin.dir, "postpipe")
		out, err := exec.Command("go", "build", "-o", testBin.path, ".").CombinedOutput()
		if err != nil {
			testBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if testBin.err != nil {
		t.Fatal(testBin.err)
	}
	return testBin.path
}

// extProc is postpipe running as a process of its own.
type extProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
}

func startBinary(t *testing.T, name, sub string, env map[string]string) *extProc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), sub)
	for _, kv := range os.Environ() {
		// HOSTNAME and POD_NAME would give every sink one instance id in
		// a container (CI): a test sets POSTPIPE_KAFKA_INSTANCE_ID itself.
		if !strings.HasPrefix(kv, "POSTPIPE_") && !strings.HasPrefix(kv, "HOSTNAME=") && !strings.HasPrefix(kv, "POD_NAME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &extProc{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.terminate()
		if t.Failed() {
			t.Logf("last lines of %s's log:\n%s", name, tail(logPath, 30))
		}
	})
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *extProc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// terminate sends SIGTERM and returns how long the exit took; after 20 s
// it kills.
func (p *extProc) terminate() (time.Duration, error) {
	began := time.Now()
	select {
	case <-p.done:
		return 0, p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return time.Since(began), p.err
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		return time.Since(began), errors.New("did not exit within 20s of SIGTERM")
	}
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// load posts single posts from several workers until stopped, and keeps
// every answer: a 202 is a promise to check later, a 503 is allowed, and
// anything else — another status, a transport error, no answer — is not.
type load struct {
	acc      accepted
	mu       sync.Mutex
	unacked  map[string]string // marker -> id of posts answered 503
	status   map[int]int
	failures []string
	slowest  time.Duration // longest answer of all
	slow503  time.Duration // longest 503
	sent     int
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

func startLoad(t *testing.T, base string, workers int, pause time.Duration) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{status: map[int]int{}, unacked: map[string]string{}, stop: cancel}
	// The API answers within the produce timeout (5 s); a request that
	// takes much longer is hanging.
	hc := &http.Client{Timeout: 15 * time.Second}
	for w := 0; w < workers; w++ {
		l.wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				marker := fmt.Sprintf("w%02d-%06d", w, i)
				began := time.Now()
				req, _ := http.NewRequest(http.MethodPost, base+"/v1/posts", strings.NewReader(
					fmt.Sprintf(`{"author":"e2e","title":%q,"content":"content of %s","tags":["e2e","%s"]}`, marker, marker, marker)))
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				took := time.Since(began)
				var id struct{ ID string }
				if err == nil {
					err = decodeBody(resp, &id)
				}
				if err == nil && resp.StatusCode == http.StatusServiceUnavailable && id.ID == "" {
					err = errors.New("503 without the id of the post")
				}
				l.mu.Lock()
				l.sent++
				l.slowest = max(l.slowest, took)
				switch {
				case err != nil:
					l.failures = append(l.failures, fmt.Sprintf("%s after %s: %v", marker, took, err))
				case resp.StatusCode == http.StatusAccepted:
					l.status[resp.StatusCode]++
				case resp.StatusCode == http.StatusServiceUnavailable:
					l.status[resp.StatusCode]++
					l.unacked[marker] = id.ID
					l.slow503 = max(l.slow503, took)
				default:
					l.status[resp.StatusCode]++
					l.failures = append(l.failures, fmt.Sprintf("%s: status %d", marker, resp.StatusCode))
				}
				l.mu.Unlock()
				if err == nil && resp.StatusCode == http.StatusAccepted {
					l.acc.add(t, marker, id.ID)
				}
				time.Sleep(pause)
			}
		})
	}
	return l
}

// decodeBody reads the id of a 202 answer, or of a 503 problem.
func decodeBody(resp *http.Response, v any) error {
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusServiceUnavailable {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// finish stops the load and fails the test on any answer that breaks the
// API's contract.
func (l *load) finish(t *testing.T) {
	t.Helper()
	l.stop()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, f := range l.failures {
		if i == 10 {
			t.Errorf("... and %d more", len(l.failures)-10)
			break
		}
		t.Errorf("answer outside the contract: %s", f)
	}
}

func (l *load) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("sent %d: %d × 202, %d × 503 (slowest 503 %s), %d failures; slowest answer %s",
		l.sent, l.status[http.StatusAccepted], l.status[http.StatusServiceUnavailable], l.slow503.Round(time.Millisecond),
		len(l.failures), l.slowest.Round(time.Millisecond))
}

// pipeline starts an api process and n sink processes on env.
func pipeline(t *testing.T, env map[string]string, sinks int) (base string, sinkProcs []*extProc) {
	t.Helper()
	apiAddr := freeAddr(t)
	startBinary(t, "api", "api", with(env, "POSTPIPE_HTTP_ADDR", apiAddr, "POSTPIPE_LOG_LEVEL", "warn"))
	for i := 1; i <= sinks; i++ {
		sinkProcs = append(sinkProcs, startBinary(t, fmt.Sprintf("sink-%d", i), "sink", with(env, "POSTPIPE_LOG_LEVEL", "info")))
	}
	base = "http://" + apiAddr
	waitReady(t, base)
	return base, sinkProcs
}

func TestSinkKilledWithSIGKILL(t *testing.T) {
	env, ok := realEnv(t, "POSTPIPE_TEST_KAFKA_BROKERS")
	if !ok {
		skipOutside(t, "kafka", "needs real Kafka and the standalone store: run 'make test-kafka' (sets POSTPIPE_TEST_KAFKA_BROKERS and POSTPIPE_TEST_MONGODB_URI)")
	}
	base, sinks := pipeline(t, env, 2)
	l := startLoad(t, base, 4, 2*time.Millisecond)
	for round, victim := range []int{0, 1, 0} {
		time.Sleep(3 * time.Second)
		sinks[victim].kill(t)
		t.Logf("round %d: SIGKILLed sink-%d mid-stream", round+1, victim+1)
		time.Sleep(2 * time.Second)
		sinks[victim] = startBinary(t, fmt.Sprintf("sink-%d-restart-%d", victim+1, round+1), "sink", with(env, "POSTPIPE_LOG_LEVEL", "info"))
	}
	time.Sleep(3 * time.Second)
	l.finish(t)
	t.Logf("sink SIGKILL test: %s", l)
	if l.acc.len() < 100 {
		t.Fatalf("only %d posts accepted", l.acc.len())
	}
	began := time.Now()
	checkStoredOnce(t, connectMongo(t, env), &l.acc, l.unacked, 3*time.Minute)
	t.Logf("sink SIGKILL test: all %d accepted posts stored exactly once; drained %s after the load stopped", l.acc.len(), time.Since(began).Round(time.Millisecond))
}

func TestClusterLosesABroker(t *testing.T) {
	env, ok := realEnv(t, "POSTPIPE_TEST_KAFKA_CLUSTER_BROKERS")
	nodeCmd := os.Getenv("POSTPIPE_TEST_KAFKA_NODE_CMD")
	if !ok || nodeCmd == "" {
		skipOutside(t, "kafka-cluster", "needs the 3-node Kafka cluster: run 'make test-kafka' (sets POSTPIPE_TEST_KAFKA_CLUSTER_BROKERS, POSTPIPE_TEST_KAFKA_NODE_CMD and POSTPIPE_TEST_MONGODB_URI)")
	}
	node := func(args ...string) time.Duration {
		t.Helper()
		began := time.Now()
		out, err := exec.Command(nodeCmd, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", nodeCmd, args, err, out)
		}
		return time.Since(began)
	}
	base, _ := pipeline(t, env, 2)
	t.Run("topics created with their settings", func(t *testing.T) { checkClusterTopics(t, env) })
	l := startLoad(t, base, 4, 2*time.Millisecond)
	time.Sleep(5 * time.Second)
	node("node-kill", "2")
	t.Log("SIGKILLed broker 2")
	time.Sleep(15 * time.Second)
	up := node("node-start", "2")
	t.Logf("broker 2 back after %s", up.Round(time.Millisecond))
	time.Sleep(5 * time.Second)
	l.finish(t)
	t.Logf("cluster fault test: %s", l)
	if l.acc.len() < 100 {
		t.Fatalf("only %d posts accepted", l.acc.len())
	}
	if l.slow503 > 7*time.Second {
		t.Errorf("a 503 took %s: not prompt (produce timeout 5s)", l.slow503)
	}
	checkStoredOnce(t, connectMongo(t, env), &l.acc, l.unacked, 3*time.Minute)
	t.Logf("cluster fault test: all %d accepted posts stored exactly once, 0 lost, 0 duplicated", l.acc.len())
}
