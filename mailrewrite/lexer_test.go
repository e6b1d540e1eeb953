package mailrewrite

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/net/html"
)

// xnetStartTags returns the spans of the start tags golang.org/x/net/html
// finds, with noscript, noembed, noframes and iframe content read as markup
// as the scanner does.
func xnetStartTags(doc []byte) map[[2]int]bool {
	out := map[[2]int]bool{}
	z := html.NewTokenizer(bytes.NewReader(doc))
	off := 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return out
		}
		start := off
		off += len(z.Raw())
		if tt == html.StartTagToken || tt == html.SelfClosingTagToken {
			out[[2]int{start, off}] = true
			name, _ := z.TagName()
			switch string(name) {
			case "noscript", "noembed", "noframes", "iframe":
				z.NextIsNotRawText()
			}
		}
	}
}

func lexerStartTags(doc []byte) map[[2]int]bool {
	out := map[[2]int]bool{}
	l := lexer{src: doc}
	d := newHTMLDoc("1", doc, false)
	for {
		kind, start, end := l.next()
		switch kind {
		case tokEOF:
			return out
		case tokStart:
			out[[2]int{start, end}] = true
			if name := d.tagName(doc[start+1 : end]); isRawText(name) {
				l.rawTag = name
			}
		}
	}
}

// FuzzLexerAgainstXNetHTML: every start tag the reference tokenizer finds,
// the lexer finds at the same bytes, so no carrier a browser would load
// escapes the scan. Scripts are left out: there the lexer ends the script
// at the first "</script" and so sees more than the reference, on purpose.
func FuzzLexerAgainstXNetHTML(f *testing.F) {
	for _, s := range []string{
		`<p>a<img src="x" width=1>b</p>`,
		`<!-- c --><img src=a><!--> <img src=b> <!---> <img src=c> <!-- x --!> <img src=d>`,
		`<style>a{}</style><img src=a></StYlE ><img src=b>`,
		`<title><img src=a></title><textarea><img src=b></textarea><img src=c>`,
		`<noscript><img src=a></noscript><iframe><img src=b></iframe>`,
		`</ a><img src=a></><img src=b><? x ><img src=c><!doctype html><img src=d>`,
		`<img src="a>b" alt='c>d' x=e>f><img/src=g/><img =a b= c =d>`,
		`<![CDATA[<img src=a>]]><img src=b>`,
		`<plaintext><img src=a>`,
		`<img src=a`,
		`<!--[if mso]><v:fill src="x"/><![endif]--><img src=y>`,
	} {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob("testdata/messages/*.eml")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if containsFold(doc, "<script") {
			return
		}
		mine := lexerStartTags(doc)
		for span := range xnetStartTags(doc) {
			if !mine[span] {
				t.Fatalf("x/net/html finds the tag %q at %v; the lexer does not", doc[span[0]:span[1]], span)
			}
		}
	})
}

// The lexer agrees with x/net/html on real marketing HTML.
func TestLexerOnBenchMessage(t *testing.T) {
	_, doc := benchMessage(t)
	ref := xnetStartTags(doc)
	mine := lexerStartTags(doc)
	if len(ref) < 500 || len(mine) != len(ref) {
		t.Fatalf("start tags: lexer %d, x/net/html %d", len(mine), len(ref))
	}
	for span := range ref {
		if !mine[span] {
			t.Fatalf("missing %q", doc[span[0]:span[1]])
		}
	}
}
