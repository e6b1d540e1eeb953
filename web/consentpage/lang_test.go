package consentpage

import (
	"errors"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/mailrewrite"
)

func TestPickLang(t *testing.T) {
	for _, c := range []struct{ query, header, want string }{
		{"", "", "en"},
		{"", "fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7", "fr"},
		{"", "en-GB,fr;q=0.5", "en"},
		{"", "de-DE,fr;q=0.3", "fr"},
		{"", "de, it", "en"},
		{"", "en;q=0.2, FR;q=0.9", "fr"},
		{"", "fr_CA", "fr"},
		{"", "fr;q=0, en;q=0.1", "en"},
		{"", "fr;q=2", "en"},
		{"", "fr;q=abc,en", "en"},
		{"lang=fr", "en", "fr"},
		{"lang=en", "fr", "en"},
		{"lang=de", "fr", "fr"},
	} {
		r := httptest.NewRequest("GET", "/c/x?"+c.query, nil)
		r.Header.Set("Accept-Language", c.header)
		if got := pickLang(r); got != c.want {
			t.Errorf("query %q Accept-Language %q: %q, want %q", c.query, c.header, got, c.want)
		}
	}
}

// consentURLs gives the rewrite engine a real consent page URL; a message
// with no image and no link needs no other.
type consentURLs struct{ page string }

func (u consentURLs) ConsentURL() (string, error) { return u.page, nil }
func (consentURLs) PixelURL(mailrewrite.Purpose, string) (string, error) {
	return "", errors.New("the test message has no pixel")
}
func (consentURLs) LinkURL(string) (string, error) {
	return "", errors.New("the test message has no link")
}

var footerLangRE = regexp.MustCompile(`data-pixelgate="footer" lang="([^"]*)"`)

// TestFooterAndPageAgree: a recipient whose mail is in a language, and
// whose browser asks for that language, reads the footer link and the page
// it opens in the same language: the rewrite engine reads the message's
// Content-Language, the page the browser's Accept-Language, and both map
// the tag through internal/lang.
func TestFooterAndPageAgree(t *testing.T) {
	e := newEnv(t, storeKinds[0].open)
	rw, err := mailrewrite.New(mailrewrite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"fr", "fr-CA", "FR", "fr_FR", "en-GB", "en", "de", "de-CH", "*", "", "français", "i-klingon"} {
		tok, _ := e.pageToken(t, "lea@exemple.fr")
		msg := "From: news@shop.example\r\nSubject: t\r\nMIME-Version: 1.0\r\nContent-Language: " + tag +
			"\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Hi</p></body></html>\r\n"
		out, rep, err := rw.Rewrite([]byte(msg), mailrewrite.Decision{Recipient: "lea@exemple.fr", Consent: mailrewrite.Unknown,
			Campaign: "spring-sale", URLs: consentURLs{page: e.srv.URL + "/c/" + tok}})
		if err != nil {
			t.Fatal(err)
		}
		m := footerLangRE.FindSubmatch(out)
		if !rep.FooterAdded || m == nil {
			t.Fatalf("%q: no footer:\n%s", tag, out)
		}
		r := e.get(t, "/c/"+tok, "Accept-Language", tag)
		if want := `<html lang="` + string(m[1]) + `">`; !strings.Contains(r.body, want) {
			t.Errorf("tag %q: footer in %s, page not (%s wanted):\n%.300s", tag, m[1], want, r.body)
		}
	}
}
