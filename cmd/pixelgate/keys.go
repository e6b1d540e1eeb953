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
		fs := newFlagSet(env, "keys ACTION [flags] [ID]",
			"List the token keys, add a new one that seals every new token (rotate), or delete an old one (retire ID).\n"+
				"Links sealed with older keys keep working until their key is retired. Copy the keys directory to every\n"+
				"replica and restart them after a rotation (docs/operator-guide.md, \"Keys and their rotation\").")
		sf := addStoreFlags(fs)
		a, rest, err := fs.parseAction(args, []action{
			{name: "list", about: "list the token keys and which one seals new tokens"},
			{name: "rotate", about: "add a token key that seals new tokens once pixelgate restarts; older links keep working (audited)"},
			{name: "retire", args: "ID", nargs: 1, noun: "key id",
				about: "delete token key ID (from `pixelgate keys list`): links sealed with it are refused from then on (audited)"},
		})
		if err != nil {
			return err
		}
		verb := a.name
		var retire uint8
		if verb == "retire" {
			id, err := strconv.ParseUint(rest[0], 10, 8)
			if err != nil {
				return fmt.Errorf("%w: key id %q: want a number from `pixelgate keys list`", errUsage, rest[0])
			}
			retire = uint8(id)
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
