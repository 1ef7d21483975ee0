package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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
		{[]string{"completion", "--help"}, []string{"Usage: postpipe completion bash|zsh|fish", "  bash ", "  zsh ", "  fish "}, nil},
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
		{[]string{"completion"}, nil, "want a shell, bash, zsh or fish", "completion"},
		{[]string{"completion", "tcsh"}, nil, `unknown shell "tcsh"`, "completion"},
		{[]string{"completion", "bash", "extra"}, nil, `unexpected argument "extra"`, "completion"},
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

// completionScript is 'postpipe completion SHELL'.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	var out bytes.Buffer
	if err := runCompletion([]string{shell}, &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestCompletionScripts: each shell's script names every command, every
// action and every flag each command's --help lists, and parses.
func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			script := completionScript(t, shell)
			for _, cmd := range everyCommand() {
				if !strings.Contains(script, cmd[len(cmd)-1]) {
					t.Errorf("the script lacks %s", cmd[len(cmd)-1])
				}
				stdout, _, _ := cli(t, nil, append(slices.Clone(cmd), "--help")...)
				for _, m := range regexp.MustCompile(`(?m)^  --([a-z0-9-]+)`).FindAllStringSubmatch(stdout, -1) {
					word := "--" + m[1]
					if shell == "fish" {
						word = "-l " + m[1]
					}
					if !strings.Contains(script, word) {
						t.Errorf("the script lacks %s of %q", word, cmd)
					}
				}
			}
			check := map[string][]string{"bash": {"bash", "-n"}, "zsh": {"zsh", "-n"}, "fish": {"fish", "--no-execute"}}[shell]
			if _, err := exec.LookPath(check[0]); err != nil {
				t.Skipf("no %s here to parse the script", check[0])
			}
			f := filepath.Join(t.TempDir(), "postpipe."+shell)
			if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(check[0], append(check[1:], f)...).CombinedOutput(); err != nil {
				t.Errorf("%s does not parse the script: %v\n%s", shell, err, out)
			}
		})
	}
}

// TestBashCompletion runs the bash script's function on command lines and
// checks what it offers.
func TestBashCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	f := filepath.Join(t.TempDir(), "postpipe.bash")
	if err := os.WriteFile(f, []byte(completionScript(t, "bash")), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		line    string // the words; the last is the one being completed
		want    []string
		notWant []string
	}{
		{"postpipe ", []string{"run", "dlq", "completion", "help"}, nil},
		{"postpipe dl", []string{"dlq"}, []string{"run"}},
		{"postpipe dlq ", []string{"list", "redrive"}, nil},
		{"postpipe dlq list --li", []string{"--limit"}, nil},
		{"postpipe dlq list --match boom --", []string{"--limit", "--redrive-group", "--kafka-brokers"}, []string{"--http-addr"}},
		{"postpipe run --sink-b", []string{"--sink-batch-size", "--sink-batch-wait"}, nil},
		{"postpipe run --log-level ", nil, []string{"--http-addr", "run"}},
		{"postpipe sink --", []string{"--sink-batch-size"}, []string{"--http-addr"}},
		{"postpipe bench --war", []string{"--warmup"}, nil},
		{"postpipe completion ", []string{"bash", "zsh", "fish"}, nil},
		{"postpipe help d", []string{"dlq"}, nil},
		{"postpipe help dlq ", []string{"list", "redrive"}, nil},
		{"postpipe streams ", []string{"check"}, nil},
	}
	for _, tt := range tests {
		words := strings.Split(tt.line, " ")
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+w+"'")
		}
		script := "source " + f + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\nCOMP_CWORD=" + strconv.Itoa(len(words)-1) +
			"\n_postpipe\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
		out, err := exec.Command("bash", "-c", script).CombinedOutput()
		if err != nil {
			t.Errorf("%q: %v\n%s", tt.line, err, out)
			continue
		}
		got := strings.Fields(string(out))
		for _, w := range tt.want {
			if !slices.Contains(got, w) {
				t.Errorf("%q offers %q, want %s among them", tt.line, got, w)
			}
		}
		for _, w := range tt.notWant {
			if slices.Contains(got, w) {
				t.Errorf("%q offers %q, not want %s", tt.line, got, w)
			}
		}
	}
}

// TestFishCompletion asks fish what it would offer on command lines, with
// the fish script loaded.
func TestFishCompletion(t *testing.T) {
	if _, err := exec.LookPath("fish"); err != nil {
		t.Skip("no fish")
	}
	f := filepath.Join(t.TempDir(), "postpipe.fish")
	if err := os.WriteFile(f, []byte(completionScript(t, "fish")), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		line    string
		want    []string
		notWant []string
	}{
		{"postpipe ", []string{"run", "dlq", "completion", "help"}, []string{"--http-addr"}},
		{"postpipe dlq ", []string{"list", "redrive"}, []string{"run"}},
		{"postpipe dlq list --li", []string{"--limit"}, nil},
		{"postpipe dlq list --match boom --", []string{"--limit", "--kafka-brokers"}, []string{"--http-addr"}},
		{"postpipe run --sink-b", []string{"--sink-batch-size", "--sink-batch-wait"}, nil},
		{"postpipe sink --", []string{"--sink-batch-size"}, []string{"--http-addr"}},
		{"postpipe help d", []string{"dlq"}, nil},
		{"postpipe completion ", []string{"bash", "zsh", "fish"}, nil},
		{"postpipe run --log-level ", nil, []string{"run", "--http-addr"}},
	}
	for _, tt := range tests {
		out, err := exec.Command("fish", "--no-config", "-c", "source "+f+"; complete -C '"+tt.line+"'").CombinedOutput()
		if err != nil {
			t.Errorf("%q: %v\n%s", tt.line, err, out)
			continue
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			word, _, _ := strings.Cut(l, "\t")
			got = append(got, word)
		}
		for _, w := range tt.want {
			if !slices.Contains(got, w) {
				t.Errorf("%q offers %q, want %s among them", tt.line, got, w)
			}
		}
		for _, w := range tt.notWant {
			if slices.Contains(got, w) {
				t.Errorf("%q offers %q, not want %s", tt.line, got, w)
			}
		}
	}
}

// TestZshCompletion runs the zsh script's function on command lines, with
// zsh's completion helpers replaced by ones that print what they are
// given (a completion widget needs a terminal).
func TestZshCompletion(t *testing.T) {
	if _, err := exec.LookPath("zsh"); err != nil {
		t.Skip("no zsh")
	}
	f := filepath.Join(t.TempDir(), "postpipe.zsh")
	if err := os.WriteFile(f, []byte(completionScript(t, "zsh")), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		line string
		want []string // exactly, in order: the candidates, or FILES, or VALUE
	}{
		{"postpipe ", commandNames()},
		{"postpipe dlq ", []string{"list", "redrive"}},
		{"postpipe completion ", []string{"bash", "zsh", "fish"}},
		{"postpipe streams check ", []string{"FILES"}},
		{"postpipe run --streams-file ", []string{"FILES"}},
		{"postpipe run --log-level ", []string{"VALUE"}},
		{"postpipe probe --", []string{"--timeout"}},
		{"postpipe dlq list --match boom --", flagNames(t, "dlq", "list")},
	}
	for _, tt := range tests {
		words := strings.Split(tt.line, " ")
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+w+"'")
		}
		script := `_describe() { local name=$4; print -l -- ${(P)name} }
_files() { print FILES }
_message() { print VALUE }
compdef() { : }
source ` + f + `
words=(` + strings.Join(quoted, " ") + `)
CURRENT=` + strconv.Itoa(len(words)) + `
PREFIX='` + words[len(words)-1] + `'
_postpipe
`
		out, err := exec.Command("zsh", "-f", "-c", script).CombinedOutput()
		if err != nil {
			t.Errorf("%q: %v\n%s", tt.line, err, out)
			continue
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			word, _, _ := strings.Cut(l, ":")
			got = append(got, word)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q offers %q, want %q", tt.line, got, tt.want)
		}
	}
}

func commandNames() []string {
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	return names
}

// flagNames is the flags the help of cmd lists, as --name.
func flagNames(t *testing.T, cmd ...string) []string {
	t.Helper()
	stdout, _, _ := cli(t, nil, append(cmd, "--help")...)
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^  (--[a-z0-9-]+)`).FindAllStringSubmatch(stdout, -1) {
		flags = append(flags, m[1])
	}
	return flags
}
