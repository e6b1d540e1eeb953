package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/mailrewrite"
	"github.com/pixelgate/pixelgate/proxy"
)

// maxMessageBytes bounds what rewrite and scan read: a message is held in
// memory, and a runaway pipe must not take the machine with it.
const maxMessageBytes = 64 << 20

func runRewrite(_ context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "rewrite --rcpt ADDR [--consent granted|refused|unknown] [--campaign ID] [--explain] < in.eml > out.eml",
		"Rewrite one message for one recipient as the relay would: trackers stripped (or swapped for pixelgate's\n"+
			"pixel when consent is granted), the consent footer added. Reads stdin, writes stdout; on error\n"+
			"nothing is written. --explain prints what was found and done on stderr.")
	rcpt := fs.String("rcpt", "", "envelope recipient address (required)")
	consentFlag := fs.String("consent", "unknown", "recipient's consent: granted, refused or unknown")
	campaign := fs.String("campaign", "", "campaign id carried in pixelgate's tokens")
	explain := fs.Bool("explain", false, "print a table of every remote resource and the action taken on stderr")
	deliverability := fs.Bool("deliverability", false, "the stream has the R4 deliverability exemption: a non-consenting recipient gets a date-only pixel")
	ask := fs.Bool("ask-consent", false, "fill {{pixelgate_consent_request}} with the consent request block")
	dataDir := fs.String("data-dir", "./data", "directory whose keys/ holds the token keys (created on first use)")
	publicURL := fs.String("public-url", "http://127.0.0.1:8080", "base URL of pixel and consent links as recipients reach it")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q (the message is read from stdin)", errUsage, fs.Args())
	}
	if strings.TrimSpace(*rcpt) == "" {
		return fmt.Errorf("%w: --rcpt is required", errUsage)
	}
	c, err := parseConsent(*consentFlag)
	if err != nil {
		return err
	}
	msg, err := readBounded(env.stdin, maxMessageBytes)
	if err != nil {
		return fmt.Errorf("read message from stdin: %w", err)
	}
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: filepath.Join(*dataDir, "keys")})
	if err != nil {
		return fmt.Errorf("open token keys: %w", err)
	}
	key, err := kr.RecipientKey(*rcpt)
	if err != nil {
		return fmt.Errorf("%w: --rcpt: %v", errUsage, err)
	}
	rw, err := mailrewrite.New(mailrewrite.Options{})
	if err != nil {
		return err
	}
	out, rep, err := rw.Rewrite(msg, mailrewrite.Decision{
		Recipient:      *rcpt,
		Consent:        c,
		Campaign:       *campaign,
		Deliverability: *deliverability,
		AskConsent:     *ask,
		URLs:           proxy.NewURLs(kr, *publicURL, key, *rcpt, *campaign),
	})
	if err != nil {
		var pe *mailrewrite.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("cannot rewrite: %w", err)
		}
		return err
	}
	if *explain {
		printExplain(env.stderr, rep)
	}
	if _, err := env.stdout.Write(out); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	return nil
}

func parseConsent(s string) (mailrewrite.Consent, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "granted":
		return mailrewrite.Granted, nil
	case "refused":
		return mailrewrite.Refused, nil
	case "unknown", "":
		return mailrewrite.Unknown, nil
	}
	return 0, fmt.Errorf("%w: --consent %q: want granted, refused or unknown", errUsage, s)
}

// readBounded reads all of r, refusing more than limit bytes.
func readBounded(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	return b, nil
}

// printExplain writes the --explain table: resource, carrier, class,
// reason, vendor, action; then what was added.
func printExplain(w io.Writer, rep *mailrewrite.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PART\tRESOURCE\tCARRIER\tCLASS\tREASON\tVENDOR\tACTION")
	for _, f := range rep.Findings {
		vendor := f.Vendor
		if vendor == "" {
			vendor = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Part, shorten(f.URL, 80), f.Carrier, f.Class, f.Reason, vendor, f.Action)
	}
	tw.Flush()
	pixel := "no pixelgate pixel"
	switch {
	case rep.PixelSwapped:
		pixel = "pixelgate " + rep.PixelPurpose + " pixel swapped in for the ESP's"
	case rep.PixelAdded:
		pixel = "pixelgate " + rep.PixelPurpose + " pixel added"
	}
	footer := "footer link added"
	if !rep.FooterAdded {
		footer = "no footer added (placeholder or existing link)"
	}
	fmt.Fprintf(w, "%d remote, %d trackers, %d per-recipient, %d neutralised; %d tracked links, %d neutralised, %d opaque redirects left; %s; %s; %d placeholders filled; rules %s\n",
		rep.Remote, rep.Trackers, rep.PerRecipient, rep.Neutralised, rep.TrackedLinks, rep.LinksNeutralised, rep.LinksOpaque, pixel, footer, rep.PlaceholdersFilled, rep.RulesVersion)
}

// shorten keeps a table readable; the full URL is in scan --json.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
