// Package lang is the one list of the languages pixelgate speaks: which
// they are, which is the default, how a language tag from a message or a
// browser maps to one of them, and the few words pixelgate writes outside
// the consent page (the footer and consent request added to a message, the
// click redirect's page for a bad link).
//
// Adding a language is one entry in registry plus the consent page's texts
// for it (its chrome in web/consentpage/ui.go, its information text in
// web/consentpage/texts/default.json); TestEveryPlaceHasEveryLanguage in
// web/consentpage checks that nothing is left out.
//
// It imports the standard library only, so the pure rewrite engine
// (mailrewrite) and the recipient-facing handlers can all depend on it.
package lang

import (
	"strconv"
	"strings"
)

// Default is the language used when nothing names one pixelgate speaks. It
// is the first entry of the registry.
const Default = "en"

// Language is one language pixelgate speaks.
type Language struct {
	// Code is the primary language subtag, lower case (RFC 5646 §2.2.1).
	Code string
	// Footer is what pixelgate adds to a message in this language.
	Footer Footer
	// BadLink is the click redirect's page for a link that does not open.
	BadLink BadLink
}

// Footer is the words pixelgate adds to a message: the footer link (R3:
// withdrawal as easy as giving) and the neutral consent request (R5). The
// HTML versions are written with character references, so they are plain
// ASCII and fit any ASCII-compatible charset and 7bit parts.
type Footer struct {
	Manage, ManageHTML   string
	Ask, AskHTML         string
	Allow, AllowHTML     string
	Decline, DeclineHTML string
}

// BadLink is the text of the page for a click link that does not open.
type BadLink struct {
	Title   string // in <title>
	Heading string
	Body    string
}

// registry lists the languages, Default first. It is a function so that
// no caller can change the list another one reads.
func registry() []Language {
	return []Language{
		{
			Code: "en",
			Footer: Footer{
				Manage: "Manage open tracking", ManageHTML: "Manage open tracking",
				Ask:     "May we count when you open our emails? It is optional and changes nothing else.",
				AskHTML: "May we count when you open our emails? It is optional and changes nothing else.",
				Allow:   "Allow", AllowHTML: "Allow",
				Decline: "No thanks", DeclineHTML: "No thanks",
			},
			BadLink: BadLink{
				Title:   "Link not available",
				Heading: "This link is not available",
				Body: "The link may be incomplete or too old. Nothing was recorded. " +
					"If you need the page it pointed to, please reply to the email or contact its sender.",
			},
		},
		{
			Code: "fr",
			Footer: Footer{
				Manage: "Gérer le suivi des ouvertures", ManageHTML: "G&eacute;rer le suivi des ouvertures",
				Ask:     "Pouvons-nous compter vos ouvertures de nos e-mails ? C'est facultatif et ne change rien d'autre.",
				AskHTML: "Pouvons-nous compter vos ouvertures de nos e-mails&nbsp;? C&rsquo;est facultatif et ne change rien d&rsquo;autre.",
				Allow:   "Accepter", AllowHTML: "Accepter",
				Decline: "Non merci", DeclineHTML: "Non merci",
			},
			BadLink: BadLink{
				Title:   "Lien indisponible",
				Heading: "Ce lien n’est pas disponible",
				Body: "Le lien est peut-être incomplet ou trop ancien. Rien n’a été enregistré. " +
					"Si vous avez besoin de la page visée, répondez à l’e-mail ou contactez son expéditeur.",
			},
		},
	}
}

// All are the languages pixelgate speaks, Default first.
func All() []Language { return registry() }

// Codes are the codes of All, Default first.
func Codes() []string {
	var out []string
	for _, l := range registry() {
		out = append(out, l.Code)
	}
	return out
}

// Get is the language with code (exactly, as Codes spells it).
func Get(code string) (Language, bool) {
	for _, l := range registry() {
		if l.Code == code {
			return l, true
		}
	}
	return Language{}, false
}

// Match reduces a language tag to its primary subtag and says whether
// pixelgate speaks it: a region or script counts as its language ("fr-CA"
// is French, RFC 4647 §3.4 lookup by truncation), case does not matter
// (RFC 5646 §2.1.1), and the "_" of POSIX locale names ("fr_FR") is taken
// as "-" since mail programs write those too.
func Match(tag string) (string, bool) {
	tag = strings.ToLower(strings.TrimSpace(tag))
	if i := strings.IndexAny(tag, "-_"); i >= 0 {
		tag = tag[:i]
	}
	_, ok := Get(tag)
	return tag, ok
}

// FirstOf is the first of candidates, each a tag or a comma-separated list
// of them in order of preference (Content-Language, RFC 3282 §2), that
// Match accepts; Default when none is.
func FirstOf(candidates ...string) string {
	for _, c := range candidates {
		for tag := range strings.SplitSeq(c, ",") {
			if l, ok := Match(tag); ok {
				return l
			}
		}
	}
	return Default
}

// maxAcceptLanguage bounds the part of an Accept-Language value read: the
// header comes from anyone.
const maxAcceptLanguage = 1024

// FromAcceptLanguage is the language pixelgate speaks with the highest
// q-value in an Accept-Language value (RFC 9110 §12.5.4); ties keep the
// header's order, and Default is the answer when none fits. Malformed parts
// are skipped, never an error.
func FromAcceptLanguage(h string) string {
	best, bestQ := Default, 0.0
	if len(h) > maxAcceptLanguage {
		h = h[:maxAcceptLanguage]
	}
	for part := range strings.SplitSeq(h, ",") {
		tag, params, _ := strings.Cut(part, ";")
		code, ok := Match(tag)
		if !ok {
			continue
		}
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		if q > bestQ {
			best, bestQ = code, q
		}
	}
	return best
}
