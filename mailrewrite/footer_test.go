package mailrewrite

import (
	"strings"
	"testing"
)

// The footer's language comes from the message (campaign header, then
// Content-Language, then <html lang>), then the configured default, then
// English; only languages with texts count, and a region falls back to its
// language.
func TestFooterLanguageSources(t *testing.T) {
	const en, fr = "Manage open tracking", "G&eacute;rer le suivi des ouvertures"
	msg := func(headers, htmlTag string) []byte {
		return []byte("From: news@shop.example\r\nSubject: t\r\nMIME-Version: 1.0\r\n" + headers +
			"Content-Type: text/html; charset=utf-8\r\n\r\n" + htmlTag + "<body><p>Hi</p></body></html>\r\n")
	}
	for _, c := range []struct {
		name, headers, html, def, want string
	}{
		{"nothing", "", "<html>", "", en},
		{"default", "", "<html>", "fr", fr},
		{"unsupported default", "", "<html>", "de", en},
		{"html lang", "", `<html lang="fr">`, "", fr},
		{"html lang region", "", `<html lang="fr-BE">`, "", fr},
		{"content-language", "Content-Language: fr-CA\r\n", "<html>", "", fr},
		{"content-language list", "Content-Language: de, fr\r\n", "<html>", "", fr},
		{"content-language over html", "Content-Language: en\r\n", `<html lang="fr">`, "fr", en},
		{"campaign header over all", "X-Pixelgate-Language: fr\r\nContent-Language: en\r\n", `<html lang="en">`, "en", fr},
		{"unsupported header falls through", "X-Pixelgate-Language: es\r\n", `<html lang="fr">`, "", fr},
		{"unsupported everything", "Content-Language: de\r\n", `<html lang="it">`, "fr", fr},
	} {
		d := decisionFor(Unknown)
		d.DefaultLanguage = c.def
		out, rep, err := newTestRewriter(t).Rewrite(msg(c.headers, c.html), d)
		if err != nil {
			t.Fatal(err)
		}
		s := string(out)
		if !rep.FooterAdded || !strings.Contains(s, c.want) {
			t.Errorf("%s: footer not in %q:\n%s", c.name, c.want, s)
		}
		lang := "en"
		if c.want == fr {
			lang = "fr"
		}
		if !strings.Contains(s, footerMarker+` lang="`+lang+`"`) {
			t.Errorf("%s: footer does not declare lang %s:\n%s", c.name, lang, s)
		}
	}
}

// A text-only message has no <html lang>: Content-Language and the
// campaign header choose, and the consent request placeholder is filled in
// that language too.
func TestPlaceholdersInMessageLanguage(t *testing.T) {
	msg := "From: news@shop.example\r\nSubject: t\r\nContent-Language: fr\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
		"Bonjour\r\n{{pixelgate_consent_request}}\r\nVos choix : {{pixelgate_consent_url}}\r\n"
	d := decisionFor(Unknown)
	d.Ask = func() bool { return true }
	out, rep, err := newTestRewriter(t).Rewrite([]byte(msg), d)
	if err != nil {
		t.Fatal(err)
	}
	cu, _ := d.URLs.ConsentURL()
	s := string(out)
	if rep.FooterAdded || !rep.ConsentRequested || strings.Contains(s, "{{") ||
		!strings.Contains(s, "Pouvons-nous compter vos ouvertures") || !strings.Contains(s, "Accepter / Non merci: "+cu) ||
		!strings.Contains(s, "Vos choix : "+cu+"\r\n") {
		t.Errorf("placeholders not filled in French:\n%s", s)
	}
}
