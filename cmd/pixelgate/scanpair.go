package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/pixelgate/pixelgate/mailrewrite"
	"github.com/pixelgate/pixelgate/mailrewrite/learn"
)

// pairResult is `scan --pair A B`: what differs between two recipients'
// copies of one email (R12), for a marketing team checking its own
// templates.
type pairResult struct {
	A           string             `json:"a"`
	B           string             `json:"b"`
	Differences []learn.Difference `json:"differences"`
	// PerRecipient counts the differences that look like identifiers.
	PerRecipient int `json:"per_recipient"`
}

// runScanPair is `scan --pair A B`; runScan checked there are two.
func runScanPair(env *environ, args []string, asJSON bool) error {
	rw, err := mailrewrite.New(mailrewrite.Options{})
	if err != nil {
		return err
	}
	res, err := scanPair(rw, args[0], args[1])
	if err != nil {
		return err
	}
	return printPair(env.stdout, res, asJSON)
}

func scanPair(rw *mailrewrite.Rewriter, a, b string) (pairResult, error) {
	res := pairResult{A: a, B: b}
	var copies [2][]learn.Resource
	for i, f := range []string{a, b} {
		rep, err := scanOne(rw, f, "")
		if err != nil {
			return res, fmt.Errorf("scan %s: %w", f, err)
		}
		copies[i] = rep.Resources
	}
	res.Differences = learn.Diff(copies[0], copies[1])
	for _, d := range res.Differences {
		if d.PerRecipient {
			res.PerRecipient++
		}
	}
	return res, nil
}

func printPair(w io.Writer, res pairResult, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Pair pairResult `json:"pair"`
		}{res}); err != nil {
			return fmt.Errorf("write JSON: %w", err)
		}
		return nil
	}
	fmt.Fprintf(w, "%s vs %s: %d URLs differ, %d look per-recipient\n", res.A, res.B, len(res.Differences), res.PerRecipient)
	for _, d := range res.Differences {
		switch {
		case d.A == "":
			fmt.Fprintf(w, "  only in B  %-6s %s\n", d.Carrier, shorten(d.B, 100))
		case d.B == "":
			fmt.Fprintf(w, "  only in A  %-6s %s\n", d.Carrier, shorten(d.A, 100))
		default:
			what := "differs"
			if d.PerRecipient {
				what = "per-recipient"
			}
			fmt.Fprintf(w, "  %-13s %-6s %s in %s\n", what, d.Carrier, learn.PartsString(d.Parts), shorten(d.B, 100))
		}
	}
	return nil
}
