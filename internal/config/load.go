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
	"time"
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
// It returns flag.ErrHelp after printing usage for -h/--help, and a
// *UsageError for a bad command line. out also gets the warnings: a
// variable read by its old name.
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
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("invalid environment:\n%s", strings.Join(errs, "\n"))
	}
	// The flag package prints its error and the whole usage on a mistake;
	// the caller prints the error once with a hint instead.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(out, cmd, fs, envOf)
			return Config{}, err
		}
		return Config{}, &UsageError{Cmd: cmd, Err: flagError(fs, err)}
	}
	if fs.NArg() > 0 {
		return Config{}, Usagef(cmd, "postpipe %s: unexpected argument %q", cmd, fs.Arg(0))
	}
	return c, nil
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

func printUsage(out io.Writer, cmd string, fs *flag.FlagSet, envOf func(string) string) {
	fmt.Fprintf(out, "Usage: postpipe %s [flags]\n\nEvery flag can also be set by the environment variable shown.\n\n", cmd)
	fs.VisitAll(func(f *flag.Flag) {
		fmt.Fprintf(out, "  --%s  (%s, default %q)\n      %s\n", f.Name, envOf(f.Name), f.DefValue, f.Usage)
	})
}

// flagError rewrites the flag package's "invalid value" error to name the
// expected form, as the environment's errors do.
func flagError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	// The flag package says: invalid value "x" for flag -name: parse error
	// (invalid boolean value "x" for -name: … for a boolean).
	for _, f := range []struct{ prefix, sep string }{{"invalid value ", " for flag -"}, {"invalid boolean value ", " for -"}} {
		rest, ok := strings.CutPrefix(msg, f.prefix)
		if !ok {
			continue
		}
		if i := strings.Index(rest, f.sep); i >= 0 {
			name, _, _ := strings.Cut(rest[i+len(f.sep):], ":")
			if fl := fs.Lookup(name); fl != nil {
				return fmt.Errorf("--%s=%s: want %s", name, rest[:i], expectedForm(fl))
			}
		}
	}
	return err
}

// expectedForm describes the values a flag takes, for parse errors.
func expectedForm(f *flag.Flag) string {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return "a valid value"
	}
	switch g.Get().(type) {
	case time.Duration:
		return "a duration such as 5s or 1m30s"
	case bool:
		return "true or false"
	case int, int64:
		return "an integer"
	case float64:
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
