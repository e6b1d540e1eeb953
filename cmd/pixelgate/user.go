package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
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
		const where = "\nEvery change is audited with your OS user as actor. Works while `pixelgate serve` runs (through its admin socket)."
		fs := newFlagSet(env, "user ACTION [flags] [NAME]",
			"Manage dashboard accounts. add creates an account (--role analyst, dpo or admin) and prints a\n"+
				"one-time link to set its password; reset invalidates the password, ends the account's sessions and\n"+
				"prints a new link; disable ends its sessions and API tokens."+where)
		sf := addStoreFlags(fs)
		role := fs.String("role", "analyst", "add: role of the new account (analyst, dpo, admin)")
		pu := addPublicURLFlags(fs, "base URL of the dashboard, for the printed link")
		a, rest, err := fs.parseAction(args, []action{
			{name: "add", args: "NAME", nargs: 1, noun: "account name",
				about: "create the account NAME with --role and print a one-time link to choose its password" + where},
			{name: "reset", args: "NAME", nargs: 1, noun: "account name",
				about: "invalidate NAME's password, end its sessions and print a new one-time link" + where},
			{name: "disable", args: "NAME", nargs: 1, noun: "account name", about: "end NAME's sessions and API tokens and refuse its logins" + where},
			{name: "enable", args: "NAME", nargs: 1, noun: "account name", about: "let a disabled account NAME log in again" + where},
			{name: "list", about: "list the accounts with role, status, two-step login and last login"},
		})
		if err != nil {
			return err
		}
		verb := a.name
		name := ""
		if len(rest) == 1 {
			name = rest[0]
			if err := auth.ValidName(name); err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
		}
		host, _ := os.Hostname()
		publicURL, err := pu.resolve(host)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
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
		users, err := auth.New(h.store.SharedKV(), auth.Config{ThrottleKey: h.keyring.ThrottleKey()}, time.Now, rand.Reader)
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
				name, users.Config().SetupLinkTTL, admin.SetupURL(publicURL.url, tok))
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
