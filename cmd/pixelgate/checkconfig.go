package main

import (
	"context"
	"fmt"
	"text/tabwriter"
)

// runCheckConfig validates the settings `serve` would use and prints them
// with secrets hidden, saying where each came from. Unknown keys in the
// config file are errors here (typos), while serve ignores keys that other
// commands define.
func runCheckConfig(_ context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "check-config [flags]", "Validate the settings of `pixelgate serve` and print the effective values, secrets hidden.")
	fs.strict = true
	set := addServeFlags(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.wantArgs("check-config", 0, ""); err != nil {
		return err
	}
	c, verr := set.validate()
	if verr == nil && c.derived {
		// Show the URL serve will use, and why.
		*set.publicURL = c.publicURL
		fs.origin["public-url"] = "derived from http-addr"
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tVALUE\tFROM")
	for _, row := range fs.effective() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", row[0], row[1], row[2])
	}
	tw.Flush()
	if verr != nil {
		return verr
	}
	for _, w := range publicURLWarnings(publicURL{url: c.publicURL, derived: c.derived}, *set.pixel.consentTexts) {
		fmt.Fprintf(env.stderr, "warning: %s\n", w)
	}
	fmt.Fprintln(env.stdout, "configuration OK")
	return nil
}
