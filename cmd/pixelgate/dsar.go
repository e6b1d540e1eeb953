package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/pixelgate/pixelgate/consent"
)

// dsarCommand is `pixelgate dsar export|erase ADDR` (R11).
func dsarCommand(who whoAmI) func(ctx context.Context, env *environ, args []string) error {
	return func(ctx context.Context, env *environ, args []string) error {
		s, verb, err := startCLISession(ctx, env, who, args, "dsar ACTION [flags] ADDR",
			"Serve a data subject request: export prints, as JSON, everything pixelgate holds about the address\n"+
				"(access/portability); erase deletes it, keeping only a \"withdrawn\" tombstone so the address is\n"+
				"never tracked again. Both are audited with your OS user as actor.",
			[]action{
				{name: "export", args: "ADDR", nargs: 1, noun: "address",
					about: "print, as JSON, everything pixelgate holds about ADDR (GDPR access and portability; audited)"},
				{name: "erase", args: "ADDR", nargs: 1, noun: "address",
					about: "delete everything held about ADDR but a \"withdrawn\" tombstone, so it is never tracked again (audited)"},
			}, nil)
		if err != nil {
			return err
		}
		defer s.h.close()
		if verb == "erase" {
			err := s.audited(ctx, "dsar.erase", func() error {
				return s.h.store.Erase(ctx, s.key, consent.Evidence{Source: consent.SourceCLI, Actor: s.actor})
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "recipient %s: erased; kept only a withdrawn tombstone\n", s.key)
			return nil
		}
		var x consent.Export
		err = s.audited(ctx, "dsar.export", func() error {
			var err error
			x, err = s.h.store.Export(ctx, s.key)
			return err
		})
		if err != nil {
			return err
		}
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(x); err != nil {
			return fmt.Errorf("write export: %w", err)
		}
		return nil
	}
}
