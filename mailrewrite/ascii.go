package mailrewrite

import "bytes"

// The byte classes and case folds of ASCII the scanners share. Mail headers,
// HTML tag and attribute names and CSS keywords are ASCII and
// case-insensitive, so they are compared here byte by byte, without the
// allocation and Unicode tables of strings.ToLower/EqualFold: the scanners
// call these for every tag and header of every message.

// isSpaceASCII: the ASCII white space strings.TrimSpace takes off.
func isSpaceASCII(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// isHTMLSpace: ASCII white space as HTML defines it (WHATWG HTML "ASCII
// whitespace"), which is also CSS's once its input is preprocessed (CSS
// Syntax §3.3: CR and FF read as newlines). Unlike isSpaceASCII, no \v.
func isHTMLSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' }

func isAlpha(c byte) bool { return 'A' <= c&^0x20 && c&^0x20 <= 'Z' }

func isNameByte(c byte) bool {
	// Only letters are folded: folding every byte would turn CR (0x0d)
	// into '-' and 0x10-0x19 into digits, and `</a` CR LF `>` would not
	// end a link.
	l := c | 0x20
	return 'a' <= l && l <= 'z' || '0' <= c && c <= '9' || c == '-'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

// lowerByte lower-cases an ASCII letter and leaves any other byte as it is.
func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		c += 'a' - 'A'
	}
	return c
}

// lowerASCII lower-cases src into dst without allocating; nil when src is
// longer than dst (such names are never among the ones looked for).
func lowerASCII[T ~string | ~[]byte](dst []byte, src T) []byte {
	if len(src) > len(dst) {
		return nil
	}
	for i := 0; i < len(src); i++ {
		dst[i] = lowerByte(src[i])
	}
	return dst[:len(src)]
}

// asciiEqualFold: b is s (lower-case ASCII), letters in either case.
func asciiEqualFold[T string | []byte](b T, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lowerByte(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// hasPrefixFold: s starts with prefix (lower-case ASCII), letters in either
// case.
func hasPrefixFold[T string | []byte](s T, prefix string) bool {
	return len(s) >= len(prefix) && asciiEqualFold(s[:len(prefix)], prefix)
}

// containsFold reports whether b contains the lower-case ASCII needle,
// ignoring case, without allocating.
func containsFold(b []byte, needle string) bool {
	if len(needle) == 0 {
		return true
	}
	// Search for the needle's last byte when it is not a letter (the "("
	// of "url("): it is rare in styles, so most calls are one IndexByte.
	last := needle[len(needle)-1]
	if !isAlpha(last) {
		for i := len(needle) - 1; i < len(b); {
			k := bytes.IndexByte(b[i:], last)
			if k < 0 {
				return false
			}
			i += k
			if asciiEqualFold(b[i+1-len(needle):i+1], needle) {
				return true
			}
			i++
		}
		return false
	}
	first, firstUp := needle[0], needle[0]
	if 'a' <= first && first <= 'z' {
		firstUp = first - ('a' - 'A')
	}
	for i := 0; i+len(needle) <= len(b); i++ {
		if (b[i] == first || b[i] == firstUp) && asciiEqualFold(b[i:i+len(needle)], needle) {
			return true
		}
	}
	return false
}
