package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/pixelgate/pixelgate/consent"
)

// keysCommand is `pixelgate keys list|rotate|retire`: token key rotation
// without breaking links in emails already sent (a new key seals new tokens,
// older keys still open theirs until retired). Rotation and retirement are
// audited (R10): they decide which emails' links keep working.
func keysCommand(who whoAmI) func(ctx context.Context, env *environ, args []string) error {
	return func(ctx context.Context, env *environ, args []string) error {
		const usage = "keys list|rotate|retire [flags] [ID]"
		const about = "List the token keys, add a new one that seals every new token (rotate), or delete an old one (retire ID).\n" +
			"Links sealed with older keys keep working until their key is retired. Copy the keys directory to every\n" +
			"replica and restart them after a rotation (docs/operator-guide.md, \"Keys and their rotation\")."
		verb := ""
		if len(args) > 0 {
			verb = args[0]
		}
		fs := newFlagSet(env, usage, about)
		sf := addStoreFlags(fs)
		switch verb {
		case "list", "rotate", "retire":
		case "", "-h", "-help", "--help":
			fs.Usage()
			if verb == "" {
				return fmt.Errorf("%w: missing list, rotate or retire", errUsage)
			}
			return errHelpShown
		default:
			return fmt.Errorf("%w: unknown action %q (want list, rotate or retire)", errUsage, verb)
		}
		if err := fs.parse(args[1:]); err != nil {
			return err
		}
		var retire uint8
		switch {
		case verb == "retire" && fs.NArg() == 1:
			id, err := strconv.ParseUint(fs.Arg(0), 10, 8)
			if err != nil {
				return fmt.Errorf("%w: key id %q: want a number from `pixelgate keys list`", errUsage, fs.Arg(0))
			}
			retire = uint8(id)
		case verb == "retire":
			return fmt.Errorf("%w: keys retire takes one key id", errUsage)
		case fs.NArg() > 0:
			return fmt.Errorf("%w: keys %s takes no arguments", errUsage, verb)
		}
		h, actor, err := openAsOperator(ctx, who, sf)
		if err != nil {
			return err
		}
		defer h.close()
		kr := h.keyring
		var target string
		switch verb {
		case "list":
			ids := kr.TokenKeyIDs()
			fmt.Fprintf(env.stdout, "keys directory %s\n", kr.Dir())
			for i, id := range ids {
				role := "opens older tokens"
				if i == len(ids)-1 {
					role = "seals new tokens"
				}
				fmt.Fprintf(env.stdout, "token key %d: %s\n", id, role)
			}
			return nil
		case "rotate":
			var id uint8
			if id, err = kr.Rotate(); err == nil {
				target = fmt.Sprintf("token-key:%d", id)
				fmt.Fprintf(env.stdout, "token key %d added to %s; it seals new tokens once pixelgate restarts.\n", id, kr.Dir())
				fmt.Fprintln(env.stdout, "Copy the keys directory to every replica and restart them all now: until then a link sealed by a restarted replica fails on the others.")
			}
		case "retire":
			target = fmt.Sprintf("token-key:%d", retire)
			if err = kr.Retire(retire); err == nil {
				fmt.Fprintf(env.stdout, "token key %d retired: links sealed with it are refused from now on (after a restart of each replica).\n", retire)
			}
		}
		return auditOutcome(ctx, h.store, consent.AuditEntry{Actor: actor, Action: "keys." + verb, Target: target}, err)
	}
}
