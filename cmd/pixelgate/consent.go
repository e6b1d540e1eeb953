package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/user"
	"text/tabwriter"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

// whoAmI names the OS user running a CLI command, the actor of its audit
// entries (R10: individual accounts, "cli:<user>"). Injected so tests do not
// depend on the machine's user.
type whoAmI func() (string, error)

// osUser is the real whoAmI: the account of the process's uid, which the
// environment cannot spoof the way $USER can.
func osUser() (string, error) {
	u, err := user.Current()
	if err != nil {
		return "", fmt.Errorf("find the OS user for the audit log: %w", err)
	}
	return u.Username, nil
}

// cliSession is one audited CLI command on one recipient.
type cliSession struct {
	h     *storeHandle
	actor string
	key   consent.Key
}

// startCLISession parses `VERB ADDR` with its flags, opens the store and
// derives the recipient key. The plain address goes no further than this
// function.
func startCLISession(ctx context.Context, env *environ, who whoAmI, args []string, usage, about string, actions []action,
	extra func(fs *flagSet)) (*cliSession, string, error) {
	fs := newFlagSet(env, usage, about)
	sf := addStoreFlags(fs)
	if extra != nil {
		extra(fs)
	}
	a, rest, err := fs.parseAction(args, actions)
	if err != nil {
		return nil, "", err
	}
	h, actor, err := openAsOperator(ctx, who, sf)
	if err != nil {
		return nil, "", err
	}
	k, err := h.keyring.RecipientKey(rest[0])
	if err != nil {
		_ = h.close()
		return nil, "", fmt.Errorf("%w: %v", errUsage, err)
	}
	return &cliSession{h: h, actor: actor, key: k}, a.name, nil
}

// audited runs op and records it in the audit log whatever the outcome
// (R10, R11: every consultation and change is audited). An operation whose
// audit entry cannot be written reports that failure.
func (s *cliSession) audited(ctx context.Context, action string, op func() error) error {
	err := op()
	result := "ok"
	if err != nil {
		result = "error: " + err.Error()
	}
	_, aerr := s.h.store.AppendAudit(ctx, consent.AuditEntry{Actor: s.actor, Action: action, Target: s.key.String(), Result: result})
	if aerr != nil {
		aerr = fmt.Errorf("write the audit entry: %w", aerr)
	}
	return errors.Join(err, aerr)
}

// consentCommand is `pixelgate consent show|grant|withdraw ADDR`.
func consentCommand(who whoAmI) func(ctx context.Context, env *environ, args []string) error {
	return func(ctx context.Context, env *environ, args []string) error {
		var policy, textHash *string
		const where = "\nWorks while `pixelgate serve` runs (through its admin socket); refuses a --data-dir without a store."
		s, verb, err := startCLISession(ctx, env, who, args, "consent ACTION [flags] ADDR",
			"Show a recipient's open-tracking consent with its evidence trail, or record a grant or withdrawal\n"+
				"made outside pixelgate (source cli, actor = your OS user). Every call is audited."+where,
			[]action{
				{name: "show", args: "ADDR", nargs: 1, noun: "address", about: "show ADDR's open-tracking consent and its evidence trail (audited)" + where},
				{name: "grant", args: "ADDR", nargs: 1, noun: "address", about: "record that ADDR agreed to open tracking outside pixelgate (audited)" + where},
				{name: "withdraw", args: "ADDR", nargs: 1, noun: "address", about: "record that ADDR withdrew consent to open tracking (audited)" + where},
			},
			func(fs *flagSet) {
				policy = fs.String("policy-version", "", "grant/withdraw: version of the information text the recipient saw")
				textHash = fs.String("text-hash", "", "grant/withdraw: hex SHA-256 of that information text (R2 evidence)")
			})
		if err != nil {
			return err
		}
		defer s.h.close()
		ev := consent.Evidence{Source: consent.SourceCLI, Actor: s.actor, PolicyVersion: *policy, TextHash: *textHash}
		switch verb {
		case "grant", "withdraw":
			decide := s.h.store.Grant
			if verb == "withdraw" {
				decide = s.h.store.Withdraw
			}
			var e consent.Event
			err := s.audited(ctx, "consent."+verb, func() error {
				var err error
				e, err = decide(ctx, s.key, ev)
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "recipient %s: %s at %s (event %s)\n", s.key, e.State, e.At.Format(time.RFC3339), e.ID)
			return nil
		default:
			var status consent.Status
			var hist []consent.Event
			err := s.audited(ctx, "consent.show", func() error {
				st, err := s.h.store.Lookup(ctx, []consent.Key{s.key})
				if err != nil {
					return err
				}
				status = st[0]
				hist, err = s.h.store.History(ctx, s.key)
				return err
			})
			if err != nil {
				return err
			}
			printConsent(env.stdout, s.key, status, hist)
			return nil
		}
	}
}

func printConsent(w io.Writer, k consent.Key, st consent.Status, hist []consent.Event) {
	fmt.Fprintf(w, "recipient key: %s\n", k)
	since := ""
	if !st.Since.IsZero() {
		since = " since " + st.Since.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "open tracking: %s%s\n", st.State, since)
	if len(hist) == 0 {
		fmt.Fprintln(w, "evidence: none")
		return
	}
	fmt.Fprintln(w, "evidence:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TIME\tSTATE\tSOURCE\tACTOR\tPOLICY\tTEXT HASH\tEVENT")
	for _, e := range hist {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Format(time.RFC3339), e.State, e.Source,
			dash(e.Actor), dash(e.PolicyVersion), dash(e.TextHash), e.ID)
	}
	_ = tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
