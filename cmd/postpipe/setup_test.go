package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/apikey"
	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/devstack"
	"github.com/postpipe/postpipe/internal/metrics"
	"github.com/postpipe/postpipe/internal/testkit"
)

// TestRunOnADataDirInUse is issue 12's second bug: a second 'postpipe run'
// on a data dir in use panicked (embedded returned a nil stop function and
// a deferred call ran it) instead of saying the directory is in use.
func TestRunOnADataDirInUse(t *testing.T) {
	dir := t.TempDir()
	unlock, err := devstack.LockDir(dir) // the first process
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)
	env := map[string]string{"POSTPIPE_DATA_DIR": dir, "POSTPIPE_HTTP_ADDR": freeAddr(t), "POSTPIPE_LOG_LEVEL": "error"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return run(ctx, []string{"run"}, func(k string) string { return env[k] })
	}()
	if err == nil || !strings.Contains(err.Error(), "data dir "+dir+" is in use") {
		t.Fatalf("run on a data dir in use: %v, want the 'data dir %s is in use' error", err, dir)
	}
}

// TestOpenStoreErrorsHideCredentials goes round Validate (which refuses
// URIs it cannot mask) to check the connect path itself: the MongoDB driver
// quotes an option value it cannot unescape, credentials included.
func TestOpenStoreErrorsHideCredentials(t *testing.T) {
	for _, tt := range []struct {
		uri     string
		secrets []string
	}{
		{"mongodb://127.0.0.1:1/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:T0KEN-secret%zz", []string{"T0KEN-secret"}},
		{"mongodb://app:pw-1@127.0.0.1:1/?tlsCertificateKeyFilePassword=K3Y-pw%zz", []string{"K3Y-pw", "pw-1"}},
		{"mongodb://app:pw-2@127.0.0.1:1/?authMechanismProperties=AWS_SESSION_TOKEN:T0KEN-2&authSource=admin", []string{"T0KEN-2", "pw-2"}},
	} {
		cfg := config.Default()
		cfg.MongoURI = tt.uri
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := openStore(ctx, cfg)
		cancel()
		if err == nil {
			t.Fatalf("%s: connected", config.RedactURI(tt.uri))
		}
		for _, s := range tt.secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("the connect error shows %q: %v", s, err)
			}
		}
		t.Logf("%v", err)
	}
}

// logRecorder is a slog handler that keeps the messages and their "addr"
// attribute, for the goroutines of a server under test.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "addr" {
			msg += " addr=" + a.Value.String()
		}
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, msg)
	return nil
}

func (l *logRecorder) find(prefix string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if strings.HasPrefix(m, prefix) {
			return m, true
		}
	}
	return "", false
}

// TestAdminListener: an address without a host listens on loopback, an
// explicit 0.0.0.0 is honoured with a warning unless keys are on, and with
// keys on only the probes and the metrics answer without one; the command
// line it shows has its secrets masked.
func TestAdminListener(t *testing.T) {
	secret, line := mintKey(t, "ops")
	keys, err := apikey.Parse(strings.NewReader(line))
	if err != nil {
		t.Fatal(err)
	}
	args := os.Args
	os.Args = []string{"postpipe", "run", "--kafka-sasl-password", "sasl-pw-on-the-cmdline", "--mongodb-uri=mongodb://app:mongo-pw-on-the-cmdline@db/"}
	t.Cleanup(func() { os.Args = args })

	for _, tt := range []struct {
		name, addr string
		keys       api.KeyChecker
		listenHost string
		warned     bool
	}{
		{"port only", ":0", nil, "127.0.0.1", false},
		{"every interface without keys", "0.0.0.0:0", nil, "", true}, // "": unspecified (Go may show [::])
		{"every interface with keys", "0.0.0.0:0", keys, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &logRecorder{}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- serveAdmin(ctx, tt.addr, adminMux(metrics.New(), nil, tt.keys), slog.New(rec)) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Error(err)
				}
			}()
			var listening string
			testkit.Eventually(t, 10*time.Second, "the admin listener", func() bool {
				listening, _ = rec.find("admin listening")
				return listening != ""
			})
			_, addr, _ := strings.Cut(listening, "addr=")
			host, _, _ := net.SplitHostPort(addr)
			if ip := net.ParseIP(host); host != tt.listenHost && (tt.listenHost != "" || ip == nil || !ip.IsUnspecified()) {
				t.Fatalf("%s listens on %s, want host %s", tt.addr, addr, tt.listenHost)
			}
			if _, warned := rec.find("the admin listener is reachable"); warned != tt.warned {
				t.Errorf("warned %v, want %v", warned, tt.warned)
			}
			port := addr[strings.LastIndex(addr, ":")+1:]
			base := "http://127.0.0.1:" + port
			status := func(path, key string) (int, string) {
				req, _ := http.NewRequest(http.MethodGet, base+path, nil)
				if key != "" {
					req.Header.Set("Authorization", "Bearer "+key)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(body)
			}
			wantGuarded := http.StatusOK
			if tt.keys != nil {
				wantGuarded = http.StatusUnauthorized
			}
			for _, p := range []string{"/", "/debug/pprof/", "/debug/pprof/cmdline", "/metrics/../debug/pprof/"} {
				if code, _ := status(p, ""); code != wantGuarded {
					t.Errorf("GET %s without a key: %d, want %d", p, code, wantGuarded)
				}
			}
			// The probes and the metrics answer without a key: kubelets and
			// Prometheus send none.
			for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
				if code, _ := status(p, ""); code != http.StatusOK {
					t.Errorf("GET %s without a key: %d", p, code)
				}
			}
			code, cmdline := status("/debug/pprof/cmdline", secret)
			if code != http.StatusOK || !strings.Contains(cmdline, "postpipe\x00run") {
				t.Fatalf("cmdline with the key: %d %q", code, cmdline)
			}
			for _, s := range []string{"sasl-pw-on-the-cmdline", "mongo-pw-on-the-cmdline"} {
				if strings.Contains(cmdline, s) {
					t.Errorf("/debug/pprof/cmdline shows %q: %q", s, cmdline)
				}
			}
		})
	}
}
