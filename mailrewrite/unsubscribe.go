package mailrewrite

import (
	"bytes"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// ReasonUnsubscribe: an unsubscribe or preferences link, left as it is
// whatever it carries: it must keep working for this very recipient, so it
// is the one exception to neutralising tracked links (R12).
const ReasonUnsubscribe = "unsubscribe"

// keepUnsubscribe undoes any change to an unsubscribe or preferences link
// (never touched, so unsubscribing keeps working) and says so in its finding.
func (j *job) keepUnsubscribe(t *tagEdit, raw string, unsubURL bool, r *linkResult) {
	if (r.href == raw && !r.tracked) || !j.unsubscribe(raw, unsubURL, t.d.src, t.end) {
		return
	}
	if r.tracked {
		r.finding.Reason += "," + ReasonUnsubscribe
		r.finding.Action, r.finding.Rewritten = ActionKept, ""
	}
	r.href = raw
}

// unsubscribeURLWords and unsubscribeTextWords mark the links a recipient
// uses to leave a list or choose what they receive, in the languages of
// pixelgate's users.
var (
	unsubscribeURLWords = []string{
		"unsubscribe", "unsub", "optout", "opt-out", "opt_out", "abmelden", "abbestellen", "austragen",
		"desinscri", "désinscri", "desabonn", "désabonn", "disiscri", "afmelden", "uitschrijven",
		"preference", "manage-subscription", "subscription-center", "list-manage.com/profile",
	}
	unsubscribeTextWords = []string{
		"unsubscribe", "opt out", "opt-out", "manage preferences", "email preferences", "update your preferences",
		"abmelden", "abbestellen", "austragen", "désinscri", "desinscri", "désabonner", "desabonner",
		"darse de baja", "disiscriviti", "cancella iscrizione", "afmelden", "uitschrijven", "préférences",
		"einstellungen", "preferencias",
	}
)

// maxLinkText bounds how far a link's text is read.
const maxLinkText = 2048

// unsubscribe: the link is a List-Unsubscribe target (RFC 2369 §3.2), or
// its URL or text says it unsubscribes or manages preferences. tagEnd is
// where the link's start tag ends in src. The link's text is read only
// when its URL does not decide: most tracked links are not unsubscribe
// links, and this runs for each of them.
func (j *job) unsubscribe(raw string, unsubURL bool, src []byte, tagEnd int) bool {
	for _, h := range j.listUnsubscribe {
		if raw == h {
			return true
		}
	}
	if unsubURL {
		return true
	}
	var text []byte
	j.scratch, text = linkText(j.scratch[:0], src, tagEnd)
	return j.r.unsubText.in(text)
}

// wordSet finds any of a few words in a text in one pass: at each byte
// only the words that start with it are compared (a pass per word was a
// tenth of the rewrite).
type wordSet struct {
	// group[c] is 1 + the index in groups of the words starting with c,
	// 0 for none: a small table, as one is made per message (identity).
	group  [256]uint16
	groups [][]string
}

func newWordSet(words []string) *wordSet {
	var w wordSet
	for _, x := range words {
		if x == "" {
			continue
		}
		g := w.group[x[0]]
		if g == 0 {
			w.groups = append(w.groups, nil)
			g = uint16(len(w.groups))
			w.group[x[0]] = g
		}
		w.groups[g-1] = append(w.groups[g-1], x)
	}
	return &w
}

// in: s contains one of the words.
func (w *wordSet) in(s []byte) bool { return wordsIn(w, s) }

// wordsIn: s contains one of w's words.
func wordsIn[T string | []byte](w *wordSet, s T) bool {
	for i := 0; i < len(s); i++ {
		g := w.group[s[i]]
		if g == 0 {
			continue
		}
		for _, x := range w.groups[g-1] {
			if len(s)-i >= len(x) && string(s[i:i+len(x)]) == x {
				return true
			}
		}
	}
	return false
}

// foldURL returns raw lower-cased, then percent-decoded when it decodes
// (url.PathUnescape), in j.scratch: the form the URL words are looked for
// in. Escaped bytes are decoded after lower-casing, so they keep their case.
func (j *job) foldURL(raw string) []byte {
	for i := 0; i < len(raw); i++ {
		if raw[i] >= utf8.RuneSelf {
			// Rare in a URL: lower-case as Unicode does.
			low := strings.ToLower(raw)
			if dec, err := url.PathUnescape(low); err == nil {
				low = dec
			}
			j.scratch = append(j.scratch[:0], low...)
			return j.scratch
		}
	}
	if cap(j.scratch) < len(raw) {
		j.scratch = make([]byte, len(raw))
	}
	low := lowerASCII(j.scratch[:len(raw)], raw)
	// url.PathUnescape: every "%" starts two hex digits, or nothing is
	// decoded. Decoding only shortens, so it is done in place.
	for i := 0; i < len(low); i++ {
		if low[i] == '%' && (i+2 >= len(low) || !isHex(low[i+1]) || !isHex(low[i+2])) {
			return low
		}
	}
	n := 0
	for i := 0; i < len(low); i++ {
		c := low[i]
		if c == '%' {
			c = unhex(low[i+1])<<4 | unhex(low[i+2])
			i += 2
		}
		low[n] = c
		n++
	}
	return low[:n]
}

// linkText returns the text of the link whose start tag ends at from: up
// to its </a>, tags left out, character references decoded, lower-cased,
// runs of white space made one space and trimmed. It is built at the end of
// dst, which is returned grown, for reuse.
func linkText(dst, src []byte, from int) (buf, text []byte) {
	if from < 0 || from > len(src) {
		return dst, nil
	}
	seg := src[from:min(len(src), from+maxLinkText)]
	for i := 0; ; {
		k := bytes.Index(seg[i:], []byte("</"))
		if k < 0 {
			break
		}
		i += k
		if i+3 <= len(seg) && seg[i+2]|0x20 == 'a' && (i+3 == len(seg) || !isNameByte(seg[i+3])) {
			seg = seg[:i]
			break
		}
		i += 2
	}
	if text, ok := asciiLinkText(dst, seg); ok {
		return text, text[len(dst):]
	}
	// Tags out first, into dst (the decoded text may spell "<").
	start := len(dst)
	in := false
	for _, c := range seg {
		switch {
		case c == '<':
			in = true
		case c == '>':
			in = false
			dst = append(dst, ' ')
		case !in:
			dst = append(dst, c)
		}
	}
	text = dst[start:]
	if bytes.IndexByte(text, '&') >= 0 {
		text = []byte(html.UnescapeString(string(text)))
	}
	// Lower-cased and white space folded after the text read (a lower-case
	// letter can be longer in UTF-8 than its capital), as strings.ToLower
	// and strings.Fields would (a byte that is not UTF-8 becomes U+FFFD).
	mid := len(dst)
	space := false
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRune(text[i:])
		i += n
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && len(dst) > mid {
			dst = append(dst, ' ')
		}
		space = false
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
	}
	return dst, dst[mid:]
}

// asciiLinkText is linkText's reading of seg in one pass, for the common
// text of plain ASCII without character references; ok is false (and dst
// unchanged) otherwise.
func asciiLinkText(dst, seg []byte) (out []byte, ok bool) {
	start := len(dst)
	in, space := false, false
	for _, c := range seg {
		switch {
		case c >= utf8.RuneSelf || c == '&':
			return dst[:start], false
		case c == '<':
			in = true
		case c == '>':
			in, space = false, true
		case in:
		case isSpaceASCII(c):
			space = true
		default:
			if space && len(dst) > start {
				dst = append(dst, ' ')
			}
			space = false
			dst = append(dst, lowerByte(c))
		}
	}
	return dst, true
}

// listUnsubscribeURLs reads the http(s) targets of the top-level
// List-Unsubscribe field (RFC 2369 §3.2: "<URL>, <URL>").
func listUnsubscribeURLs(msg []byte, root *entity) []string {
	hdr, _, _ := splitHeader(msg, root.start, root.end)
	var out []string
	forEachField(hdr, func(name, value []byte) {
		if !asciiEqualFold(name, "list-unsubscribe") {
			return
		}
		for _, f := range strings.Split(string(value), ",") {
			f = strings.TrimSpace(f)
			if len(f) > 2 && f[0] == '<' && f[len(f)-1] == '>' && isRemote(f[1:len(f)-1]) {
				out = append(out, strings.TrimSpace(f[1:len(f)-1]))
			}
		}
	})
	return out
}
