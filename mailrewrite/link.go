package mailrewrite

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"

	"github.com/pixelgate/pixelgate/mailrewrite/internal/memo"
	"github.com/pixelgate/pixelgate/mailrewrite/rules"
)

// Link reason codes and actions.
const (
	ReasonLinkUnwrapped = "link-unwrapped" // "link-unwrapped:<rule>": a redirect whose destination is in the URL
	ReasonLinkOpaque    = "link-opaque"    // "link-opaque:<rule>": a click tracker whose destination is not
	ReasonLinkParam     = "link-param"     // per-recipient query parameters named by the link rules
	ActionUnwrapped     = "unwrapped"      // the link now goes straight to its destination
	ActionWrapped       = "wrapped"        // pixelgate's click redirect (consent and click analytics on)
	ClassLinkTracker    = "link-tracker"
)

// link neutralises a tracked link (R12) where the destination can be
// recovered without contacting the tracker: a redirect is replaced by its
// destination and the parameters that identify the recipient go. An opaque
// click tracker stays, since resolving it would itself register a click,
// and is reported. A consenting recipient with click analytics gets
// pixelgate's redirect around the clean destination, which a withdrawal
// silences (R3).
func (j *job) link(t *tagEdit, val []byte) error {
	lf := j.factsOf(bytes.TrimSpace(val))
	raw := lf.raw
	if isRemote(raw) {
		j.collectResource(raw, "link")
	}
	r, err := j.judgeLink(raw, lf)
	if err != nil {
		return err
	}
	// Each occurrence is judged on its own text (an unsubscribe link may
	// share its URL with another link); the rules' part is the memo's.
	j.keepUnsubscribe(t, raw, lf.unsubURL, &r)
	if r.href != raw {
		t.set("href", r.href)
	}
	if r.tracked {
		r.finding.Part = t.d.path
		j.rep.add(r.finding)
	}
	return nil
}

// linkResult is the decision about one link URL.
type linkResult struct {
	href    string
	finding Finding
	tracked bool // finding is set: not an ordinary link
}

// linkFacts is what the rules say about one link URL as written, the same
// for every recipient: the Rewriter keeps it across messages, so that a
// campaign's links go through the rules once rather than once per copy
// (BenchmarkRewrite). What depends on the recipient (identity, learnt parts, click
// analytics) is decided per message in judgeLink. A kept linkFacts is
// shared by concurrent rewrites: nothing in it is ever changed.
type linkFacts struct {
	raw      string   // the URL as written (white space trimmed)
	u        *url.URL // nil: not a web URL with a host; else parsed, or the destination when unwrapped
	dest     string   // the destination when unwrapped, else the URL as written
	unwrap   string   // the link-unwrapped reason, "" when not a known redirect
	params   []string // the rules' per-recipient parameters of u
	click    rules.Match
	isClick  bool   // u is a known click tracker
	opaque   string // its link-opaque reason
	unsubURL bool   // the URL's words say unsubscribe or preferences
}

// factsOf returns raw's linkFacts, from the Rewriter's memo when a copy of
// the campaign was seen.
// The URL is looked up as the message's bytes: a known link costs no copy.
func (j *job) factsOf(val []byte) *linkFacts {
	if !j.r.noMemo {
		if f, ok := memo.GetBytes(&j.r.linkMemo, val); ok {
			return f
		}
	}
	raw := string(val)
	f := &linkFacts{raw: raw, dest: raw, unsubURL: j.r.unsubURL.in(j.foldURL(raw))}
	if u, ok := j.r.rules.ParseURL(raw); ok {
		f.u = u
		if du, rule, ok := j.r.rules.Unwrap(u); ok {
			f.u, f.dest, f.unwrap = du, du.String(), ReasonLinkUnwrapped+":"+rule
		}
		f.params = j.r.rules.IdentifyingParams(f.u)
		if f.click, f.isClick = j.r.rules.IsClickTracker(f.u); f.isClick {
			f.opaque = ReasonLinkOpaque + ":" + f.click.RuleID
		}
	}
	j.r.linkMemo.Put(memo.String(raw), f)
	return f
}

// judgeLink returns the href a link gets and its finding (none when the
// link is not tracked and stays as it is).
func (j *job) judgeLink(raw string, lf *linkFacts) (linkResult, error) {
	plain := linkResult{href: raw}
	if !isRemote(raw) || (j.linkPrefix != "" && strings.HasPrefix(raw, j.linkPrefix)) ||
		(j.consentPrefix != "" && strings.HasPrefix(raw, j.consentPrefix)) {
		return plain, nil
	}
	u := lf.u
	if u == nil {
		return plain, nil
	}
	var err error
	dest := lf.dest
	var reasonBuf [4]string // most links have one or two reasons: no allocation
	reasons := reasonBuf[:0]
	vendor := ""
	unwrapped := lf.unwrap != ""
	if unwrapped {
		reasons = append(reasons, lf.unwrap)
	}
	learntOpaque := false
	if !unwrapped {
		dest, reasons, learntOpaque = j.learnedLink(u, dest, reasons)
	}
	form := j.id.match(dest)
	params := lf.params
	if form != "" || len(params) > 0 {
		if clean, _ := stripRecipientParts(dest, j.id, form != "", params, false); clean != dest {
			dest = clean
			if form != "" {
				reasons = append(reasons, ReasonIdentity+"-"+form)
			}
			if len(params) > 0 {
				reasons = append(reasons, ReasonLinkParam)
			}
		}
	}
	opaque := false
	click, isClick, opaqueReason := lf.click, lf.isClick, lf.opaque
	if dest != raw && !unwrapped {
		// The rules' answer was for the URL as written; the cleaned
		// destination is asked anew.
		if u, err = url.Parse(dest); err != nil {
			u = nil
		}
		click, isClick = rules.Match{}, false
		if u != nil {
			click, isClick = j.r.rules.IsClickTracker(u)
			opaqueReason = ReasonLinkOpaque + ":" + click.RuleID
		}
	}
	if isClick {
		opaque = true
		vendor = click.Vendor
		reasons = append(reasons, opaqueReason)
	}
	if learntOpaque && !opaque {
		opaque = true
		reasons = append(reasons, ReasonLinkOpaque+":"+ReasonLearned)
	}
	if len(reasons) == 0 && !j.trackClicks {
		return plain, nil
	}
	action := ActionKept
	switch {
	case unwrapped:
		action = ActionUnwrapped
	case dest != raw:
		action = ActionIdentifierRemoved
	}
	if j.trackClicks && !opaque {
		w, err := j.urls.LinkURL(dest)
		if err != nil {
			return linkResult{}, fmt.Errorf("build link URL: %w", err)
		}
		dest, action = w, ActionWrapped
	}
	if len(reasons) == 0 {
		return linkResult{href: dest}, nil
	}
	r := linkResult{href: dest, tracked: true, finding: Finding{URL: raw, Carrier: "link", Class: ClassLinkTracker,
		Reason: strings.Join(reasons, ","), Vendor: vendor, Action: action}}
	if dest != raw {
		r.finding.Rewritten = dest
	}
	return r, nil
}
