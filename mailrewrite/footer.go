package mailrewrite

import (
	"strings"

	"github.com/pixelgate/pixelgate/internal/lang"
)

// Placeholders a sender may put in a template (operator guide §3).
const (
	// PlaceholderConsentURL is replaced by the recipient's consent page URL
	// wherever it appears; a message holding it gets no extra footer.
	PlaceholderConsentURL = "{{pixelgate_consent_url}}"
	// PlaceholderConsentRequest is replaced by a short request block when
	// Decision.Ask, otherwise by nothing (R5).
	PlaceholderConsentRequest = "{{pixelgate_consent_request}}"
)

// LanguageHeader lets a campaign choose the language of what pixelgate
// adds (footer link, consent request) when the message does not say it
// well enough; the relay removes it, like every X-Pixelgate-* header,
// before the message leaves.
const LanguageHeader = "X-Pixelgate-Language"

// DefaultLanguage is the footer language when neither the message nor the
// configuration names one pixelgate has texts for.
const DefaultLanguage = lang.Default

// FooterLanguages are the languages the footer and request have texts in.
func FooterLanguages() []string { return lang.Codes() }

// SupportedLanguage reports whether tag (or its language, for "fr-CA")
// has footer texts: the check of a configured default.
func SupportedLanguage(tag string) bool {
	_, ok := lang.Match(tag)
	return ok
}

func textsFor(code string) lang.Footer {
	l, _ := lang.Get(lang.FirstOf(code))
	return l.Footer
}

// footerMarker marks what pixelgate added, so a second rewrite finds it.
const footerMarker = `data-pixelgate="footer"`

// htmlFooter is the consent footer link (R3: withdrawal as easy as giving,
// separate from unsubscribe). It goes just before </body>, outside any
// table of the template: finding "the" content cell of an arbitrary layout
// is guesswork that can land the link in a spacer or a hidden preheader.
// Centred at most 600px wide (the usual width of an email layout), it
// lines up with the content; a designer who wants it inside the layout
// puts {{pixelgate_consent_url}} there instead, and then no footer is
// added at all.
func htmlFooter(code, consentURL string) []byte {
	t := textsFor(code)
	return []byte(`<div ` + footerMarker + ` lang="` + code + `" style="max-width:600px;margin:0 auto;font-family:Arial,Helvetica,sans-serif;font-size:12px;line-height:16px;color:#666666;text-align:center;padding:12px 0;">` +
		`<a href="` + escapeAttr(consentURL) + `" style="color:#666666;text-decoration:underline;">` + t.ManageHTML + `</a></div>`)
}

func textFooter(code, consentURL, eol string) string {
	t := textsFor(code)
	return eol + "-- " + eol + t.Manage + ": " + consentURL + eol
}

// htmlRequest is the neutral consent request: two equally plain links to
// the consent page, where the choice is made with a button (R2: never a GET).
func htmlRequest(code, consentURL string) []byte {
	t := textsFor(code)
	u := escapeAttr(consentURL)
	link := `" style="color:#333333;text-decoration:underline;">`
	return []byte(`<div data-pixelgate="consent-request" style="font-family:Arial,Helvetica,sans-serif;font-size:13px;line-height:18px;color:#333333;padding:8px 0;">` +
		t.AskHTML + ` <a href="` + u + link + t.AllowHTML + `</a> &middot; <a href="` + u + link + t.DeclineHTML + `</a></div>`)
}

func textRequest(code, consentURL string) string {
	t := textsFor(code)
	return t.Ask + " " + t.Allow + " / " + t.Decline + ": " + consentURL
}

// pixelHTML is pixelgate's pixel.
func pixelHTML(src string) []byte {
	return []byte(`<img src="` + escapeAttr(src) + `" width="1" height="1" alt="" border="0" style="width:1px;height:1px;border:0;">`)
}

// encodeText converts UTF-8 text pixelgate adds into the part's charset.
// Only a few accented letters are ever added; ISO-8859-x and Windows-125x
// code them as Latin-1 does. A 7bit part, or a charset we do not know,
// gets the letters without accents rather than bytes it cannot declare.
func encodeText(s, charset, cte string) []byte {
	sevenBit := cte == "" || cte == "7bit"
	cs := strings.ToLower(strings.TrimSpace(charset))
	switch {
	case !sevenBit && (cs == "utf-8" || cs == "utf8"):
		return []byte(s)
	case !sevenBit && latin1Compatible(cs):
		out := make([]byte, 0, len(s))
		for _, r := range s {
			if r < 0x100 {
				out = append(out, byte(r))
			} else {
				out = append(out, asciiFold(r)...)
			}
		}
		return out
	}
	var b strings.Builder
	for _, r := range s {
		if r < 0x80 {
			b.WriteRune(r)
		} else {
			b.WriteString(asciiFold(r))
		}
	}
	return []byte(b.String())
}

func latin1Compatible(cs string) bool {
	switch cs {
	case "iso-8859-1", "latin1", "iso_8859-1", "iso-8859-15", "latin-9", "windows-1252", "cp1252",
		"iso-8859-2", "iso-8859-3", "iso-8859-4", "iso-8859-9", "iso-8859-10", "iso-8859-13",
		"iso-8859-14", "iso-8859-16", "windows-1250", "windows-1254", "windows-1257":
		return true
	}
	return false
}

func asciiFold(r rune) string {
	switch r {
	case 'é', 'è', 'ê', 'ë':
		return "e"
	case 'à', 'â':
		return "a"
	case 'ç':
		return "c"
	case 'ô':
		return "o"
	case 'î', 'ï':
		return "i"
	case 'ù', 'û':
		return "u"
	case '’':
		return "'"
	}
	return "?"
}
