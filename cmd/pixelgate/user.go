package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/web/admin"
	"github.com/pixelgate/pixelgate/web/auditlog"
	"github.com/pixelgate/pixelgate/web/auth"
)

// userCommand is `pixelgate user add|reset|disable|enable|list` (R10:
// individual accounts). add and reset print a one-time link with which the
// person chooses their own password; no password ever passes through the
// command line, and there is no default password.
func userCommand(who whoAmI) func(ctx context.Context, env *environ, args []string) error {
	return func(ctx context.Context, env *environ, args []string) error {
		const usage = "user add|reset|disable|enable|list [flags] [NAME]"
		const about = "Manage dashboard accounts. add creates an account (--role analyst, dpo or admin) and prints a\n" +
			"one-time link to set its password; reset invalidates the password, ends the account's sessions and\n" +
			"prints a new link; disable ends its sessions and API tokens. Every change is audited with your OS\n" +
			"user as actor. Works while `pixelgate serve` runs (through its admin socket)."
		fs := newFlagSet(env, usage, about)
		sf := addStoreFlags(fs)
		role := fs.String("role", "analyst", "add: role of the new account (analyst, dpo, admin)")
		publicURL := fs.String("public-url", "http://127.0.0.1:8080", "base URL of the dashboard, for the printed link")
		if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
			fs.Usage()
			if len(args) == 0 {
				return fmt.Errorf("%w: missing add, reset, disable, enable or list", errUsage)
			}
			return errHelpShown
		}
		verb := args[0]
		if err := fs.parse(flagsFirst(args[1:])); err != nil {
			return err
		}
		wantArgs := 1
		switch verb {
		case "list":
			wantArgs = 0
		case "add", "reset", "disable", "enable":
		default:
			return fmt.Errorf("%w: unknown action %q (want add, reset, disable, enable or list)", errUsage, verb)
		}
		if fs.NArg() != wantArgs {
			return fmt.Errorf("%w: user %s takes %d account name(s) after the flags", errUsage, verb, wantArgs)
		}
		name := fs.Arg(0)
		if wantArgs == 1 {
			if err := auth.ValidName(name); err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
		}
		r, err := auth.ParseRole(*role)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		osName, err := who()
		if err != nil {
			return err
		}
		h, err := openStore(ctx, sf)
		if err != nil {
			return err
		}
		defer h.close()
		users, err := auth.New(h.store.Records(), auth.Config{ThrottleKey: h.keyring.ThrottleKey()}, time.Now, rand.Reader)
		if err != nil {
			return err
		}
		actor := "cli:" + osName
		rec := auditlog.New(h.store, nil, nil, nil)
		audited := func(action, detail string, op func() error) error {
			err := op()
			result := auditlog.ResultOK
			if err != nil {
				result = "failed: " + err.Error()
			}
			if _, aerr := rec.Record(ctx, consent.AuditEntry{Actor: actor, Action: action, Target: name, Result: result, Detail: detail}); aerr != nil {
				return fmt.Errorf("%v; and the audit entry was not written: %w", err, aerr)
			}
			return err
		}
		switch verb {
		case "list":
			return listUsers(ctx, env, users)
		case "add", "reset":
			var tok string
			op := func() (err error) { tok, err = users.AddAccount(ctx, name, r); return err }
			detail := "role " + string(r)
			if verb == "reset" {
				op = func() (err error) { tok, err = users.ResetAccount(ctx, name); return err }
				detail = ""
			}
			if err := audited("account."+verb, detail, op); err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "account %s: give its owner this one-time link to choose a password (valid %s):\n%s\n",
				name, users.Config().SetupLinkTTL, admin.SetupURL(*publicURL, tok))
			return nil
		default:
			if err := audited("account."+verb, "", func() error { return users.SetDisabled(ctx, name, verb == "disable") }); err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "account %s: %sd\n", name, verb)
			return nil
		}
	}
}

func listUsers(ctx context.Context, env *environ, users *auth.Service) error {
	list, err := users.Accounts(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tSTATUS\tTWO-STEP\tLAST LOGIN")
	for _, a := range list {
		status := "active"
		switch {
		case a.Disabled:
			status = "disabled"
		case a.NeedsPassword():
			status = "awaiting password"
		}
		totp, last := "off", "never"
		if a.TOTPEnabled() {
			totp = "on"
		}
		if !a.LastLogin.IsZero() {
			last = a.LastLogin.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Name, a.Role, status, totp, last)
	}
	return tw.Flush()
}

// flagsFirst moves the account name after the flags, so that both
// `user add --role dpo paul` and `user add paul --role dpo` work. Every flag
// of this command takes a value, given as "-f v" or "-f=v".
func flagsFirst(args []string) []string {
	var flags, names []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(append(flags, "--"), append(names, args[i+1:]...)...)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			flags = append(flags, a)
			if !strings.Contains(a, "=") && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		default:
			names = append(names, a)
		}
	}
	return append(flags, names...)
}
