package mailrewrite

import (
	"strings"

	"github.com/pixelgate/pixelgate/mailrewrite/learn"
)

// Actions taken on a finding.
const (
	ActionRemoved           = "removed"            // the resource is gone from the message
	ActionSwapped           = "swapped"            // replaced by pixelgate's own pixel (consent granted)
	ActionIdentifierRemoved = "identifier-removed" // content kept, per-recipient part taken out
	ActionKept              = "kept"               // left as is
	ActionNone              = "none"               // scan only: nothing was changed
)

// Finding is one remote resource and what was decided about it.
type Finding struct {
	Part    string `json:"part"`    // MIME part path ("1.2")
	URL     string `json:"url"`     // as written in the message (entities decoded)
	Carrier string `json:"carrier"` // img, img-srcset, picture-source, input-image, background-attr, video-poster, style-attr, style-block, css-import, link-stylesheet, vml, amp-img, amp-pixel, amp-analytics; "link" for a tracked <a href> (R12)
	Class   string `json:"class"`   // tracker, per-recipient, content, pixelgate, link-tracker
	Reason  string `json:"reason"`  // reason codes joined by ","
	Vendor  string `json:"vendor,omitempty"`
	Action  string `json:"action"`
	// Rewritten is the URL left in the message for identifier-removed
	// and unwrapped.
	Rewritten string `json:"rewritten,omitempty"`
}

// Report says what the rewrite (or scan) found and did.
type Report struct {
	Findings []Finding `json:"findings"`
	// PixelAdded: pixelgate's pixel is in the output (swapped or added).
	PixelAdded bool `json:"pixel_added"`
	// PixelSwapped: it took the place of the ESP's open pixel.
	PixelSwapped bool `json:"pixel_swapped"`
	// PixelPurpose is "open" or "deliverability" when PixelAdded.
	PixelPurpose string `json:"pixel_purpose,omitempty"`
	FooterAdded  bool   `json:"footer_added"`
	// PlaceholdersFilled counts {{pixelgate_consent_url}} and
	// {{pixelgate_consent_request}} occurrences replaced.
	PlaceholdersFilled int `json:"placeholders_filled"`
	// ConsentRequested: the request block was put in (Decision.Ask).
	ConsentRequested bool `json:"consent_requested"`
	// PartsRewritten lists the parts whose body changed.
	PartsRewritten []string `json:"parts_rewritten,omitempty"`
	RulesVersion   string   `json:"rules_version"`

	Remote       int `json:"remote"`        // remote resources seen
	Trackers     int `json:"trackers"`      // class tracker
	PerRecipient int `json:"per_recipient"` // class per-recipient
	Removed      int `json:"removed"`       // action removed
	Neutralised  int `json:"neutralised"`   // removed + swapped + identifier-removed

	// Tracked links (R12); not remote resources, counted apart.
	TrackedLinks     int `json:"tracked_links"`
	LinksNeutralised int `json:"links_neutralised"` // unwrapped or identifier removed
	LinksOpaque      int `json:"links_opaque"`      // click trackers left: resolving them would register a click

	// Resources are the remote resources and links of the message as it
	// came in, in document order: what the per-campaign learner compares
	// between recipients' copies (R12). They hold per-recipient values,
	// so they never appear in the JSON report.
	Resources []learn.Resource `json:"-"`

	// countOnly (ReportOptions.CountOnly): findings go into counts, not Findings.
	countOnly bool
	counts    []findingCount
}

// ReasonCounts counts findings by reason code (the part before ':').
func (r *Report) ReasonCounts() map[string]int {
	out := map[string]int{}
	for k, n := range r.CountFindings() {
		out[k.Reason] += n
	}
	return out
}

// FindingCount is one row of CountFindings: a reason code, the vendor ("" when
// unknown) and the action taken. All three come from bounded sets (the
// reason codes, the vendors of the rule file, the actions), so they can be
// metric labels; no URL or recipient data is in them.
type FindingCount struct {
	Reason, Vendor, Action string
}

// CountFindings counts findings by reason code, vendor and action, for
// metrics (trackers stripped or swapped by reason and vendor).
// With ReportOptions.CountOnly the counts were kept as the findings came.
func (r *Report) CountFindings() map[FindingCount]int {
	out := map[FindingCount]int{}
	if r.countOnly {
		for _, c := range r.counts {
			eachReasonCode(c.f, func(k FindingCount) { out[k] += c.n })
		}
		return out
	}
	for _, f := range r.Findings {
		countFinding(out, f)
	}
	return out
}

func countFinding(out map[FindingCount]int, f Finding) {
	eachReasonCode(f, func(k FindingCount) { out[k]++ })
}

// count adds f to the counts of a CountOnly report, by its whole reason
// list: a message has a few distinct ones and hundreds of findings, so a
// short list beats a map, and the lists are split into codes once, in
// CountFindings.
func (r *Report) count(f Finding) {
	for i := range r.counts {
		if c := &r.counts[i]; c.f.Reason == f.Reason && c.f.Vendor == f.Vendor && c.f.Action == f.Action {
			c.n++
			return
		}
	}
	r.counts = append(r.counts, findingCount{Finding{Reason: f.Reason, Vendor: f.Vendor, Action: f.Action}, 1})
}

// eachReasonCode calls fn with f's row for each of its reason codes.
func eachReasonCode(f Finding, fn func(FindingCount)) {
	// Cut rather than Split: the relay counts every message's findings.
	for rest, more := f.Reason, true; more; {
		var code string
		code, rest, more = strings.Cut(rest, ",")
		code, _, _ = strings.Cut(code, ":")
		fn(FindingCount{Reason: code, Vendor: f.Vendor, Action: f.Action})
	}
}

type findingCount struct {
	f Finding // its Reason, Vendor and Action
	n int
}

func (r *Report) add(f Finding) {
	if r.countOnly {
		r.count(f)
	} else {
		r.Findings = append(r.Findings, f)
	}
	if f.Class == ClassLinkTracker {
		r.TrackedLinks++
		switch {
		case strings.Contains(f.Reason, ReasonLinkOpaque):
			r.LinksOpaque++
		case f.Rewritten != "":
			r.LinksNeutralised++
		}
		return
	}
	r.Remote++
	switch f.Class {
	case ClassTracker:
		r.Trackers++
	case ClassPerRecipient:
		r.PerRecipient++
	}
	switch f.Action {
	case ActionRemoved:
		r.Removed++
		r.Neutralised++
	case ActionSwapped, ActionIdentifierRemoved, ActionUnwrapped:
		r.Neutralised++
	}
}
