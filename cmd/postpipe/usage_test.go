package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestExitCodes: a mistake on the command line is said once, with where to
// look, and exits 2; a failure at run time exits 1; --help exits 0.
func TestExitCodes(t *testing.T) {
	noEnv := func(string) string { return "" }
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		want     int
		wantOut  []string
		wantOnce string // appears exactly once in the output
	}{
		{"help", []string{"sink", "--help"}, nil, 0, nil, ""},
		{"flag of another command", []string{"sink", "--http-addr=:1"}, nil, 2,
			[]string{"http-addr", "run 'postpipe sink --help'"}, "http-addr"},
		{"bad flag value", []string{"api", "--produce-timeout=5"}, nil, 2,
			[]string{`--produce-timeout="5": want a duration such as 5s or 1m30s`, "run 'postpipe api --help'"}, "produce-timeout"},
		{"unexpected argument", []string{"stack", "extra"}, nil, 2,
			[]string{`unexpected argument "extra"`, "run 'postpipe stack --help'"}, "extra"},
		{"unknown command", []string{"snk"}, nil, 2, []string{`unknown command "snk"`, "run 'postpipe help'"}, "snk"},
		{"dlq without an action", []string{"dlq"}, nil, 2, []string{"postpipe dlq list|redrive", "run 'postpipe dlq --help'"}, ""},
		{"streams without an action", []string{"streams"}, nil, 2, []string{"postpipe streams check FILE", "run 'postpipe streams --help'"}, ""},
		{"probe without a URL", []string{"probe"}, nil, 2, []string{"want exactly one URL", "run 'postpipe probe --help'"}, ""},
		{"bench bad flag", []string{"bench", "--no-such"}, nil, 2, []string{"no-such", "run 'postpipe bench --help'"}, "no-such"},
		{"invalid setting", []string{"sink"}, map[string]string{"POSTPIPE_SINK_WRITERS": "0"}, 1, []string{"POSTPIPE_SINK_WRITERS"}, ""},
		{"bad environment", []string{"sink"}, map[string]string{"POSTPIPE_KAFKA_TLS": "yes"}, 1,
			[]string{`POSTPIPE_KAFKA_TLS="yes": want true or false`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := noEnv
			if tt.env != nil {
				getenv = func(k string) string { return tt.env[k] }
			}
			err := run(context.Background(), tt.args, getenv)
			var out bytes.Buffer
			if got := exitCode(&out, err); got != tt.want {
				t.Errorf("exit code %d for %v (%v), want %d", got, tt.args, err, tt.want)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output %q lacks %q", out.String(), w)
				}
			}
			if tt.wantOnce != "" && strings.Count(out.String(), tt.wantOnce) != 1 {
				t.Errorf("output %q names %q %d times, want once", out.String(), tt.wantOnce, strings.Count(out.String(), tt.wantOnce))
			}
		})
	}
	if got := exitCode(&bytes.Buffer{}, errors.New("boom")); got != 1 {
		t.Errorf("exit code %d for a run-time error, want 1", got)
	}
}

func TestUnknownVariablesWarned(t *testing.T) {
	var buf bytes.Buffer
	warnUnknownVariables(slog.New(slog.NewTextHandler(&buf, nil)), []string{"POSTPIPE_HTTPADDR=:1", "POSTPIPE_HTTP_ADDR=:2", "POSTPIPE_TEST_UI=1"})
	out := buf.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "name=POSTPIPE_HTTPADDR") || !strings.Contains(out, "closest=POSTPIPE_HTTP_ADDR") {
		t.Errorf("no warning naming the typo and the closest name: %q", out)
	}
	if strings.Count(out, "\n") != 1 {
		t.Errorf("want one warning, got %q", out)
	}
}
