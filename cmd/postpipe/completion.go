package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/postpipe/postpipe/internal/config"
)

// runCompletion is 'postpipe completion bash|zsh|fish': a completion script
// for the shell, on out, made from the command table and each command's
// own flags (what its --help lists), so it cannot drift from them.
func runCompletion(args []string, out io.Writer) error {
	if len(args) == 0 {
		return config.Usagef("completion", "completion: want a shell, bash, zsh or fish")
	}
	fs := flag.NewFlagSet("postpipe completion", flag.ContinueOnError)
	if err := parseFlags(fs, "completion", args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return config.Usagef("completion", "unexpected argument %q", fs.Arg(0))
	}
	tree := completionTree()
	var script string
	switch args[0] {
	case "bash":
		script = bashCompletion(tree)
	case "zsh":
		script = zshCompletion(tree)
	case "fish":
		script = fishCompletion(tree)
	default:
		return config.Usagef("completion", "completion: unknown shell %q, want bash, zsh or fish", args[0])
	}
	_, err := io.WriteString(out, script)
	return err
}

// compNode is what may follow the words of path ("", "run", "dlq list"):
// the next words (commands, actions), the flags, files.
type compNode struct {
	path  string
	words []compItem
	flags []compFlag
	files bool // an operand that is a file (streams check FILE)
}

type compItem struct{ name, desc string }

type compFlag struct {
	name  string // without the dashes
	value bool   // takes a value (every flag but a boolean)
	file  bool   // the value is a file or folder
	desc  string
}

// completionTree is every place on the command line the scripts complete.
func completionTree() []compNode {
	var cmds []compItem
	for _, c := range commands {
		cmds = append(cmds, compItem{c.name, c.summary})
	}
	tree := []compNode{{path: "", words: cmds}}
	for i := range commands {
		c := &commands[i]
		if len(c.actions) == 0 {
			n := compNode{path: c.name, flags: flagsOf(c, ""), files: strings.Contains(c.args, "FILE")}
			if c.name == "help" {
				n.words = cmds
			}
			tree = append(tree, n)
			continue
		}
		var acts []compItem
		for _, a := range c.actions {
			acts = append(acts, compItem{a.name, a.summary})
			tree = append(tree, compNode{path: c.name + " " + a.name, flags: flagsOf(c, a.name), files: strings.Contains(a.args, "FILE")})
		}
		tree = append(tree, compNode{path: c.name, words: acts}, compNode{path: "help " + c.name, words: acts})
	}
	return tree
}

// flagsOf is the flags of c (of its action act): those its --help lists.
func flagsOf(c *command, act string) []compFlag {
	args := []string{"--help"}
	if act != "" {
		args = []string{act, "--help"}
	}
	var h *config.Help
	if !errors.As(c.run(context.Background(), args, emptyEnv), &h) || h.Flags == nil {
		return nil
	}
	var flags []compFlag
	h.Flags.VisitAll(func(f *flag.Flag) {
		flags = append(flags, compFlag{
			name:  f.Name,
			value: config.FlagType(f) != "",
			file:  strings.HasSuffix(f.Name, "-file") || strings.HasSuffix(f.Name, "-dir") || f.Name == "out",
			desc:  f.Usage,
		})
	})
	return flags
}

// valuedFlags is every flag that takes a value, as "--name" words; files
// those whose value is a file.
func valuedFlags(tree []compNode) (valued, files []string) {
	for _, n := range tree {
		for _, f := range n.flags {
			if f.value && !slices.Contains(valued, "--"+f.name) {
				valued = append(valued, "--"+f.name)
				if f.file {
					files = append(files, "--"+f.name)
				}
			}
		}
	}
	return valued, files
}

// describe is text short and plain enough to sit in single quotes and
// zsh's descriptions: its first clause, at most 70 characters, without
// quotes, backslashes, brackets or colons.
func describe(text string) string {
	text = strings.ReplaceAll(text, "\n", " ")
	text, _, _ = strings.Cut(text, "; ")
	if i := strings.LastIndex(text, " ("); i > 0 && !strings.Contains(text[i:], ")") {
		text = text[:i] // a parenthesis the cut left open
	}
	text = strings.Map(func(r rune) rune {
		switch r {
		case '\'', '"', '`', '\\', '$':
			return -1
		case ':':
			return ','
		case '[', '{':
			return '('
		case ']', '}':
			return ')'
		}
		return r
	}, text)
	if len(text) > 70 {
		cut := strings.LastIndex(text[:67], " ")
		if cut < 40 {
			cut = 67
		}
		text = text[:cut] + "..."
	}
	return strings.TrimSpace(text)
}

func names(items []compItem) string {
	var s []string
	for _, it := range items {
		s = append(s, it.name)
	}
	return strings.Join(s, " ")
}

func flagWords(flags []compFlag) string {
	var s []string
	for _, f := range flags {
		s = append(s, "--"+f.name)
	}
	return strings.Join(s, " ")
}

func bashCompletion(tree []compNode) string {
	valued, files := valuedFlags(tree)
	var b strings.Builder
	fmt.Fprintf(&b, `# bash completion for postpipe, made by 'postpipe completion bash'.
# Load it with: source <(postpipe completion bash)

_postpipe() {
    local valued=%q
    local file_flags=%q
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local path= w i
    if [[ $prev == = ]]; then
        prev=${COMP_WORDS[COMP_CWORD-2]}
    fi
    # The words before the cursor, less the flags and their values.
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        case $w in
        =) ((i++)) ;;
        -*) [[ " $valued " == *" $w "* && ${COMP_WORDS[i+1]} != = ]] && ((i++)) ;;
        *) path+=" $w" ;;
        esac
    done
    if [[ " $valued " == *" $prev "* ]]; then
        # A flag's value: files where it is one, else nothing to offer.
        [[ " $file_flags " == *" $prev "* ]] || compopt +o default 2>/dev/null
        return
    fi
    local words= flags= files=
    case ${path# } in
`, strings.Join(valued, " "), strings.Join(files, " "))
	for _, n := range tree {
		fmt.Fprintf(&b, "    %q)", n.path)
		if len(n.words) > 0 {
			fmt.Fprintf(&b, " words=%q;", names(n.words))
		}
		if len(n.flags) > 0 {
			fmt.Fprintf(&b, " flags=%q;", flagWords(n.flags))
		}
		if n.files {
			b.WriteString(" files=1;")
		}
		b.WriteString(" ;;\n")
	}
	b.WriteString(`    esac
    [[ -n $files ]] || compopt +o default 2>/dev/null
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    elif [[ -n $words ]]; then
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
    fi
}

complete -o default -F _postpipe postpipe
`)
	return b.String()
}

func zshCompletion(tree []compNode) string {
	valued, files := valuedFlags(tree)
	var b strings.Builder
	fmt.Fprintf(&b, `#compdef postpipe
# zsh completion for postpipe, made by 'postpipe completion zsh'.
# Load it with: source <(postpipe completion zsh), or save it as _postpipe in a directory of $fpath.

_postpipe() {
  local valued=' %s '
  local file_flags=' %s '
  local -a cands
  local i w cmdpath= prev=${words[CURRENT-1]} files=0
  # The words before the cursor, less the flags and their values.
  for (( i = 2; i < CURRENT; i++ )); do
    w=${words[i]}
    if [[ $w == -* ]]; then
      [[ $w != *=* && $valued == *" $w "* ]] && (( i++ ))
      continue
    fi
    cmdpath+=" $w"
  done
  if [[ $prev != *=* && $valued == *" $prev "* ]]; then
    # A flag's value.
    if [[ $file_flags == *" $prev "* ]]; then _files; else _message value; fi
    return
  fi
  case ${cmdpath# } in
`, strings.Join(valued, " "), strings.Join(files, " "))
	for _, n := range tree {
		fmt.Fprintf(&b, "    %s)\n      cands=(", zshQuote(n.path))
		for _, w := range n.words {
			fmt.Fprintf(&b, "\n        %s", zshQuote(w.name+":"+describe(w.desc)))
		}
		for _, f := range n.flags {
			fmt.Fprintf(&b, "\n        %s", zshQuote("--"+f.name+":"+describe(f.desc)))
		}
		b.WriteString(")")
		if n.files {
			b.WriteString("; files=1")
		}
		b.WriteString(" ;;\n")
	}
	b.WriteString(`  esac
  if [[ $PREFIX == -* ]]; then
    cands=(${(M)cands:#-*})
  else
    cands=(${cands:#-*})
  fi
  if (( ${#cands} )); then
    _describe -t postpipe 'postpipe' cands
  elif (( files )); then
    _files
  fi
}

if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
  _postpipe "$@"
else
  compdef _postpipe postpipe
fi
`)
	return b.String()
}

// zshQuote is s in single quotes (zsh's, and fish's for the text describe
// leaves).
func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func fishCompletion(tree []compNode) string {
	valued, _ := valuedFlags(tree)
	var b strings.Builder
	fmt.Fprintf(&b, `# fish completion for postpipe, made by 'postpipe completion fish'.
# Load it with: postpipe completion fish | source, or save it as ~/.config/fish/completions/postpipe.fish

set -g __postpipe_valued %s

# The words before the cursor, less the flags and their values.
function __postpipe_path
    set -l words (commandline -opc)
    set -e words[1]
    set -l path
    set -l skip 0
    for w in $words
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case '-*'
                if not string match -q -- '*=*' $w; and contains -- $w $__postpipe_valued
                    set skip 1
                end
            case '*'
                set -a path $w
        end
    end
    string join ' ' $path
end

# Whether those words are exactly $argv.
function __postpipe_at
    set -l p (__postpipe_path)
    test "$p" = "$argv"
end

complete -c postpipe -f
`, strings.Join(valued, " "))
	for _, n := range tree {
		cond := `"__postpipe_at '` + n.path + `'"`
		for _, w := range n.words {
			fmt.Fprintf(&b, "complete -c postpipe -n %s -a %s -d %s\n", cond, w.name, zshQuote(describe(w.desc)))
		}
		for _, f := range n.flags {
			kind := ""
			switch {
			case f.file:
				kind = " -r -F"
			case f.value:
				kind = " -x"
			}
			fmt.Fprintf(&b, "complete -c postpipe -n %s -l %s%s -d %s\n", cond, f.name, kind, zshQuote(describe(f.desc)))
		}
		if n.files {
			fmt.Fprintf(&b, "complete -c postpipe -n %s -F\n", cond)
		}
	}
	return b.String()
}
