package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pixelgate/pixelgate/mailrewrite"
)

// scanFile is one file's result in `scan --json`.
type scanFile struct {
	File   string              `json:"file"`
	Error  string              `json:"error,omitempty"`
	Report *mailrewrite.Report `json:"report,omitempty"`
}

// scanSummary is the closing line of scan (and the summary of --json).
type scanSummary struct {
	Files        int            `json:"files"`
	Errors       int            `json:"errors"`
	Remote       int            `json:"remote"`
	Trackers     int            `json:"trackers"`
	PerRecipient int            `json:"per_recipient"`
	ByReason     map[string]int `json:"trackers_by_reason"`
	// Findings counts every finding, kept ones too, by reason code and
	// the action it led to: which signal removed, altered or spared how
	// many resources across the files (a reader checking why an image
	// went, or why a hidden one stayed: static-image).
	Findings     map[string]map[string]int `json:"findings_by_reason"`
	TrackedLinks int                       `json:"tracked_links"`
	LinksOpaque  int                       `json:"links_opaque"`
}

func runScan(_ context.Context, env *environ, args []string) error {
	fset := newFlagSet(env, "scan [--json] [--rcpt ADDR] FILE|DIR...  |  scan [--json] --pair A.eml B.eml",
		"Report the trackers in .eml and .html files without changing them (for auditing templates).\n"+
			"Directories are searched recursively. The action column is what `rewrite` would do for a\n"+
			"recipient without consent. --pair compares two recipients' copies of one email and lists the\n"+
			"URLs that differ between them: per-recipient identifiers.")
	asJSON := fset.Bool("json", false, "print one JSON document instead of text")
	rcpt := fset.String("rcpt", "", "recipient address to look for inside URLs (plain, encoded or hashed)")
	pair := fset.Bool("pair", false, "compare two recipients' copies of one email (A.eml B.eml)")
	if err := fset.parse(args); err != nil {
		return err
	}
	if *pair {
		if err := fset.wantArgs("scan --pair", 2, "files (one copy of the email per recipient)"); err != nil {
			return err
		}
		return runScanPair(env, fset.Args(), *asJSON)
	}
	if fset.NArg() == 0 {
		return fmt.Errorf("%w: scan takes at least one FILE or DIR; got none", errUsage)
	}
	if fset.NArg() == 1 && fset.Arg(0) == "help" {
		fset.printHelp(env.stdout, nil)
		return errHelpShown
	}
	files, err := scanTargets(fset.Args())
	if err != nil {
		return err
	}
	rw, err := mailrewrite.New(mailrewrite.Options{})
	if err != nil {
		return err
	}
	sum := scanSummary{ByReason: map[string]int{}, Findings: map[string]map[string]int{}}
	var results []scanFile
	for _, f := range files {
		res := scanFile{File: f}
		rep, err := scanOne(rw, f, *rcpt)
		sum.Files++
		if err != nil {
			res.Error = err.Error()
			sum.Errors++
		} else {
			res.Report = rep
			sum.Remote += rep.Remote
			sum.Trackers += rep.Trackers
			sum.PerRecipient += rep.PerRecipient
			sum.TrackedLinks += rep.TrackedLinks
			sum.LinksOpaque += rep.LinksOpaque
			for k, n := range rep.CountFindings() {
				if sum.Findings[k.Reason] == nil {
					sum.Findings[k.Reason] = map[string]int{}
				}
				sum.Findings[k.Reason][k.Action] += n
			}
			for _, fd := range rep.Findings {
				if fd.Class == mailrewrite.ClassContent {
					continue
				}
				for _, code := range strings.Split(fd.Reason, ",") {
					code, _, _ = strings.Cut(code, ":")
					sum.ByReason[code]++
				}
			}
		}
		results = append(results, res)
		if !*asJSON {
			printScanFile(env.stdout, res)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Files   []scanFile  `json:"files"`
			Summary scanSummary `json:"summary"`
		}{results, sum}); err != nil {
			return fmt.Errorf("write JSON: %w", err)
		}
	} else {
		fmt.Fprintln(env.stdout, summaryLine(sum))
	}
	if sum.Errors > 0 {
		return fmt.Errorf("%d of %d files could not be scanned", sum.Errors, sum.Files)
	}
	return nil
}

// scanTargets expands the arguments into files: named files as given,
// directories into their .eml/.html/.htm files, sorted.
func scanTargets(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && scanKind(p) != "" {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read directory %s: %w", a, err)
		}
	}
	sort.Strings(out)
	return out, nil
}

func scanKind(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".eml":
		return "eml"
	case ".html", ".htm":
		return "html"
	}
	return ""
}

func scanOne(rw *mailrewrite.Rewriter, path, rcpt string) (*mailrewrite.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := readBounded(f, maxMessageBytes)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if scanKind(path) == "html" {
		return rw.ScanHTML(b, rcpt)
	}
	return rw.Scan(b, rcpt)
}

func printScanFile(w io.Writer, res scanFile) {
	if res.Error != "" {
		fmt.Fprintf(w, "%s: error: %s\n", res.File, res.Error)
		return
	}
	rep := res.Report
	fmt.Fprintf(w, "%s: %d remote, %d trackers, %d per-recipient, %d tracked links (%d neutralised, %d opaque)\n",
		res.File, rep.Remote, rep.Trackers, rep.PerRecipient, rep.TrackedLinks, rep.LinksNeutralised, rep.LinksOpaque)
	for _, f := range rep.Findings {
		if f.Class == mailrewrite.ClassContent {
			continue
		}
		vendor := ""
		if f.Vendor != "" {
			vendor = " [" + f.Vendor + "]"
		}
		fmt.Fprintf(w, "  %s %s %s %s (%s)%s -> %s\n", f.Part, f.Class, f.Carrier, shorten(f.URL, 100), f.Reason, vendor, f.Action)
	}
}

func summaryLine(s scanSummary) string {
	codes := make([]string, 0, len(s.ByReason))
	for c := range s.ByReason {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%s %d", c, s.ByReason[c]))
	}
	by := ""
	if len(parts) > 0 {
		by = " (by reason: " + strings.Join(parts, ", ") + ")"
	}
	line := fmt.Sprintf("scanned %d files: %d remote resources, %d trackers%s, %d per-recipient identifiers, %d tracked links (%d opaque redirects)",
		s.Files, s.Remote, s.Trackers, by, s.PerRecipient, s.TrackedLinks, s.LinksOpaque)
	if s.Errors > 0 {
		line += fmt.Sprintf(", %d files with errors", s.Errors)
	}
	return line
}
