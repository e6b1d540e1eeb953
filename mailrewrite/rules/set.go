// Package rules holds pixelgate's tracker and link rules: which URLs are
// ESP open/click trackers (R1), which query parameters carry
// a per-recipient value and which click redirects can be unwrapped without
// contacting the tracker (R12). The rules are data, embedded from versioned
// JSON files in pixelgate's own format (see README.md here); this package
// parses them into indexes that answer per URL with a few map lookups.
//
// A Set's rules are immutable after Parse; a Set is safe for concurrent use.
// It remembers its answers for the URLs it saw lately (a bounded memo):
// the relay rewrites one campaign for thousands of recipients, and the
// same URLs come back in every copy.
package rules

import (
	"embed"
	"fmt"
	"net/url"
	"slices"

	"github.com/pixelgate/pixelgate/mailrewrite/internal/memo"
)

//go:embed data/trackers.json data/links.json
var embedded embed.FS

// Match says which rule recognised a tracker URL.
type Match struct {
	RuleID string
	Vendor string
	// Kind is one of "open", "click", "analytics", "beacon".
	Kind string
}

// Set is a parsed pair of rule files.
type Set struct {
	trackersVersion string
	linksVersion    string

	trackers    []Match // by position in trackerIdx
	trackerIdx  *index
	params      paramIndex
	redirects   []redirectRule
	redirectIdx *index
	stats       Stats

	trackerMemo memo.Memo[urlKey, int32] // trackerIdx.find answers; -1: no rule
	paramsMemo  memo.Memo[urlKey, []string]
	unwrapMemo  memo.Memo[urlKey, unwrapAnswer]
	parseMemo   memo.Memo[memo.String, *url.URL] // nil: not a URL with a host
}

// Stats counts the rules of a Set, for reports and `scan` summaries.
type Stats struct {
	TrackerRules  int
	ParamRules    int
	RedirectRules int
	// Vendors: distinct vendor names among the tracker rules.
	Vendors int
	// BySource: rules of both files per source.
	BySource map[string]int
}

// Stats returns the rule counts. The map is the caller's to keep.
func (s *Set) Stats() Stats {
	st := s.stats
	st.BySource = make(map[string]int, len(s.stats.BySource))
	for k, v := range s.stats.BySource {
		st.BySource[k] = v
	}
	return st
}

// Vendors returns the distinct vendor names of the tracker rules, sorted:
// what other tables naming a vendor (the relay's ESP profiles) are checked
// against.
func (s *Set) Vendors() []string {
	var vs []string
	for _, m := range s.trackers {
		vs = append(vs, m.Vendor)
	}
	slices.Sort(vs)
	return slices.Compact(vs)
}

// Default parses the rule files embedded in the binary. It parses on every
// call; callers keep the Set they get.
func Default() (*Set, error) {
	t, err := embedded.ReadFile("data/trackers.json")
	if err != nil {
		return nil, fmt.Errorf("read embedded trackers.json: %w", err)
	}
	l, err := embedded.ReadFile("data/links.json")
	if err != nil {
		return nil, fmt.Errorf("read embedded links.json: %w", err)
	}
	return Parse(t, l)
}

// Parse reads a tracker rule file and a link rule file. Every problem is an
// error naming the file, the rule and what is wrong; nothing is skipped.
func Parse(trackers []byte, links []byte) (*Set, error) {
	s := &Set{stats: Stats{BySource: map[string]int{}}}
	seen := map[string]bool{}
	if err := s.parseTrackers(trackers, seen); err != nil {
		return nil, fmt.Errorf("trackers rule file: %w", err)
	}
	if err := s.parseLinks(links, seen); err != nil {
		return nil, fmt.Errorf("links rule file: %w", err)
	}
	return s, nil
}

func (s *Set) parseTrackers(data []byte, seen map[string]bool) error {
	var f trackerFile
	if err := decodeStrict(data, &f); err != nil {
		return err
	}
	if err := f.check("pixelgate-trackers"); err != nil {
		return err
	}
	pats := make([]*pattern, 0, len(f.Rules))
	vendors := map[string]bool{}
	for i, r := range f.Rules {
		p, err := r.compile(seen)
		if err != nil {
			return fmt.Errorf("rule %d (id %q): %w", i, r.ID, err)
		}
		pats = append(pats, p)
		s.trackers = append(s.trackers, Match{RuleID: r.ID, Vendor: r.Vendor, Kind: r.Kind})
		s.stats.BySource[r.Source]++
		vendors[r.Vendor] = true
	}
	s.stats.TrackerRules, s.stats.Vendors = len(f.Rules), len(vendors)
	s.trackerIdx = newIndex(pats)
	s.trackersVersion = f.Version
	for i, r := range f.Rules {
		if err := s.checkExample(int32(i), r.Example); err != nil {
			return fmt.Errorf("rule %d (id %q): %w", i, r.ID, err)
		}
	}
	return nil
}

// exampleURL parses a rule's example, which must be an http(s) URL.
func exampleURL(example string) (*url.URL, error) {
	u, err := url.Parse(example)
	if err != nil || !webURL(u) {
		return nil, fmt.Errorf("example %q is not an http(s) URL", example)
	}
	return u, nil
}

// checkExample verifies that a rule's example URL is matched by that rule.
func (s *Set) checkExample(pos int32, example string) error {
	if example == "" {
		return nil
	}
	u, err := exampleURL(example)
	if err != nil {
		return err
	}
	h, path, q := urlParts(u)
	switch got := s.trackerIdx.find(h, path, q); {
	case got < 0:
		return fmt.Errorf("example %q matches no rule", example)
	case got != pos:
		return fmt.Errorf("example %q is matched by rule %q first", example, s.trackers[got].RuleID)
	}
	return nil
}

func (r *trackerRuleJSON) compile(seen map[string]bool) (*pattern, error) {
	if err := r.check(seen); err != nil {
		return nil, err
	}
	if !validKinds[r.Kind] {
		return nil, fmt.Errorf("kind %q unknown (open, click, analytics, beacon)", r.Kind)
	}
	p, err := compilePattern(r.patternJSON, false)
	if err != nil {
		return nil, err
	}
	// A "click.*" host alone would match every sender's click subdomain,
	// content included: such rules need a path or query condition.
	if p.kind == hostFirstLabel && !p.hasPathCondition() {
		return nil, fmt.Errorf("host %q needs a path or query condition", r.Host)
	}
	return &p, nil
}

// Version identifies the rule files, for reports and metrics.
func (s *Set) Version() string {
	return "trackers " + s.trackersVersion + ", links " + s.linksVersion
}

// MatchTracker reports whether u is a known ESP or marketing-platform
// tracking URL (open pixel, click redirect, analytics or ad beacon).
// Only http, https and scheme-relative URLs can match.
func (s *Set) MatchTracker(u *url.URL) (Match, bool) {
	if !webURL(u) {
		return Match{}, false
	}
	h, path, q := urlParts(u)
	k := urlKey{host: h, path: path, query: q}
	pos, ok := s.trackerMemo.Get(k)
	if !ok {
		pos = s.trackerIdx.find(h, path, q)
		s.trackerMemo.Put(k, pos)
	}
	if pos >= 0 {
		return s.trackers[pos], true
	}
	return Match{}, false
}

// IsClickTracker reports whether the link u goes through a known tracking
// endpoint. Callers try Unwrap first: what IsClickTracker then reports are
// opaque redirects, left in place because resolving them would itself
// register a click (R12), and counted. A link to an endpoint described as
// an open pixel is reported too: it tracks whoever follows it all the same.
func (s *Set) IsClickTracker(u *url.URL) (Match, bool) {
	return s.MatchTracker(u)
}

func webURL(u *url.URL) bool {
	if u == nil || u.Host == "" {
		return false
	}
	switch u.Scheme {
	case "", "http", "https": // url.Parse lower-cases the scheme
		return true
	}
	return false
}

// ParseURL is url.Parse for the URLs of mail, remembered: a campaign's
// links come back in every recipient's copy. ok is false when raw does not
// parse or has no host (nothing a rule could match). The URL is the
// caller's own copy.
func (s *Set) ParseURL(raw string) (u *url.URL, ok bool) {
	k := memo.String(raw)
	kept, hit := s.parseMemo.Get(k)
	if !hit {
		if p, err := url.Parse(raw); err == nil && p.Host != "" {
			kept = cloneURL(p)
		}
		s.parseMemo.Put(k, kept)
	}
	if kept == nil {
		return nil, false
	}
	c := *kept
	return &c, true
}
