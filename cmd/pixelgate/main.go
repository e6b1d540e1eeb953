// Command pixelgate is the tracking-pixel consent proxy: an SMTP relay that
// rewrites every outbound message per recipient, the pixel endpoint, the
// consent pages and the analytics dashboard (see README.md and docs/).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand. run gets the arguments after the command name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *environ, args []string) error
}

// environ is what a command may touch of the process, injected so tests can
// run commands in-process with their own streams and environment.
type environ struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// commands is the table `pixelgate help` prints, in this order.
func commands() []command {
	return []command{
		{"help", "list the commands, or show one command's flags", runHelp},
		{"serve", "run the SMTP relay and the HTTP side (pixel, consent pages, dashboard)", runServe},
		{"check-config", "validate the settings of serve and print them, secrets hidden", runCheckConfig},
		{"smtp-user", "add, remove or list the SMTP relay's AUTH accounts (audited)", smtpUserCommand(osUser)},
		{"user", "add, reset, disable, enable or list dashboard accounts (add/reset print a one-time link)", userCommand(osUser)},
		{"consent", "show, grant or withdraw one recipient's open-tracking consent (audited)", consentCommand(osUser)},
		{"dsar", "export or erase everything held about one address (audited)", dsarCommand(osUser)},
		{"rewrite", "rewrite one message (stdin) for one recipient, as the relay would", runRewrite},
		{"scan", "report the trackers in .eml and .html files without changing them", runScan},
		{"backup", "write a consistent copy of the store while serving (Redis: snapshot and say where)", backupCommand(osUser)},
		{"healthcheck", "exit 0 when the local server is ready (container health checks)", runHealthcheck},
		{"keys", "list, rotate or retire the token keys (links already sent keep working)", keysCommand(osUser)},
	}
}

// errUsage marks an error caused by the command line; main exits 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &environ{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(runMain(ctx, env, os.Args[1:]))
}

// runMain dispatches and turns errors into exit codes: 0 ok, 1 failure,
// 2 bad command line.
func runMain(ctx context.Context, env *environ, args []string) int {
	if len(args) == 0 {
		printCommands(env.stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, env, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, errHelpShown):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(env.stderr, "pixelgate %s: %v\n", name, err)
			if name != "help" {
				fmt.Fprintf(env.stderr, "Run 'pixelgate help %s' for its usage.\n", name)
			}
			return 2
		default:
			fmt.Fprintf(env.stderr, "pixelgate %s: %v\n", name, err)
			return 1
		}
	}
	fmt.Fprintf(env.stderr, "pixelgate: unknown command %q\n\n", name)
	printCommands(env.stderr)
	return 2
}

func printCommands(w io.Writer) {
	fmt.Fprintln(w, "pixelgate: tracking pixels only for recipients who said yes.")
	fmt.Fprintln(w, "\nUsage: pixelgate COMMAND [flags] [args]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'pixelgate help COMMAND [ACTION]' or 'pixelgate COMMAND [ACTION] -h' for a command's flags.")
	fmt.Fprintln(w, "Flags may come before or after the arguments; -- ends them.")
	fmt.Fprintln(w, "Settings come from flags, then PIXELGATE_<FLAG> environment variables, then the --config file.")
}

// runHelp is `pixelgate help [COMMAND [ACTION]]`: the same text as
// `pixelgate COMMAND [ACTION] -h`, on stdout.
func runHelp(ctx context.Context, env *environ, args []string) error {
	if len(args) == 0 || (len(args) == 1 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help")) {
		printCommands(env.stdout)
		return nil
	}
	if len(args) > 2 {
		return fmt.Errorf("%w: help takes a command and at most one action; got %d arguments: %s", errUsage, len(args), quoteAll(args))
	}
	for _, c := range commands() {
		if c.name == args[0] && c.name != "help" {
			return c.run(ctx, env, append(args[1:], "-h"))
		}
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}
