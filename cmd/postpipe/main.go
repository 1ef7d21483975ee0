// Command postpipe is a write API that answers once Kafka has a post and a
// sink that lands the posts in MongoDB. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/stream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv)
	stop()
	os.Exit(report(os.Stdout, os.Stderr, err))
}

// report prints what run returned and returns the exit status: a help
// text goes to stdout with 0 (so 'postpipe run --help | less' works); any
// other outcome is exitCode's.
func report(stdout, stderr io.Writer, err error) int {
	var help *config.Help
	if errors.As(err, &help) {
		if _, err := help.WriteTo(stdout); err != nil {
			return exitCode(stderr, fmt.Errorf("write the help: %w", err))
		}
		return 0
	}
	return exitCode(stderr, err)
}

// exitCode prints err for the operator, once, and returns the exit status:
// 0 on success or --help, 2 for a usage error (with a hint where to look)
// or a bad streams file (the file is the operator's input, as flags are),
// 1 for anything else.
func exitCode(w io.Writer, err error) int {
	var usageErr *config.UsageError
	var streamsErr *stream.FileError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usageErr):
		fmt.Fprintf(w, "%s\n%s\n", message(err), usageErr.Hint())
		return 2
	case errors.As(err, &streamsErr):
		fmt.Fprintln(w, message(err))
		return 2
	default:
		fmt.Fprintln(w, message(err))
		return 1
	}
}

// message is err for the operator, "postpipe: " in front unless it begins
// with the program's name already ("postpipe bench: …"): one prefix.
func message(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "postpipe:") || strings.HasPrefix(msg, "postpipe ") {
		return msg
	}
	return "postpipe: " + msg
}

// parseFlags parses the flags of a command that has its own flag set: the
// flag package's own printing (the error, then the whole usage) is
// replaced by one usage error naming the flag as typed, and --help by a
// *config.Help for report to print. The command's Usage gives the text
// above its flags; the flags are listed as every command's are.
func parseFlags(fs *flag.FlagSet, cmd string, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return &config.Help{Cmd: cmd, Usage: usageHeader(fs, usage), Flags: fs}
	case err != nil:
		return &config.UsageError{Cmd: cmd, Err: config.FlagError(fs, args, err)}
	}
	return nil
}

// usageHeader is what a command's own Usage prints before its flags (the
// first line that starts with "  -"): its synopsis and what it does. ""
// without a Usage of its own (the table's is used).
func usageHeader(fs *flag.FlagSet, usage func()) string {
	if usage == nil {
		return ""
	}
	var b strings.Builder
	fs.SetOutput(&b)
	usage()
	fs.SetOutput(io.Discard)
	text := b.String()
	if strings.HasPrefix(text, "  -") || strings.HasPrefix(text, "Usage of "+fs.Name()+":") {
		return "" // no Usage of its own: the flag package's
	}
	if i := strings.Index(text, "\n  -"); i >= 0 {
		text = text[:i+1]
	}
	return text
}

// command is a subcommand of postpipe: the command list, the help, the
// dispatch and the completion scripts are all made from the table.
type command struct {
	name    string
	args    string // what follows the name in the synopsis: "[flags]", "NAME"
	summary string // what it does; lines after the first are its details
	// actions are the words that must follow the name (dlq list|redrive),
	// called what actionKind says ("action", "shell").
	actions    []action
	actionKind string
	run        func(ctx context.Context, args []string, getenv func(string) string) error
}

// action is one of a command's actions: "list" of "dlq list".
type action struct {
	name, args, summary string
}

var commands []command

func init() {
	// In init: help and completion read the table they are part of.
	commands = []command{
		{name: "run", args: "[flags]", run: runAll,
			summary: "API and sink in one process; starts an embedded broker and store\nwhen POSTPIPE_KAFKA_BROKERS / POSTPIPE_MONGODB_URI are empty"},
		{name: "api", args: "[flags]", run: runAPI, summary: "the HTTP API alone"},
		{name: "sink", args: "[flags]", run: runSink, summary: "the Kafka -> MongoDB writer alone (a consumer-group member)"},
		{name: "stack", args: "[flags]", run: runStack, summary: "the embedded broker and store as network servers for api and sink"},
		{name: "dlq", args: "list|redrive [flags]", run: runDLQ, actionKind: "action",
			summary: "list the dead-letter topic (dlq list) or put records back (dlq redrive)",
			actions: []action{
				{"list", "[flags]", "list the dead-letter topic's records, newest first, with why each failed"},
				{"redrive", "[flags]", "put the dead-lettered records back on their topic, each once (--redrive-group remembers)"},
			}},
		{name: "bench", args: "[flags]", run: runBench, summary: "load-test a running server and write a report"},
		{name: "probe", args: "[flags] URL", run: withoutEnv(runProbe),
			summary: "exit 0 when a URL answers 2xx (the container health check)"},
		{name: "streams", args: "check FILE", run: toStdout(runStreams),
			actionKind: "action", summary: "check a streams file (the streams are declared and checked;\nonly posts is served yet)",
			actions: []action{{"check", "FILE", "check a streams file without starting anything: a line per stream,\nor exit 2 naming the file, the stream and what is wrong"}}},
		{name: "apikey", args: "NAME", run: toStdout(runAPIKey),
			summary: "mint an API key: prints the key once and its line for\nPOSTPIPE_API_KEYS_FILE (NAME: letters, digits, '.', '_', '-')"},
		{name: "version", run: runVersion, summary: "print the version"},
		{name: "completion", args: "bash|zsh|fish", run: toStdout(runCompletion),
			actionKind: "shell", summary: "print a shell completion script for the commands and their flags",
			actions: []action{
				{"bash", "", "bash completion: source <(postpipe completion bash)"},
				{"zsh", "", "zsh completion: source <(postpipe completion zsh), or save it as _postpipe in $fpath"},
				{"fish", "", "fish completion: postpipe completion fish | source, or save it in ~/.config/fish/completions/postpipe.fish"},
			}},
		{name: "help", args: "[COMMAND [ACTION]]", run: runHelp, summary: "a command's help, as 'postpipe COMMAND --help' prints it"},
	}
}

// withoutEnv makes a command that reads no settings one of the table.
func withoutEnv(f func(context.Context, []string) error) func(context.Context, []string, func(string) string) error {
	return func(ctx context.Context, args []string, _ func(string) string) error { return f(ctx, args) }
}

// toStdout makes a command that writes to the writer it is given one of
// the table, writing to stdout.
func toStdout(f func([]string, io.Writer) error) func(context.Context, []string, func(string) string) error {
	return func(_ context.Context, args []string, _ func(string) string) error { return f(args, os.Stdout) }
}

// lookup is the command called name; nil if none is.
func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// action is c's action called name; nil if none is.
func (c *command) action(name string) *action {
	for i := range c.actions {
		if c.actions[i].name == name {
			return &c.actions[i]
		}
	}
	return nil
}

// actionNames is "list or redrive".
func (c *command) actionNames() string {
	var names []string
	for _, a := range c.actions {
		names = append(names, a.name)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// usage is the synopsis and summary of c, or of its action act.
func (c *command) usage(act string) string {
	synopsis, summary := c.name+" "+c.args, c.summary
	if a := c.action(act); a != nil {
		synopsis, summary = c.name+" "+a.name+" "+a.args, a.summary
	}
	s := "Usage: postpipe " + strings.TrimSpace(synopsis) + "\n\n" + capitalize(summary) + ".\n"
	if act == "" && len(c.actions) > 0 {
		s += "\n" + capitalize(c.actionKind) + "s:\n"
		for _, a := range c.actions {
			s += fmt.Sprintf("  %-8s  %s\n", a.name, indent(a.summary, 12))
		}
	}
	return s
}

// article is "an action", "a shell".
func article(noun string) string {
	if strings.ContainsAny(noun[:1], "aeiou") {
		return "an " + noun
	}
	return "a " + noun
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// indent puts n spaces before each line of s but the first.
func indent(s string, n int) string {
	return strings.ReplaceAll(s, "\n", "\n"+strings.Repeat(" ", n))
}

// topUsage is postpipe's own help: the commands.
func topUsage() string {
	var b strings.Builder
	b.WriteString("postpipe: a write API in front of Kafka, and a sink from Kafka into MongoDB.\n\nUsage: postpipe <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-10s  %s\n", c.name, indent(c.summary, 14))
	}
	b.WriteString("\nRun 'postpipe help <command>' or 'postpipe <command> --help' for a command's flags.\n")
	return b.String()
}

// isHelpArg is an argument that asks for help.
func isHelpArg(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// run is main without the process: it returns instead of exiting.
func run(ctx context.Context, args []string, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, topUsage())
		return config.Usagef("", "no command given")
	}
	err := dispatch(ctx, args[0], args[1:], getenv)
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Stopped (SIGTERM, Ctrl-C) before it had finished starting: that
		// is a clean stop, not a failure of the command.
		return nil
	}
	return err
}

// dispatch runs the command called name. A command with actions gets one
// of them first in rest; a help it returns without a usage text of its own
// gets the table's.
func dispatch(ctx context.Context, name string, rest []string, getenv func(string) string) error {
	switch name {
	case "--version", "-version":
		name = "version"
	case "-h", "--help", "-help":
		name = "help"
	}
	c := lookup(name)
	if c == nil {
		return config.Usagef("", "unknown command %q", name)
	}
	act := ""
	if len(c.actions) > 0 {
		switch {
		case len(rest) == 0:
			return config.Usagef(c.name, "%s: want %s, %s; usage: postpipe %s %s", c.name, article(c.actionKind), c.actionNames(), c.name, c.args)
		case isHelpArg(rest[0]):
			return c.help(ctx)
		case c.action(rest[0]) == nil:
			return config.Usagef(c.name, "%s: unknown %s %q, want %s; usage: postpipe %s %s", c.name, c.actionKind, rest[0], c.actionNames(), c.name, c.args)
		}
		act = rest[0]
	}
	err := c.run(ctx, rest, getenv)
	var help *config.Help
	if errors.As(err, &help) && help.Usage == "" {
		help.Usage = c.usage(act)
	}
	return err
}

// help is the help of a command with actions: its synopsis, its actions,
// and the flags of its first (dlq's actions take the same flags).
func (c *command) help(ctx context.Context) error {
	h := &config.Help{Cmd: c.name, Usage: c.usage("")}
	if err := c.run(ctx, []string{c.actions[0].name, "--help"}, emptyEnv); err != nil {
		if ah := (*config.Help)(nil); errors.As(err, &ah) {
			h.Flags, h.Env = ah.Flags, ah.Env
		}
	}
	return h
}

// emptyEnv is an empty environment.
func emptyEnv(string) string { return "" }

// runHelp is 'postpipe help [COMMAND [ACTION]]': the help 'postpipe
// COMMAND [ACTION] --help' prints; postpipe's own without a command.
func runHelp(ctx context.Context, args []string, getenv func(string) string) error {
	if len(args) == 0 || isHelpArg(args[0]) || args[0] == "help" {
		if len(args) > 1 {
			return config.Usagef("help", "unexpected argument %q", args[1])
		}
		return &config.Help{Usage: topUsage()}
	}
	c := lookup(args[0])
	switch {
	case c == nil:
		return config.Usagef("", "help: unknown command %q", args[0])
	case len(args) > 2 || (len(args) == 2 && len(c.actions) == 0):
		return config.Usagef("help", "unexpected argument %q", args[len(args)-1])
	}
	return dispatch(ctx, c.name, append(args[1:len(args):len(args)], "--help"), getenv)
}

// runVersion is 'postpipe version'.
func runVersion(_ context.Context, args []string, _ func(string) string) error {
	fs := flag.NewFlagSet("postpipe version", flag.ContinueOnError)
	if err := parseFlags(fs, "version", args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return config.Usagef("version", "unexpected argument %q", fs.Arg(0))
	}
	fmt.Println(versionLine())
	return nil
}
