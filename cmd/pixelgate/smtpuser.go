package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/proxy"
)

// smtpUserCommand manages the relay's AUTH accounts, stored hashed
// (argon2id) in the store so every replica accepts them. Changes are audited
// as "cli:<OS user>" (R10).
func smtpUserCommand(who whoAmI) func(ctx context.Context, env *environ, args []string) error {
	return func(ctx context.Context, env *environ, args []string) error {
		return runSMTPUser(ctx, env, who, args)
	}
}

func runSMTPUser(ctx context.Context, env *environ, who whoAmI, args []string) error {
	fs := newFlagSet(env, "smtp-user ACTION [flags] [NAME]",
		"Manage the SMTP relay's AUTH accounts, stored hashed in the store so every replica accepts them.\n"+
			"Changes are audited with your OS user as actor.")
	sf := addStoreFlags(fs)
	fromStdin := fs.Bool("password-stdin", false, "add: read the password from the first line of standard input")
	a, rest, err := fs.parseAction(args, []action{
		{name: "add", args: "NAME", nargs: 1, noun: "account name",
			about: "create or replace the relay account NAME; prints a generated password, or reads one line from stdin with --password-stdin"},
		{name: "remove", args: "NAME", nargs: 1, noun: "account name", about: "delete the relay account NAME"},
		{name: "list", about: "list the relay account names"},
	})
	if err != nil {
		return err
	}
	verb := a.name
	if verb == "list" {
		// Listing changes nothing: no actor needed.
		st, err := openCLIStore(ctx, env, sf)
		if err != nil {
			return err
		}
		defer st.Close()
		users, err := proxy.NewCredentials(st.SharedKV(), rand.Reader).List(ctx)
		if err != nil {
			return err
		}
		for _, u := range users {
			fmt.Fprintln(env.stdout, u)
		}
		return nil
	}
	h, actor, err := openAsOperator(ctx, who, sf)
	if err != nil {
		return err
	}
	defer h.close()
	creds := proxy.NewCredentials(h.store.SharedKV(), rand.Reader)
	switch verb {
	case "remove":
		err := auditOutcome(ctx, h.store, consent.AuditEntry{Actor: actor, Action: "smtp-user.remove", Target: rest[0]},
			creds.Remove(ctx, rest[0]))
		if errors.Is(err, proxy.ErrNoSuchUser) {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "removed relay user %s\n", rest[0])
	case "add":
		pass, generated, err := relayPassword(env, *fromStdin)
		if err != nil {
			return err
		}
		if err := auditOutcome(ctx, h.store, consent.AuditEntry{Actor: actor, Action: "smtp-user.set", Target: rest[0]},
			creds.Set(ctx, rest[0], pass)); err != nil {
			return err
		}
		if generated {
			fmt.Fprintf(env.stdout, "relay user %s\npassword %s\n(shown once; stored hashed)\n", rest[0], pass)
		} else {
			fmt.Fprintf(env.stdout, "relay user %s set\n", rest[0])
		}
	}
	return nil
}

// relayPassword reads a password from stdin or generates a random one.
func relayPassword(env *environ, fromStdin bool) (pass string, generated bool, err error) {
	if fromStdin {
		line, err := bufio.NewReader(env.stdin).ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return "", false, fmt.Errorf("%w: no password on standard input (%v)", errUsage, err)
		}
		return line, false, nil
	}
	// rand.Text: 26 base32 characters, 130 bits.
	return rand.Text(), true, nil
}
