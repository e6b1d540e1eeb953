package mailrewrite

import (
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// plainLinkText is the plain form of linkText: strings built, decoded,
// split and lower-cased. The allocation-free linkText must read the same.
// plainNameByte is the plain form of isNameByte: a byte of a tag name.
func plainNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
}

func plainLinkText(src []byte, from int) string {
	if from < 0 || from > len(src) {
		return ""
	}
	seg := src[from:min(len(src), from+maxLinkText)]
	for i := 0; i+3 <= len(seg); i++ {
		if seg[i] == '<' && seg[i+1] == '/' && seg[i+2]|0x20 == 'a' && (i+3 == len(seg) || !plainNameByte(seg[i+3])) {
			seg = seg[:i]
			break
		}
	}
	var b strings.Builder
	in := false
	for _, c := range seg {
		switch {
		case c == '<':
			in = true
		case c == '>':
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteByte(c)
		}
	}
	return strings.ToLower(strings.Join(strings.Fields(html.UnescapeString(b.String())), " "))
}

// plainFoldURL is the plain form of foldURL.
func plainFoldURL(raw string) string {
	low := strings.ToLower(raw)
	if dec, err := url.PathUnescape(low); err == nil {
		low = dec
	}
	return low
}

// FuzzUnsubscribeFold checks that the unsubscribe test reads a link's URL
// and text as the plain string functions do, so that no unsubscribe link
// is touched (R12) because of the faster reading.
func FuzzUnsubscribeFold(f *testing.F) {
	for _, s := range []string{
		`>Se D&Eacute;SINSCRIRE&nbsp;ici</a>`,
		`><b>Manage</b>
		 PREFERENCES</A>`,
		`>Ⱥ İ K &#x2028; x` + "\xff\xc3" + `</a >`,
		`https://x.example/D%C3%A9sinscription?Opt%2dOut=1`,
		`https://x.example/%zz/UNSUBSCRIBE%`,
		`https://x.example/Ünsubscribe/%41`,
		`https://x.example/opt_out/unsu`,
		`>darse de baja</a>`,
	} {
		f.Add(s, 1)
	}
	f.Fuzz(func(t *testing.T, s string, from int) {
		var j job
		if got, want := string(j.foldURL(s)), plainFoldURL(s); got != want {
			t.Fatalf("foldURL(%q) = %q, want %q", s, got, want)
		}
		_, text := linkText(j.scratch[:0], []byte(s), from)
		if got, want := string(text), plainLinkText([]byte(s), from); got != want {
			t.Fatalf("linkText(%q, %d) = %q, want %q", s, from, got, want)
		}
		for _, words := range [][]string{unsubscribeURLWords, unsubscribeTextWords} {
			want := false
			for _, w := range words {
				want = want || strings.Contains(strings.ToLower(s), w)
			}
			if got := newWordSet(words).in([]byte(strings.ToLower(s))); got != want {
				t.Fatalf("wordSet.in(%q) = %v, want %v", strings.ToLower(s), got, want)
			}
		}
	})
}
