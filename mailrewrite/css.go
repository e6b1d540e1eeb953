package mailrewrite

import (
	"bytes"

	"github.com/pixelgate/pixelgate/mailrewrite/internal/memo"
)

// cssRef is one remote reference in CSS: a url() token or an @import rule.
type cssRef struct {
	start, end       int // the url(...) token, or the whole @import rule with its ';'
	urlStart, urlEnd int // the URL text inside
	isImport         bool
}

// scanCSS calls fn for every url() and @import in css, in order. It knows
// enough CSS to skip comments and strings and to find where an @import rule
// ends; everything else is opaque text.
func scanCSS(css []byte, fn func(ref cssRef)) {
	n := len(css)
	for i := 0; i < n; {
		c := css[i]
		switch {
		case c == '/' && i+1 < n && css[i+1] == '*':
			end := bytes.Index(css[i+2:], []byte("*/"))
			if end < 0 {
				return
			}
			i += 2 + end + 2
		case c == '@' && hasPrefixFold(css[i:], "@import"):
			j := skipCSSSpace(css, i+len("@import"))
			var us, ue int
			var ok bool
			if j < n && (css[j] == '"' || css[j] == '\'') {
				us, ue, j, ok = cssString(css, j)
			} else if hasPrefixFold(css[j:], "url(") {
				_, _, us, ue, j, ok = cssURLToken(css, j)
			}
			if !ok {
				i = max(j, i+len("@import"))
				continue
			}
			end := j
			for end < n && css[end] != ';' && css[end] != '}' && css[end] != '{' {
				end++
			}
			if end < n && css[end] == ';' {
				end++
			}
			fn(cssRef{start: i, end: end, urlStart: us, urlEnd: ue, isImport: true})
			i = end
		case (c == 'u' || c == 'U') && hasPrefixFold(css[i:], "url(") && (i == 0 || !isIdentChar(css[i-1])):
			s, e, us, ue, next, ok := cssURLToken(css, i)
			if !ok {
				// Unterminated: what follows cannot hold a complete url()
				// either, and rescanning it would be quadratic.
				i = max(next, i+4)
				continue
			}
			fn(cssRef{start: s, end: e, urlStart: us, urlEnd: ue})
			i = next
		case c == '"' || c == '\'':
			_, _, next, ok := cssString(css, i)
			if !ok {
				return
			}
			i = next
		default:
			i++
		}
	}
}

// cssURLToken parses url( ... ) at i. It returns the token span, the URL
// text span (inside quotes if quoted) and where scanning goes on.
func cssURLToken(css []byte, i int) (start, end, us, ue, next int, ok bool) {
	start = i
	j := skipCSSSpace(css, i+4)
	if j < len(css) && (css[j] == '"' || css[j] == '\'') {
		us, ue, j, ok = cssString(css, j)
		if !ok {
			return 0, 0, 0, 0, j, false
		}
		j = skipCSSSpace(css, j)
		if j >= len(css) || css[j] != ')' {
			return 0, 0, 0, 0, j, false
		}
		return start, j + 1, us, ue, j + 1, true
	}
	us = j
	for j < len(css) && css[j] != ')' {
		if css[j] == '\\' {
			j++
		}
		j++
	}
	if j >= len(css) {
		return 0, 0, 0, 0, len(css), false
	}
	ue = j
	for ue > us && isHTMLSpace(css[ue-1]) {
		ue--
	}
	return start, j + 1, us, ue, j + 1, true
}

// cssString parses a quoted string at i: the span of its content and the
// offset after the closing quote.
func cssString(css []byte, i int) (us, ue, next int, ok bool) {
	q := css[i]
	j := i + 1
	for j < len(css) && css[j] != q {
		if css[j] == '\\' {
			j++
		} else if css[j] == '\n' {
			return 0, 0, j, false
		}
		j++
	}
	if j >= len(css) {
		return 0, 0, len(css), false
	}
	return i + 1, j, j + 1, true
}

func skipCSSSpace(css []byte, i int) int {
	for i < len(css) && isHTMLSpace(css[i]) {
		i++
	}
	return i
}

func isIdentChar(c byte) bool {
	return c == '-' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80
}

// nextDecl returns the first "property: value" declaration of style, the
// property lower-cased into buf (nil when longer), and the rest. It is an
// iterator rather than a callback so inline styles, on nearly every tag of
// a marketing email, cost no allocation.
func nextDecl(style []byte, buf *[24]byte) (prop, value, rest []byte, ok bool) {
	for len(style) > 0 {
		decl := style
		if semi := bytes.IndexByte(style, ';'); semi >= 0 {
			decl, style = style[:semi], style[semi+1:]
		} else {
			style = nil
		}
		colon := bytes.IndexByte(decl, ':')
		if colon < 0 {
			continue
		}
		p := bytes.TrimSpace(decl[:colon])
		if len(p) == 0 {
			continue
		}
		return lowerASCII(buf[:], p), bytes.TrimSpace(decl[colon+1:]), style, true
	}
	return nil, nil, nil, false
}

// styleInfo is what an inline style says about visibility and size.
type styleInfo struct {
	hidden bool
	w, h   int // px, -1 when not given in px
}

// readStyle is readStyle(style) through the Rewriter's memo: a campaign's
// inline styles repeat from tag to tag and from copy to copy.
func (j *job) readStyle(style []byte) styleInfo {
	if len(style) == 0 || j.r.noMemo {
		return readStyle(style)
	}
	if si, ok := memo.GetBytes(&j.r.styleMemo, style); ok {
		return si
	}
	si := readStyle(style)
	j.r.styleMemo.Put(memo.String(style), si)
	return si
}

// readStyle interprets the declarations that can hide an element or make
// it a pixel (R1): display:none, visibility:hidden, opacity 0, zero
// max-height, width/height in px.
func readStyle(style []byte) styleInfo {
	si := styleInfo{w: -1, h: -1}
	if len(style) == 0 {
		return si
	}
	var buf [24]byte
	for prop, v, rest, ok := nextDecl(style, &buf); ok; prop, v, rest, ok = nextDecl(rest, &buf) {
		v = trimImportant(v)
		switch string(prop) {
		case "display":
			if asciiEqualFold(v, "none") {
				si.hidden = true
			}
		case "visibility":
			if asciiEqualFold(v, "hidden") || asciiEqualFold(v, "collapse") {
				si.hidden = true
			}
		case "opacity":
			if isZeroLength(v) {
				si.hidden = true
			}
		case "max-height", "max-width":
			if isZeroLength(v) {
				si.hidden = true
			}
		case "width":
			si.w = pxValue(v)
		case "height":
			si.h = pxValue(v)
		}
	}
	return si
}

func trimImportant(v []byte) []byte {
	if i := bytes.IndexByte(v, '!'); i >= 0 {
		v = bytes.TrimSpace(v[:i])
	}
	return v
}

// isZeroLength: "0", "0px", "0.0", "0%", "0em"...
func isZeroLength(v []byte) bool {
	seenDigit := false
	i := 0
	for ; i < len(v); i++ {
		c := v[i]
		if c == '0' {
			seenDigit = true
			continue
		}
		if c == '.' {
			continue
		}
		break
	}
	if !seenDigit {
		return false
	}
	unit := v[i:]
	return len(unit) == 0 || unit[0] == '%' || (unit[0] >= 'a' && unit[0] <= 'z')
}

// pxValue parses "12", "12px", "1.0px"; anything else (%, em, auto) is -1.
func pxValue(v []byte) int {
	n, i, digits := 0, 0, false
	for ; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
		if n < 1<<20 {
			n = n*10 + int(v[i]-'0')
		}
		digits = true
	}
	if !digits {
		return -1
	}
	if i < len(v) && v[i] == '.' {
		for i++; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
		}
	}
	rest := v[i:]
	if len(rest) == 0 || asciiEqualFold(rest, "px") {
		return n
	}
	return -1
}
