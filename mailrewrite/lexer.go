package mailrewrite

import "bytes"

// lexer splits HTML into tokens the way the WHATWG tokenizer does
// (§13.2.5), as golang.org/x/net/html implements it, but jumps from '<' to
// '<' with bytes.IndexByte and reads attributes in place, so the scan costs
// little more than copying the document. Where it deliberately differs, it
// sees more markup than a browser, never less: script content ends at the
// first "</script" (no escaped states), and noscript, noembed, noframes and
// iframe content is markup (mail clients run no scripts).
// FuzzLexerAgainstXNetHTML checks it against golang.org/x/net/html.
type lexer struct {
	src     []byte
	pos     int
	rawTag  string     // set after a raw-text start tag: its text comes next
	spans   []attrSpan // attributes of the last start tag, offsets in src
	selfEnd bool       // the last start tag ended with "/>"
	// rawFrom is where the raw-text element's start tag began; open, when
	// not -1, where a construct the input ends inside began (a comment or a
	// raw-text element without its end): markup appended at the end would
	// land inside it.
	rawFrom, open int
	closingRaw    bool // the next tag is the end tag of a raw-text element
}

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokText
	tokStart
	tokEnd
	tokComment
)

// isRawText: these elements hold text, not markup, up to their end tag.
func isRawText(name string) bool {
	switch name {
	case "script", "style", "textarea", "title", "xmp", "plaintext":
		return true
	}
	return false
}

// next returns the next token's kind and span. At an unterminated tag it
// returns tokEOF with start at that tag: a browser drops it.
func (l *lexer) next() (kind tokKind, start, end int) {
	start = l.pos
	n := len(l.src)
	if tag := l.rawTag; tag != "" {
		l.rawTag = ""
		e := n
		if tag != "plaintext" {
			e = start + rawTextEnd(l.src[start:], tag)
		}
		if e == n {
			l.open = l.rawFrom
		}
		// The element closes only if its end tag is complete.
		l.closingRaw = true
		if e > start {
			l.pos = e
			return tokText, start, e
		}
	}
	if start >= n {
		return tokEOF, start, start
	}
	i := start
	for {
		k := bytes.IndexByte(l.src[i:], '<')
		if k < 0 || i+k+1 >= n {
			l.pos = n
			return tokText, start, n
		}
		i += k
		c := l.src[i+1]
		if isAlpha(c) || c == '/' || c == '!' || c == '?' {
			break
		}
		i++
	}
	if i > start {
		l.pos = i
		return tokText, start, i
	}
	switch c := l.src[i+1]; {
	case isAlpha(c):
		return l.tag(tokStart, start, i+1)
	case c == '/':
		if i+2 >= n {
			// "</" at the very end: whatever is appended would start a
			// bogus comment.
			l.pos, l.open = n, i
			return tokText, start, n
		}
		c2 := l.src[i+2]
		switch {
		case c2 == '>':
			l.pos = i + 3
			return tokComment, start, l.pos
		case isAlpha(c2):
			return l.tag(tokEnd, start, i+2)
		}
		var closed bool
		l.pos, closed = untilCloseAngle(l.src, i+2)
		return l.comment(start, closed)
	case c == '!':
		var closed bool
		if i+3 < n && l.src[i+2] == '-' && l.src[i+3] == '-' {
			l.pos, closed = commentEnd(l.src, i+4)
		} else {
			l.pos, closed = untilCloseAngle(l.src, i+2)
		}
		return l.comment(start, closed)
	default: // '?': a bogus comment
		var closed bool
		l.pos, closed = untilCloseAngle(l.src, i+1)
		return l.comment(start, closed)
	}
}

// comment returns the comment token ending at l.pos, noting when it only
// ends because the input does.
func (l *lexer) comment(start int, closed bool) (tokKind, int, int) {
	if !closed {
		l.open = start
	}
	return tokComment, start, l.pos
}

// tag reads a start or end tag whose name starts at nameAt.
func (l *lexer) tag(kind tokKind, start, nameAt int) (tokKind, int, int) {
	var e int
	var ok bool
	closing := l.closingRaw
	l.closingRaw = false
	l.spans, e, ok = tagSpans(l.spans[:0], l.src, nameAt)
	if !ok {
		if closing {
			l.open = l.rawFrom
		}
		return tokEOF, start, start
	}
	l.pos = e
	// "/>" ends a self-closing tag unless the '/' belongs to an unquoted
	// value (<a href=/>), as x/net/html decides.
	l.selfEnd = kind == tokStart && l.src[e-2] == '/' && (len(l.spans) == 0 || e-2 != l.spans[len(l.spans)-1].valEnd-1)
	return kind, start, e
}

func untilCloseAngle(src []byte, i int) (end int, closed bool) {
	if k := bytes.IndexByte(src[i:], '>'); k >= 0 {
		return i + k + 1, true
	}
	return len(src), false
}

// commentEnd returns the end of a comment whose data starts at i (after
// "<!--"): at "-->", "--!>", or the abrupt "<!-->" and "<!--->"; EOF ends
// it too.
func commentEnd(src []byte, i int) (end int, closed bool) {
	for q := i; ; {
		k := bytes.IndexByte(src[q:], '>')
		if k < 0 {
			return len(src), false
		}
		p := q + k
		onlyDashes := true
		for x := i; x < p; x++ {
			if src[x] != '-' {
				onlyDashes = false
				break
			}
		}
		switch {
		case onlyDashes:
			return p + 1, true
		case p-2 >= i && src[p-1] == '-' && src[p-2] == '-':
			return p + 1, true
		case p-3 >= i && src[p-1] == '!' && src[p-2] == '-' && src[p-3] == '-':
			return p + 1, true
		}
		q = p + 1
	}
}

// rawTextEnd returns where the raw text before "</tag" followed by space,
// '/' or '>' ends (len(b) when there is none).
func rawTextEnd(b []byte, tag string) int {
	for i := 0; ; {
		k := bytes.IndexByte(b[i:], '<')
		if k < 0 {
			return len(b)
		}
		i += k
		j := i + 2
		if j+len(tag) >= len(b) {
			return len(b)
		}
		if b[i+1] == '/' && asciiEqualFold(b[j:j+len(tag)], tag) {
			switch b[j+len(tag)] {
			case ' ', '\n', '\r', '\t', '\f', '/', '>':
				return i
			}
		}
		i++
	}
}

// tagSpans reads a tag whose name starts at src[i] (after "<" or "</") up
// to its '>' (WHATWG §13.2.5.8 and §13.2.5.32-38, as x/net/html reads
// them), appending the attributes to out with offsets in src. ok is false
// when the input ends inside the tag.
func tagSpans(out []attrSpan, src []byte, i int) (spans []attrSpan, end int, ok bool) {
	n := len(src)
	for i < n && !isHTMLSpace(src[i]) && src[i] != '/' && src[i] != '>' {
		i++
	}
	for {
		for i < n && isHTMLSpace(src[i]) {
			i++
		}
		if i >= n {
			return out, n, false
		}
		if src[i] == '>' {
			return out, i + 1, true
		}
		ks := i
		for i < n {
			c := src[i]
			if c == '=' && i == ks {
				i++
				continue
			}
			if isHTMLSpace(c) || c == '/' || c == '>' || c == '=' {
				break
			}
			i++
		}
		ke := i
		s := attrSpan{keyStart: ks, keyEnd: ke, valStart: ke, valEnd: ke, end: ke}
		j := i
		for j < n && isHTMLSpace(src[j]) {
			j++
		}
		switch {
		case j >= n:
			return out, n, false
		case src[j] == '/':
			i = j + 1
		case src[j] == '=':
			j++
			for j < n && isHTMLSpace(src[j]) {
				j++
			}
			switch {
			case j >= n:
				return out, n, false
			case src[j] == '>':
				i = j
			case src[j] == '"' || src[j] == '\'':
				k := bytes.IndexByte(src[j+1:], src[j])
				if k < 0 {
					return out, n, false
				}
				s.valStart, s.valEnd, s.end = j+1, j+1+k, j+2+k
				i = s.end
			default:
				k := j
				for k < n && !isHTMLSpace(src[k]) && src[k] != '>' {
					k++
				}
				s.valStart, s.valEnd, s.end = j, k, k
				i = k
			}
		default:
			i = j
		}
		if ke > ks {
			out = append(out, s)
		}
		if i == ks {
			i++ // no progress is impossible above; never loop
		}
	}
}
