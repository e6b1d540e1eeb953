package mailrewrite

import (
	"net/url"
	"strings"

	"github.com/pixelgate/pixelgate/mailrewrite/learn"
)

// ReasonLearned: "learned:<parts>": these parts of the URL differ between
// recipients' copies of this campaign (learn.Shapes): per-recipient query
// parameters are trackers too (R12).
const ReasonLearned = "learned"

// PerRecipientMatcher returns the parts of a URL that vary per recipient
// within a campaign (learn.Shapes implements it).
type PerRecipientMatcher interface {
	PerRecipient(u *url.URL) (parts []learn.Part, ok bool)
}

// collectResource remembers a URL of the incoming message, in document
// order, for the per-campaign learner (Report.Resources).
func (j *job) collectResource(u, carrier string) {
	if j.skipResources {
		return
	}
	j.rep.Resources = append(j.rep.Resources, learn.Resource{URL: strings.TrimSpace(u), Carrier: carrier})
}

// learnedParts: the parts of u that the campaign's copies showed to vary.
func (j *job) learnedParts(u *url.URL) ([]learn.Part, bool) {
	if j.learned == nil || u == nil {
		return nil, false
	}
	return j.learned.PerRecipient(u)
}

// learnedLink takes the learnt parts out of a link. A part in the path, or
// one that carries a payload (it differs from link to link: a click
// redirect's token), is the redirect itself: without it the sender's server
// cannot answer, so the link keeps it and is reported as opaque.
func (j *job) learnedLink(u *url.URL, dest string, reasons []string) (string, []string, bool) {
	lp, ok := j.learnedParts(u)
	if !ok {
		return dest, reasons, false
	}
	opaque := false
	var removable []learn.Part
	for _, p := range lp {
		if p.Kind == learn.Segment || p.Payload {
			opaque = true
			continue
		}
		removable = append(removable, p)
	}
	return learn.RemoveParts(dest, removable), append(reasons, ReasonLearned+":"+learn.PartsString(lp)), opaque
}
