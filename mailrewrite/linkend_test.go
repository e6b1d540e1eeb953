package mailrewrite

import (
	"strings"
	"testing"
)

// TestLinkEndsAtFoldedCloseTag: a closing tag written across lines
// (`</a` CR LF `>`, as some HTML generators fold long lines) ends the link's
// text. Read past it, words later in the message ("unsubscribe" in the
// footer) made a tracked link count as an unsubscribe link, kept untouched
// with the reader's identity in it (R12).
func TestLinkEndsAtFoldedCloseTag(t *testing.T) {
	link := "https://shop.example/sale?email=" + fixtureRcpt
	for _, end := range []string{"</a\r\n>", "</a\n>", "</a\t>", "</A\r\n >"} {
		body := `<p><a href="` + link + `">Shop the sale` + end + `</p><p>Not for you? <a href="https://shop.example/u">unsubscribe</a></p>`
		out, rep := rewriteHTML(t, body, decisionFor(Refused))
		f := findingFor(rep, link)
		if f == nil {
			t.Fatalf("%q: no finding for the link; findings %+v", end, rep.Findings)
		}
		if f.Action == ActionKept || strings.Contains(out, "email="+fixtureRcpt) {
			t.Errorf("%q: link kept with the reader's address (action %s, reason %s)", end, f.Action, f.Reason)
		}
	}
}

func TestIsNameByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		if got, want := isNameByte(b), plainNameByte(b); got != want {
			t.Errorf("isNameByte(%#x) = %v, want %v", b, got, want)
		}
	}
}
