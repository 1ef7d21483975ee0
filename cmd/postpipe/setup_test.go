package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/config"
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
