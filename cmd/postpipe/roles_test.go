package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/testkit"
)

// Shutdown is safe to call twice, concurrently too, and returns only once
// everything the role started has stopped: the HTTP port refuses
// connections, the sink's Run has returned (it is no longer a member), and
// a later Shutdown returns nil without stopping anything again.
func TestRoleShutdownTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a stack")
	}
	env := stackEnv(t)
	tests := []struct {
		cmd   string
		build func(context.Context, config.Config, func(string) string, *slog.Logger) (*role, error)
	}{
		{"run", newRunRole},
		{"api", newAPIRole},
		{"sink", newSinkRole},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			addr := freeAddr(t)
			e := with(env, "POSTPIPE_HTTP_ADDR", addr, "POSTPIPE_ADMIN_ADDR", "")
			getenv := func(k string) string { return e[k] }
			cfg, err := config.Load(tt.cmd, nil, getenv, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			log := slog.New(slog.DiscardHandler)
			ctx := context.Background()
			r, err := tt.build(ctx, cfg, getenv, log)
			if err != nil {
				t.Fatal(err)
			}
			ran := make(chan error, 1)
			go func() { ran <- r.Run(ctx) }()
			if r.srv != nil {
				waitReady(t, "http://"+addr)
			}
			if r.sk != nil {
				testkit.Eventually(t, 60*time.Second, "the sink joined its group", func() bool { return r.sk.Joined(ctx) == nil })
			}
			select {
			case err := <-ran:
				t.Fatalf("Run returned %v before its ctx ended or Shutdown began", err)
			default:
			}

			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i := range errs {
				wg.Go(func() { errs[i] = r.Shutdown(sctx) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("Shutdown call %d: %v", i, err)
				}
			}
			if err := <-ran; err != nil {
				t.Errorf("Run: %v", err)
			}
			if r.srv != nil {
				if c, err := net.Dial("tcp", addr); err == nil {
					c.Close()
					t.Errorf("after Shutdown the HTTP port %s still accepts connections", addr)
				}
			}
			if r.sk != nil && r.sk.Joined(ctx) == nil {
				t.Error("after Shutdown the sink is still a member of its group")
			}
			if err := r.Shutdown(sctx); err != nil {
				t.Errorf("a later Shutdown: %v", err)
			}
		})
	}
}

// A role shut down before it ran closes what its constructor opened, and
// Run afterwards starts nothing.
func TestRoleShutdownBeforeRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a stack")
	}
	env := stackEnv(t)
	addr := freeAddr(t)
	e := with(env, "POSTPIPE_HTTP_ADDR", addr, "POSTPIPE_ADMIN_ADDR", "")
	getenv := func(k string) string { return e[k] }
	cfg, err := config.Load("run", nil, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := newRunRole(ctx, cfg, getenv, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := r.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatalf("Run after Shutdown: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("Run after Shutdown listens on %s", addr)
	}
}

// recordStops makes r's parts record their names as their stops begin,
// before r runs, and returns what they recorded.
func recordStops(r *role) func() []string {
	var mu sync.Mutex
	var names []string
	for _, e := range r.parts.list {
		name, stop := e.name, e.stop
		e.stop = func(ctx context.Context) error {
			mu.Lock()
			names = append(names, name)
			mu.Unlock()
			if stop == nil {
				return nil
			}
			return stop(ctx)
		}
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(names)
	}
}

// Each role stops its parts in the order the stop has always had: the HTTP
// server first (the last requests answered, then the producer flushed),
// the sink (its last write and commit), the producer closed, the sampler,
// the admin listener, the store, tracing, and the last line. A role
// stopped before it ran closes them in the same order; a port in use fails
// the build.
func TestRoleStopOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a stack")
	}
	env := stackEnv(t)
	tests := []struct {
		cmd   string
		build func(context.Context, config.Config, func(string) string, *slog.Logger) (*role, error)
		run   bool
		want  []string
	}{
		{"run", newRunRole, true, []string{"http", "applied watcher", "sink", "producer", "stats", "admin", "store", "tracing", "stopped"}},
		{"api", newAPIRole, true, []string{"http", "applied watcher", "producer", "stats", "admin", "store", "tracing", "stopped"}},
		{"sink", newSinkRole, true, []string{"sink", "admin", "store", "tracing", "stopped"}},
		{"run", newRunRole, false, []string{"http", "applied watcher", "sink", "producer", "stats", "admin", "store", "tracing", "stopped"}},
	}
	for _, tt := range tests {
		name := tt.cmd
		if !tt.run {
			name += "/never-ran"
		}
		t.Run(name, func(t *testing.T) {
			addr := freeAddr(t)
			e := with(env, "POSTPIPE_HTTP_ADDR", addr, "POSTPIPE_ADMIN_ADDR", "127.0.0.1:0")
			getenv := func(k string) string { return e[k] }
			cfg, err := config.Load(tt.cmd, nil, getenv, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			r, err := tt.build(ctx, cfg, getenv, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			stopped := recordStops(r)
			ran := make(chan error, 1)
			if tt.run {
				go func() { ran <- r.Run(ctx) }()
				if r.srv != nil {
					waitReady(t, "http://"+addr)
				}
			}
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := r.Shutdown(sctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if tt.run {
				if err := <-ran; err != nil {
					t.Errorf("Run: %v", err)
				}
			}
			if got := stopped(); !slices.Equal(got, tt.want) {
				t.Errorf("stop order:\n got %v\nwant %v", got, tt.want)
			}
		})
	}

	t.Run("port in use", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		e := with(env, "POSTPIPE_HTTP_ADDR", ln.Addr().String(), "POSTPIPE_ADMIN_ADDR", "")
		getenv := func(k string) string { return e[k] }
		cfg, err := config.Load("run", nil, getenv, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		r, err := newRunRole(context.Background(), cfg, getenv, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "listen on "+ln.Addr().String()) {
			if r != nil {
				_ = r.Shutdown(context.Background())
			}
			t.Fatalf("a role on a port in use: %v, want the listen error", err)
		}
	})
}
