package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// One command-line convention for every command and action: flags may come
// before, between or after the positional arguments (as in
// `consent grant alice@example.org --data-dir X`), `--` ends the flags, and
// each command checks the exact number of its arguments, so a stray word is
// refused instead of silently ending the flags and hiding the ones after it.

// action is one verb of a command that has several (consent show|grant|...).
type action struct {
	name string
	// args names the positional arguments in the usage line ("ADDR"),
	// nargs is how many there must be, noun what one is called in errors.
	args  string
	nargs int
	noun  string
	about string
}

// parseFlags parses args with flags anywhere and returns the positional
// arguments in order. Go's flag package stops at the first non-flag, so it
// is called again after each positional argument. A "--" ends the flags:
// everything after it is positional. (A flag whose value is literally "--"
// followed by a positional argument is taken as the terminator: nobody
// passes "--" as a value.)
func (fs *flagSet) parseFlags(args []string) ([]string, error) {
	var pos []string
	rest := args
	for {
		if err := fs.FlagSet.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.printHelp(fs.env.stdout, pos)
				return nil, errHelpShown
			}
			return nil, fmt.Errorf("%w: %v (see 'pixelgate help %s')", errUsage, err, fs.Name())
		}
		left := fs.FlagSet.Args()
		if n := len(rest) - len(left); n > 0 && rest[n-1] == "--" {
			return append(pos, left...), nil
		}
		if len(left) == 0 {
			return pos, nil
		}
		pos = append(pos, left[0])
		rest = left[1:]
	}
}

// Args, NArg and Arg are the positional arguments wherever they stood
// among the flags (the embedded FlagSet's would stop at the first one).
func (fs *flagSet) Args() []string { return fs.pos }
func (fs *flagSet) NArg() int      { return len(fs.pos) }
func (fs *flagSet) Arg(i int) string {
	if i < 0 || i >= len(fs.pos) {
		return ""
	}
	return fs.pos[i]
}

// printHelp writes the usage of the command, or of its action when pos
// starts with one, with every flag.
func (fs *flagSet) printHelp(w io.Writer, pos []string) {
	usage, about := fs.usage, fs.about
	if len(pos) > 0 {
		for _, a := range fs.actions {
			if a.name == pos[0] {
				usage = strings.TrimSpace(fs.Name() + " " + a.name + " [flags] " + a.args)
				about = a.about
			}
		}
	}
	fmt.Fprintf(w, "Usage: pixelgate %s\n\n%s\n", usage, about)
	if len(fs.actions) > 0 && usage == fs.usage {
		fmt.Fprintln(w, "\nActions:")
		for _, a := range fs.actions {
			fmt.Fprintf(w, "  %-13s %s\n", strings.TrimSpace(a.name+" "+a.args), firstLine(a.about))
		}
	}
	fmt.Fprintln(w, "\nFlags may come before or after the arguments; -- ends them.\n\nFlags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// wantArgs checks that exactly n positional arguments were given. A lone
// "help" where the arguments go is a request for help, so every command
// and action answers both `-h` and `help`.
func (fs *flagSet) wantArgs(cmd string, n int, noun string) error {
	got := fs.pos
	if len(got) == 1 && got[0] == "help" {
		fs.printHelp(fs.env.stdout, nil)
		return errHelpShown
	}
	if len(got) == n {
		return nil
	}
	want := "no arguments"
	switch n {
	case 0:
	case 1:
		want = "one " + noun
	default:
		want = fmt.Sprintf("%d %s", n, noun) // noun in the plural
	}
	if len(got) == 0 {
		return fmt.Errorf("%w: %s takes %s; got none", errUsage, cmd, want)
	}
	plural := "s"
	if len(got) == 1 {
		plural = ""
	}
	return fmt.Errorf("%w: %s takes %s; got %d argument%s: %s", errUsage, cmd, want, len(got), plural, quoteAll(got))
}

func quoteAll(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = fmt.Sprintf("%q", a)
	}
	return strings.Join(q, " ")
}

// parseAction parses `COMMAND ACTION ARGS...` with flags anywhere, answers
// `COMMAND help [ACTION]` and `-h`, and checks the action's argument count.
// It returns the action and its arguments.
func (fs *flagSet) parseAction(args []string, actions []action) (action, []string, error) {
	fs.actions = actions
	if err := fs.parse(args); err != nil {
		return action{}, nil, err
	}
	names := make([]string, len(actions))
	for i, a := range actions {
		names[i] = a.name
	}
	want := strings.Join(names, ", ")
	if fs.NArg() == 0 {
		fs.printHelp(fs.env.stderr, nil)
		return action{}, nil, fmt.Errorf("%w: missing action (want one of %s)", errUsage, want)
	}
	if fs.Arg(0) == "help" {
		fs.printHelp(fs.env.stdout, fs.pos[1:])
		return action{}, nil, errHelpShown
	}
	for _, a := range actions {
		if a.name != fs.Arg(0) {
			continue
		}
		fs.pos = fs.pos[1:]
		if len(fs.pos) == 1 && fs.pos[0] == "help" {
			fs.printHelp(fs.env.stdout, []string{a.name})
			return action{}, nil, errHelpShown
		}
		if err := fs.wantArgs(fs.Name()+" "+a.name, a.nargs, a.noun); err != nil {
			return action{}, nil, err
		}
		return a, fs.pos, nil
	}
	return action{}, nil, fmt.Errorf("%w: unknown %s action %q (want one of %s)", errUsage, fs.Name(), fs.Arg(0), want)
}
