package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
)

type flagSet = flag.FlagSet

// Commands are the commands that take settings and the sections each one
// combines: a command registers, reads from the environment and lists in
// its --help only these.
var Commands = []struct {
	Name     string
	Sections []Section
}{
	{"run", []Section{SectionStreams, SectionHTTP, SectionReads, SectionKeys, SectionAuth, SectionProducer, SectionKafka, SectionTopics, SectionGroup, SectionSink, SectionStore, SectionData, SectionService, SectionLogging}},
	{"api", []Section{SectionStreams, SectionHTTP, SectionReads, SectionKeys, SectionAuth, SectionProducer, SectionKafka, SectionTopics, SectionGroup, SectionStore, SectionService, SectionLogging}},
	{"sink", []Section{SectionStreams, SectionKafka, SectionTopics, SectionGroup, SectionSink, SectionStore, SectionKeys, SectionService, SectionLogging}},
	{"stack", []Section{SectionStack, SectionData, SectionLogging}},
	{"dlq", []Section{SectionKafka, SectionGroup, SectionDLQ, SectionStreams}},
}

// sectionsOf is the sections of cmd ("dlq list" is dlq's); none for a
// command that takes no settings.
func sectionsOf(cmd string) []Section {
	name, _, _ := strings.Cut(cmd, " ")
	for _, c := range Commands {
		if c.Name == name {
			return c.Sections
		}
	}
	return nil
}

// UsageError is a mistake on the command line (an unknown flag, a value
// of the wrong form, an unexpected argument): the process says so, points
// at the command's --help and exits 2.
type UsageError struct {
	Cmd string // the command, as in "postpipe <Cmd> --help"; empty: postpipe's own
	Err error
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Hint is where to look for the right usage.
func (e *UsageError) Hint() string {
	if e.Cmd == "" {
		return "run 'postpipe help'"
	}
	return "run 'postpipe " + e.Cmd + " --help'"
}

// Usagef is a UsageError for cmd.
func Usagef(cmd, format string, args ...any) error {
	return &UsageError{Cmd: cmd, Err: fmt.Errorf(format, args...)}
}

// Load fills a Config for cmd from defaults, then POSTPIPE_* environment
// variables, then command-line flags (the flag wins), registering only the
// sections of cmd. Every flag --foo-bar has the variable POSTPIPE_FOO_BAR,
// or POSTPIPE_<PREFIX>_FOO_BAR in a section with a prefix (EnvName).
// It returns a *Help (which is flag.ErrHelp) for -h/--help, printing
// nothing: the caller prints it on stdout. A bad command line is a
// *UsageError. out gets the warnings: a variable read by its old name.
func Load(cmd string, args []string, getenv func(string) string, out io.Writer) (Config, error) {
	return LoadWith(cmd, args, getenv, out, nil)
}

// LoadWith is Load for a command with flags of its own besides its
// sections: extra registers them on the same flag set (their variables
// follow the plain rule, POSTPIPE_FOO_BAR).
func LoadWith(cmd string, args []string, getenv func(string) string, out io.Writer, extra func(*flag.FlagSet)) (Config, error) {
	c := Default()
	fs, vars := c.flagSet(cmd)
	if extra != nil {
		extra(fs)
	}
	envOf := func(name string) string {
		if v, ok := vars[name]; ok {
			return v
		}
		return envName("", name)
	}

	// Environment first, through the flags' own parsers so both give the
	// same errors; then the command line overrides it.
	var errs []string
	fs.VisitAll(func(f *flag.Flag) {
		name := envOf(f.Name)
		v := getenv(name)
		if old := envName("", f.Name); old != name && getenv(old) != "" {
			// A variable of a section that has since taken a prefix.
			if v == "" {
				v = getenv(old)
				fmt.Fprintf(out, "postpipe: %s is deprecated: read as %s; rename it\n", old, name)
				name = old
			} else {
				fmt.Fprintf(out, "postpipe: %s is deprecated and ignored: %s is set\n", old, name)
			}
		}
		if v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q: want %s", name, v, expectedForm(f)))
			}
		}
	})
	// The flag package prints its error and the whole usage on a mistake;
	// the caller prints the error once with a hint instead.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	cmdLine, err := parseRecording(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		// Help, even with a bad environment: it is how to find out.
		return Config{}, &Help{Cmd: cmd, Flags: fs, Env: envOf}
	case len(errs) > 0:
		return Config{}, fmt.Errorf("invalid environment:\n%s", strings.Join(errs, "\n"))
	case err != nil:
		return Config{}, &UsageError{Cmd: cmd, Err: FlagError(fs, args, err)}
	}
	if fs.NArg() > 0 {
		return Config{}, Usagef(cmd, "unexpected argument %q", fs.Arg(0))
	}
	// Validate names a setting as the user gave it: the flag when it came
	// from the command line.
	for name := range cmdLine {
		if c.origin == nil {
			c.origin = &origin{cmd: cmd, flags: map[string]string{}}
		}
		c.origin.flags[envOf(name)] = typedFlag(args, name)
	}
	return c, nil
}

// parseRecording parses args on fs and returns the flags they set (fs's
// own record counts those the environment set too).
func parseRecording(fs *flag.FlagSet, args []string) (set map[string]bool, err error) {
	set = map[string]bool{}
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		flags = append(flags, f)
		f.Value = recording{Value: f.Value, name: f.Name, set: set}
	})
	err = fs.Parse(args)
	for _, f := range flags {
		f.Value = f.Value.(recording).Value
	}
	return set, err
}

// recording is a flag's value that notes its name in set when set.
type recording struct {
	flag.Value
	name string
	set  map[string]bool
}

func (r recording) Set(s string) error {
	r.set[r.name] = true
	return r.Value.Set(s)
}

// IsBoolFlag keeps a boolean flag one for the parser (--kafka-tls alone).
func (r recording) IsBoolFlag() bool {
	b, ok := r.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// flagSet registers the sections of cmd on a new flag set; vars maps each
// flag to its variable.
func (c *Config) flagSet(cmd string) (fs *flag.FlagSet, vars map[string]string) {
	fs = flag.NewFlagSet("postpipe "+cmd, flag.ContinueOnError)
	vars = map[string]string{}
	for _, s := range sectionsOf(cmd) {
		c.registerSection(s, fs, vars)
	}
	return fs, vars
}

// registerSection adds the flags of section s to fs and their variables,
// with the section's prefix, to vars.
func (c *Config) registerSection(s Section, fs *flag.FlagSet, vars map[string]string) {
	before := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { before[f.Name] = true })
	sec := c.section(s)
	sec.register(fs)
	prefix := ""
	if p, ok := sec.(envPrefixed); ok {
		prefix = p.envPrefix()
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !before[f.Name] {
			vars[f.Name] = envName(prefix, f.Name)
		}
	})
}

// envPrefixed is a section whose variables carry a prefix after
// POSTPIPE_, because its flag names are too plain to be understood alone
// in an environment (--limit is POSTPIPE_DLQ_LIMIT). The variables it had
// before it took the prefix are still read, with a warning.
type envPrefixed interface {
	envPrefix() string
}

// FlagError rewrites the flag package's errors to name the flag as the
// user typed it (args are what was parsed) and, for a value of the wrong
// form, the form expected, as the environment's errors do.
func FlagError(fs *flag.FlagSet, args []string, err error) error {
	msg := err.Error()
	// The flag package says: flag provided but not defined: -name
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return fmt.Errorf("unknown flag %s", typedFlag(args, name))
	}
	// flag needs an argument: -name
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Errorf("flag %s needs a value", typedFlag(args, name))
	}
	// invalid value "x" for flag -name: parse error (invalid boolean
	// value "x" for -name: … for a boolean).
	for _, f := range []struct{ prefix, sep string }{{"invalid value ", " for flag -"}, {"invalid boolean value ", " for -"}} {
		rest, ok := strings.CutPrefix(msg, f.prefix)
		if !ok {
			continue
		}
		if i := strings.Index(rest, f.sep); i >= 0 {
			name, _, _ := strings.Cut(rest[i+len(f.sep):], ":")
			if fl := fs.Lookup(name); fl != nil {
				return fmt.Errorf("%s=%s: want %s", typedFlag(args, name), rest[:i], expectedForm(fl))
			}
		}
	}
	return err
}

// typedFlag is flag name as args spell it (-name or --name, without its
// value); --name when args do not have it.
func typedFlag(args []string, name string) string {
	for _, a := range args {
		if a == "--" {
			break
		}
		flagPart, _, _ := strings.Cut(a, "=")
		if strings.TrimLeft(flagPart, "-") == name && strings.HasPrefix(flagPart, "-") && len(flagPart)-len(name) <= 2 {
			return flagPart
		}
	}
	return "--" + name
}

// expectedForm describes the values a flag takes, for parse errors.
func expectedForm(f *flag.Flag) string {
	switch FlagType(f) {
	case "duration":
		return "a duration such as 5s or 1m30s"
	case "":
		return "true or false"
	case "int":
		return "an integer"
	case "float":
		return "a number such as 0.5"
	}
	return "a valid value"
}

// EnvName is the environment variable of a setting's flag: POSTPIPE_ and
// the flag name in upper case, '-' as '_', after the prefix of its section
// if it has one (--limit of the dlq tools is POSTPIPE_DLQ_LIMIT). A flag of
// no section follows the plain rule. The one place the names are derived.
func EnvName(flagName string) string {
	if v, ok := sectionVars()[flagName]; ok {
		return v
	}
	return envName("", flagName)
}

// envName is the variable of flag name in a section with prefix.
func envName(prefix, flagName string) string {
	return "POSTPIPE_" + prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// sectionVars maps every section's flags to their variables.
var sectionVars = sync.OnceValue(func() map[string]string {
	vars := map[string]string{}
	for _, s := range allSections {
		c := Default()
		c.registerSection(s, flag.NewFlagSet(string(s), flag.ContinueOnError), vars)
	}
	return vars
})

// renamedVariables maps each variable a section read before it took its
// prefix to the one it reads now.
func renamedVariables() map[string]string {
	old := map[string]string{}
	for name, v := range sectionVars() {
		if o := envName("", name); o != v {
			old[o] = v
		}
	}
	return old
}

// ForeignPrefixes are POSTPIPE_* variables that are no setting of the
// binary but are read elsewhere, so UnknownVariables does not warn about
// them: POSTPIPE_TEST_* by the test suites, POSTPIPE_BIN by deploy/*.sh.
var ForeignPrefixes = []string{"POSTPIPE_TEST_", "POSTPIPE_BIN"}

// KnownVariables is every variable some command reads, sorted.
func KnownVariables() []string {
	seen := map[string]bool{}
	for _, cmd := range Commands {
		c := Default()
		_, vars := c.flagSet(cmd.Name)
		for _, v := range vars {
			seen[v] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Unknown is a POSTPIPE_* variable no command reads, with the known name
// closest to it (a likely typo, or the new name of a renamed variable)
// when there is one.
type Unknown struct {
	Name, Closest string
}

// UnknownVariables returns the POSTPIPE_* variables of environ (KEY=value
// entries, as os.Environ gives) that no command reads.
func UnknownVariables(environ []string) []Unknown {
	known := KnownVariables()
	var out []Unknown
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "POSTPIPE_") || slices.Contains(known, name) {
			continue
		}
		if slices.ContainsFunc(ForeignPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		if renamed, ok := renamedVariables()[name]; ok {
			out = append(out, Unknown{Name: name, Closest: renamed})
			continue
		}
		out = append(out, Unknown{Name: name, Closest: closest(name, known)})
	}
	return out
}

// closest is the name of known nearest to name by edit distance, when it is
// near enough to be a typo.
func closest(name string, known []string) string {
	best, bestD := "", -1
	for _, k := range known {
		if d := distance(name, k); bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	if bestD < 0 || bestD > max(2, len(name)/4) {
		return ""
	}
	return best
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// listValue is a comma-separated list flag.
type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }

func (l *listValue) Set(s string) error {
	*l = nil
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}
