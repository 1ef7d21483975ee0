package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/devstack"
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
