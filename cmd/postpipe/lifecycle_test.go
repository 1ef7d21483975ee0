package main

import (
	"context"
	"testing"
	"time"
)

// A stop (SIGTERM) that arrives while a command is still starting — here the
// sink waiting for a broker and a store that never answer — is a clean stop:
// run returns nil, so the process exits 0 and an orchestrator does not count
// a crash. It used to return the start-up step's "context canceled" error.
func TestStopDuringStartIsClean(t *testing.T) {
	for _, cmd := range []string{"sink", "api"} {
		t.Run(cmd, func(t *testing.T) {
			env := map[string]string{
				"POSTPIPE_KAFKA_BROKERS": "127.0.0.1:1",
				"POSTPIPE_MONGODB_URI":   "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=60000",
				"POSTPIPE_HTTP_ADDR":     freeAddr(t),
				"POSTPIPE_LOG_LEVEL":     "error",
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- run(ctx, []string{cmd}, func(k string) string { return env[k] }) }()
			time.Sleep(300 * time.Millisecond) // inside start-up: the store is being dialled
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("postpipe %s stopped during start-up returned %v; want nil (a clean stop)", cmd, err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("postpipe %s did not stop within 30s of the stop", cmd)
			}
		})
	}
}
