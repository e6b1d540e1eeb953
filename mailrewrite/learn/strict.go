package learn

import (
	"net/url"
	"strings"
)

// Matcher answers, for one URL, which of its parts carry a per-recipient
// value (mailrewrite.PerRecipientMatcher): a campaign's learnt Shapes, or
// Strict when nothing is known of the campaign.
type Matcher interface {
	PerRecipient(u *url.URL) (parts []Part, ok bool)
}

// Strict is what a copy's rewrite takes out when the campaign's learnt
// shapes cannot be read (the store is unreachable) and none are known: every
// query item and fragment that could hold a value, whatever its name. It is
// the most the learner could ever learn of a URL, without a second copy to
// compare with, so a per-recipient id that no rule knows (?rid=…) does not
// reach a recipient because the store failed (R12, fail closed).
//
// Provably shared, and kept, is only what the learner itself never takes
// for a value: a short word without digits ("utm_medium=email", "lang=fr").
// Path segments are kept: a link without them points elsewhere, and the
// learner never takes them out of a link either. A value as long as a
// payload (a click redirect's token, which also encodes the destination) is
// marked Payload: a link keeps it and is reported opaque, as R12 allows
// where the destination cannot be recovered; an image loses it.
type Strict struct{}

// PerRecipient reports the parts Strict takes out of u.
func (Strict) PerRecipient(u *url.URL) (parts []Part, ok bool) {
	if u == nil {
		return nil, false
	}
	_, vals, ok := analyseURL(u)
	if !ok {
		return nil, false
	}
	for _, v := range vals {
		switch v.part.Kind {
		case Segment:
			continue
		case Query:
			// Named values are all listed, joined by NUL when the name
			// repeats; any one that may hold a value takes the name out.
			if !anyMasked(strings.Split(v.v, "\x00")) {
				continue
			}
		}
		p := v.part
		p.Payload = len(v.v) >= payloadLen
		parts = append(parts, p)
	}
	return parts, len(parts) > 0
}

// anyMasked: one of vs is not a literal word of a template (mask).
func anyMasked(vs []string) bool {
	for _, v := range vs {
		if _, masked := mask(v); masked {
			return true
		}
	}
	return false
}
