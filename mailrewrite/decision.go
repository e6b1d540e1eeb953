// Package mailrewrite turns one outbound message into the message one
// recipient may receive: it finds every remote resource, classifies trackers
// and strips or swaps them according to the recipient's consent (R1, R3, R12).
//
// It is pure: it knows nothing of Redis, HTTP or SMTP. Input is message bytes
// and a Decision, output is message bytes and a Report (kept pure by deps_test.go).
package mailrewrite

// Consent is the recipient's consent as the rewrite needs it. Anything but
// Granted is treated as refusal: silence is refusal (R1).
type Consent uint8

const (
	Unknown Consent = iota
	Refused
	Granted
)

func (c Consent) String() string {
	switch c {
	case Granted:
		return "granted"
	case Refused:
		return "refused"
	default:
		return "unknown"
	}
}

// Purpose is what a pixelgate pixel is for.
type Purpose uint8

const (
	// PurposeOpen: open tracking of a consenting recipient.
	PurposeOpen Purpose = iota + 1
	// PurposeDeliverability: R4 exemption, date of last open only.
	PurposeDeliverability
)

// URLs builds pixelgate's own URLs for one recipient and campaign. The caller
// supplies it (the relay and CLI use consent's AEAD tokens), so this package
// never sees keys or recipient identifiers beyond the Decision.
type URLs interface {
	// PixelURL is the absolute URL of pixelgate's pixel. original is the
	// ESP pixel URL being replaced ("" when none), carried inside the token
	// so the endpoint can forward the hit while consent lasts.
	PixelURL(p Purpose, original string) (string, error)
	// ConsentURL is the absolute URL of the recipient's consent page.
	ConsentURL() (string, error)
	// LinkURL wraps a destination in pixelgate's click redirect (R12,
	// opt-in click analytics for consenting recipients).
	LinkURL(destination string) (string, error)
}

// Decision is everything the rewrite needs to know about one recipient.
type Decision struct {
	// Recipient is the envelope recipient address. It is used only to find
	// the recipient's identity inside URLs (plain, encoded or hashed) and is
	// never written to the output.
	Recipient string
	Consent   Consent
	Campaign  string
	// Deliverability: the stream has the R4 deliverability exemption on; a
	// non-consenting recipient gets a date-only deliverability pixel.
	Deliverability bool
	// Ask reports whether the recipient, who has no decision, may be asked
	// (R5); the {{pixelgate_consent_request}} placeholder is then filled
	// with a request block, otherwise with nothing. It is called at most
	// once, and only when the message has the placeholder, so that a caller
	// whose answer costs a store round trip pays it only then. nil: never
	// ask.
	Ask func() bool
	// TrackClicks: route a consenting recipient's links through pixelgate's
	// redirect (opt-in click analytics).
	TrackClicks bool
	URLs        URLs
	// Learned holds what earlier copies of this campaign showed to vary
	// per recipient (learn.Shapes); nil when nothing is learnt yet. Those
	// URL parts are identifiers like any other: trackers carrying them go,
	// content images and links lose them (R1, R12).
	Learned PerRecipientMatcher
	// DefaultLanguage is the language of the footer and consent request
	// when the message names none pixelgate has texts for (empty: "en").
	// The message names it, first match wins, with an X-Pixelgate-Language
	// header, Content-Language (of the message, then of the part), or
	// <html lang>.
	DefaultLanguage string
}

// ReportOptions shape the Report a rewrite returns, never the message: they
// say what the caller will read, so the engine need not build the rest.
type ReportOptions struct {
	// CountOnly: the caller needs only Report.CountFindings (the relay's
	// metrics), so findings are counted as they come and Report.Findings
	// stays empty: a campaign message has hundreds of them.
	CountOnly bool
	// SkipResources: the caller will not learn from this copy, so
	// Report.Resources stays empty.
	SkipResources bool
}
