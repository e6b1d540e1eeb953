package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
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
	dataDir := fs.String("data-dir", "./data", "data directory of the deployment whose token keys (DATA_DIR/keys, read only) seal the links; "+
		"without keys there, throwaway keys are used and the links in the output open nothing")
	pu := addPublicURLFlags(fs, "base URL of pixel and consent links as recipients reach it")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.wantArgs("rewrite", 0, ""); err != nil {
		return fmt.Errorf("%w (the message is read from stdin)", err)
	}
	host, _ := os.Hostname()
	publicURL, err := pu.resolve(host)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
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
	kr, err := keysOrThrowaway(env, filepath.Join(*dataDir, "keys"))
	if err != nil {
		return err
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
		Ask:            func() bool { return *ask },
		URLs:           proxy.NewURLs(kr, publicURL.url, key, *rcpt, *campaign),
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

// keysOrThrowaway reads the deployment's keys in dir without changing them,
// or, when there are none, makes throwaway keys in a temporary directory
// removed at once: a command that only rewrites must not leave a keys
// directory in whatever folder it ran (R6: a token sealed with them opens
// nothing in any deployment, so the output is only for looking at).
func keysOrThrowaway(env *environ, dir string) (*consent.Keyring, error) {
	if _, err := os.Stat(dir); err == nil {
		kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: dir, NoCreate: true})
		if err != nil {
			return nil, fmt.Errorf("read the token keys in %s: %w", dir, err)
		}
		return kr, nil
	}
	tmp, err := os.MkdirTemp("", "pixelgate-throwaway-keys-")
	if err != nil {
		return nil, fmt.Errorf("make throwaway keys: %w", err)
	}
	defer os.RemoveAll(tmp)
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: filepath.Join(tmp, "keys")})
	if err != nil {
		return nil, fmt.Errorf("make throwaway keys: %w", err)
	}
	fmt.Fprintf(env.stderr, "pixelgate: no token keys in %s: the links in this output are sealed with throwaway keys and open nothing; "+
		"pass --data-dir of the deployment to make working ones\n", dir)
	return kr, nil
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
