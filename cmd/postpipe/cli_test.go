package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// cli runs the command line as main does, without the process: what it
// prints on stdout and stderr, and the exit status.
func cli(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] })
	code = report(&out, &errOut, err)
	return out.String(), errOut.String(), code
}

// everyCommand is each command line that has a help: every command, and
// every action of those that have them.
func everyCommand() [][]string {
	var cmds [][]string
	for _, c := range commands {
		cmds = append(cmds, []string{c.name})
		for _, a := range c.actions {
			cmds = append(cmds, []string{c.name, a.name})
		}
	}
	return cmds
}

// TestHelpGoesToStdout: 'postpipe CMD --help', -h, -help and 'postpipe
// help CMD' print the same help on stdout and exit 0, for every command
// and action; nothing on stderr.
func TestHelpGoesToStdout(t *testing.T) {
	for _, cmd := range everyCommand() {
		name := strings.Join(cmd, " ")
		t.Run(name, func(t *testing.T) {
			var first string
			for _, args := range [][]string{append(slices.Clone(cmd), "--help"), append(slices.Clone(cmd), "-h"), append(slices.Clone(cmd), "-help"), append([]string{"help"}, cmd...)} {
				stdout, stderr, code := cli(t, nil, args...)
				if code != 0 || stderr != "" {
					t.Errorf("%q: exit %d, stderr %q; want 0 and nothing", args, code, stderr)
				}
				if name != "help" && !strings.HasPrefix(stdout, "Usage: postpipe "+name) {
					t.Errorf("%q: stdout does not begin with the usage of %s:\n%s", args, name, stdout)
				}
				if first == "" {
					first = stdout
				} else if stdout != first {
					t.Errorf("%q prints another help than %s --help:\n%s\nwant:\n%s", args, name, stdout, first)
				}
			}
		})
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"help", "help"}} {
		stdout, stderr, code := cli(t, nil, args...)
		if code != 0 || stderr != "" || !strings.Contains(stdout, "Commands:") {
			t.Errorf("%q: exit %d, stderr %q, stdout %q; want 0 and the command list", args, code, stderr, stdout)
		}
		for _, c := range commands {
			if !regexp.MustCompile(`(?m)^  ` + c.name + ` `).MatchString(stdout) {
				t.Errorf("%q: the command list lacks %s", args, c.name)
			}
		}
	}
}

// TestHelpContents: each help says what its command takes.
func TestHelpContents(t *testing.T) {
	tests := []struct {
		args    []string
		want    []string
		notWant []string
	}{
		{[]string{"run", "--help"}, []string{"API and sink in one process", "  --produce-timeout duration  POSTPIPE_PRODUCE_TIMEOUT (default 5s)", "  --kafka-partitions int  POSTPIPE_KAFKA_PARTITIONS (default 6)"}, []string{`(default "`}},
		{[]string{"dlq", "--help"}, []string{"Usage: postpipe dlq list|redrive [flags]", "  list ", "  redrive ", "  --limit int  POSTPIPE_DLQ_LIMIT (default 50)", "  --match string  POSTPIPE_DLQ_MATCH"}, nil},
		{[]string{"dlq", "redrive", "--help"}, []string{"Usage: postpipe dlq redrive [flags]", "  --redrive-group string  POSTPIPE_DLQ_REDRIVE_GROUP"}, nil},
		{[]string{"bench", "--help"}, []string{"Runs load scenarios", "  --warmup duration\n", "  --timeout duration (default 30s)", "  --content-bytes int (default 300)"}, []string{"-1ns", `(default "`, "POSTPIPE_TIMEOUT"}},
		{[]string{"probe", "--help"}, []string{"Usage: postpipe probe", "  --timeout duration (default 3s)"}, nil},
		{[]string{"apikey", "--help"}, []string{"Usage: postpipe apikey NAME"}, []string{"Flags"}},
		{[]string{"streams", "--help"}, []string{"Usage: postpipe streams check FILE", "  check "}, nil},
		{[]string{"version", "--help"}, []string{"Usage: postpipe version\n"}, nil},
	}
	for _, tt := range tests {
		stdout, _, code := cli(t, nil, tt.args...)
		if code != 0 {
			t.Errorf("%q: exit %d", tt.args, code)
		}
		for _, w := range tt.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%q lacks %q:\n%s", tt.args, w, stdout)
			}
		}
		for _, w := range tt.notWant {
			if strings.Contains(stdout, w) {
				t.Errorf("%q shows %q:\n%s", tt.args, w, stdout)
			}
		}
	}
}

// TestUsageErrorsExit2: every mistake on any command line exits 2 with a
// line naming it, then a hint whose help works; "postpipe" once; nothing
// on stdout.
func TestUsageErrorsExit2(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string // in the first line
		hint string
	}{
		{[]string{"version", "--bogus"}, nil, "unknown flag --bogus", "version"},
		{[]string{"version", "extra"}, nil, `unexpected argument "extra"`, "version"},
		{[]string{"apikey"}, nil, "want a NAME", "apikey"},
		{[]string{"apikey", "a", "b"}, nil, `unexpected argument "b"`, "apikey"},
		{[]string{"apikey", "--bogus", "a"}, nil, "unknown flag --bogus", "apikey"},
		{[]string{"streams"}, nil, "want an action, check", "streams"},
		{[]string{"streams", "lint", "f"}, nil, `unknown action "lint"`, "streams"},
		{[]string{"streams", "check"}, nil, "want a FILE", "streams"},
		{[]string{"streams", "check", "a", "b"}, nil, `unexpected argument "b"`, "streams"},
		{[]string{"streams", "check", "--bogus", "f"}, nil, "unknown flag --bogus", "streams"},
		{[]string{"dlq"}, nil, "want an action, list or redrive", "dlq"},
		{[]string{"dlq", "bogus"}, nil, `unknown action "bogus", want list or redrive`, "dlq"},
		{[]string{"dlq", "list", "--bogus"}, nil, "unknown flag --bogus", "dlq list"},
		{[]string{"dlq", "redrive", "extra"}, nil, `unexpected argument "extra"`, "dlq redrive"},
		{[]string{"dlq", "list", "--limit"}, nil, "flag --limit needs a value", "dlq list"},
		{[]string{"probe"}, nil, "want exactly one URL", "probe"},
		{[]string{"probe", "-bogus", "http://x"}, nil, "unknown flag -bogus", "probe"},
		{[]string{"bench", "--bogus"}, nil, "unknown flag --bogus", "bench"},
		{[]string{"run", "--bogus"}, nil, "unknown flag --bogus", "run"},
		{[]string{"stack", "-bogus=1"}, nil, "unknown flag -bogus", "stack"},
		{[]string{"sink", "--http-addr=:1"}, nil, "unknown flag --http-addr", "sink"},
		{[]string{"api", "--produce-timeout", "5"}, nil, `--produce-timeout="5": want a duration`, "api"},
		{[]string{"sink", "--sink-batch-size", "-5"}, nil, "invalid configuration", "sink"},
		{[]string{"help", "bogus"}, nil, `unknown command "bogus"`, ""},
		{[]string{"help", "run", "extra"}, nil, `unexpected argument "extra"`, "help"},
		{[]string{"snk"}, nil, `unknown command "snk"`, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, stderr, code := cli(t, tt.env, tt.args...)
			if code != 2 || stdout != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", code, stdout)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if !strings.HasPrefix(stderr, "postpipe: ") || strings.Count(stderr, "postpipe:") != 1 || strings.Contains(stderr, "postpipe: postpipe") {
				t.Errorf("stderr %q: want one \"postpipe: \" prefix", stderr)
			}
			if !strings.Contains(lines[0], tt.want) {
				t.Errorf("stderr %q: the first line does not say %q", stderr, tt.want)
			}
			hint := "run 'postpipe help'"
			if tt.hint != "" {
				hint = "run 'postpipe " + tt.hint + " --help'"
			}
			if lines[len(lines)-1] != hint {
				t.Errorf("stderr %q: want the hint %q last", stderr, hint)
			}
			// The hint's help works.
			hintArgs := strings.Fields(strings.Trim(strings.TrimPrefix(hint, "run 'postpipe "), "'"))
			if out, _, code := cli(t, nil, hintArgs...); code != 0 || out == "" {
				t.Errorf("the hint %q: exit %d, stdout %q", hint, code, out)
			}
		})
	}
}

// TestErrorsNameWhatWasSet: a bad value is named as the user gave it: the
// flag on the command line (a usage error, 2), the variable in the
// environment (1).
func TestErrorsNameWhatWasSet(t *testing.T) {
	_, stderr, code := cli(t, nil, "sink", "--sink-batch-size", "-5")
	if code != 2 || !strings.Contains(stderr, "--sink-batch-size: must be between 1 and 10000, got -5") || strings.Contains(stderr, "POSTPIPE_SINK_BATCH_SIZE") {
		t.Errorf("--sink-batch-size -5: exit %d, %q", code, stderr)
	}
	_, stderr, code = cli(t, map[string]string{"POSTPIPE_SINK_BATCH_SIZE": "-5"}, "sink")
	if code != 1 || !strings.Contains(stderr, "POSTPIPE_SINK_BATCH_SIZE: must be between 1 and 10000, got -5") || strings.Contains(stderr, "--sink-batch-size") {
		t.Errorf("POSTPIPE_SINK_BATCH_SIZE=-5: exit %d, %q", code, stderr)
	}
	_, stderr, code = cli(t, map[string]string{"POSTPIPE_DLQ_LIMIT": "-1"}, "dlq", "list")
	if code != 1 || !strings.Contains(stderr, "POSTPIPE_DLQ_LIMIT: must be 0 (all) or positive") {
		t.Errorf("POSTPIPE_DLQ_LIMIT=-1: exit %d, %q", code, stderr)
	}
	_, stderr, code = cli(t, nil, "dlq", "list", "--limit=-1")
	if code != 2 || !strings.Contains(stderr, "--limit: must be 0 (all) or positive") {
		t.Errorf("--limit=-1: exit %d, %q", code, stderr)
	}
}

func TestVersionCommand(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		// version prints on the process's stdout.
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout := os.Stdout
		os.Stdout = w
		_, stderr, code := cli(t, nil, args...)
		os.Stdout = stdout
		w.Close()
		var out bytes.Buffer
		_, _ = out.ReadFrom(r)
		if code != 0 || stderr != "" || !strings.HasPrefix(out.String(), "postpipe ") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out.String(), stderr)
		}
	}
}
