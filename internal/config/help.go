package config

import (
	"flag"
	"io"
	"strconv"
	"strings"
	"time"
)

// Help is what -h/--help asks for: a command's usage and flags. Load and
// the commands return it instead of printing, so the caller prints it once,
// on stdout, and exits 0; errors.Is(err, flag.ErrHelp) holds for it.
type Help struct {
	Cmd string // the command, as in "postpipe <Cmd>"; empty: postpipe's own
	// Usage is the synopsis and what the command does, printed before the
	// flags; empty: "Usage: postpipe <Cmd> [flags]".
	Usage string
	Flags *flag.FlagSet // the command's flags; nil: none
	// Env is the environment variable of a flag, shown beside it; nil: the
	// flags have none.
	Env func(flagName string) string
}

func (h *Help) Error() string {
	if h.Cmd == "" {
		return "help requested"
	}
	return "help requested for " + h.Cmd
}

// Is makes a *Help flag.ErrHelp.
func (h *Help) Is(target error) bool { return target == flag.ErrHelp }

// String is the help text: the usage, then each flag with its type, its
// variable and its default, then what it does.
func (h *Help) String() string {
	var b strings.Builder
	usage := h.Usage
	if usage == "" {
		usage = "Usage: postpipe " + h.Cmd + " [flags]"
	}
	b.WriteString(strings.TrimRight(usage, "\n") + "\n")
	n := 0
	if h.Flags != nil {
		h.Flags.VisitAll(func(*flag.Flag) { n++ })
	}
	if n == 0 {
		return b.String()
	}
	b.WriteString("\n")
	if h.Env != nil {
		b.WriteString("Flags (each one also read from the environment variable shown; the flag wins):\n")
	} else {
		b.WriteString("Flags:\n")
	}
	h.Flags.VisitAll(func(f *flag.Flag) {
		b.WriteString("  --" + f.Name)
		if t := FlagType(f); t != "" {
			b.WriteString(" " + t)
		}
		if h.Env != nil {
			b.WriteString("  " + h.Env(f.Name))
		}
		switch d, ok := DefaultText(f); {
		case !ok:
		case d == "":
			b.WriteString(" (default: none)")
		default:
			b.WriteString(" (default " + d + ")")
		}
		b.WriteString("\n      " + f.Usage + "\n")
	})
	return b.String()
}

// WriteTo writes the help text to w.
func (h *Help) WriteTo(w io.Writer) (int64, error) {
	n, err := io.WriteString(w, h.String())
	return int64(n), err
}

// FlagType is the kind of value a flag takes, as the help shows it:
// duration, int, float, string or list; "" for a boolean, which takes none
// (--kafka-tls, --kafka-tls=false).
func FlagType(f *flag.Flag) string {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return ""
	}
	if _, ok := f.Value.(*listValue); ok {
		return "list"
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return "value"
	}
	switch g.Get().(type) {
	case time.Duration:
		return "duration"
	case int, int64, uint, uint64:
		return "int"
	case float64:
		return "float"
	case string:
		return "string"
	}
	return "value"
}

// DefaultText is a flag's default as the help shows it: as it would be
// typed (5s, 6, :8080, true), quoted only where the quotes tell something
// (a space, an empty part); "" for an empty string or list, shown as
// none. ok is false when the flag's usage says its default itself
// ("(default: the profile's)"): a bare value, such as a -1 meaning
// "unset", would mislead.
func DefaultText(f *flag.Flag) (text string, ok bool) {
	if strings.Contains(f.Usage, "(default") || strings.Contains(f.Usage, "default:") {
		return "", false
	}
	d := f.DefValue
	switch {
	case strings.ContainsAny(d, " \t\"'") || strings.Contains(d, ",,") || strings.HasPrefix(d, ",") || strings.HasSuffix(d, ","):
		return strconv.Quote(d), true
	}
	return d, true
}
