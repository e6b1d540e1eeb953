package mailrewrite

import (
	"bytes"
	"net/url"
	"strings"

	"github.com/pixelgate/pixelgate/mailrewrite/rules"
)

// clickHosts are the hosts a message's links go through as click
// redirects, by the rules: a redirect they unwrap or a click tracker they
// name. Newsletter platforms serve the open pixel from the same host, so
// an image there is judged with this in mind (R1).
type clickHosts struct {
	parts []*bodyPart // the message's parts, read once on first need
	done  bool
	hosts map[string]bool
}

// isClickHost reports whether the message's links use host for click
// redirects. The hosts are gathered on the first question, from every
// href of every HTML part, so that an image is judged alike wherever it
// sits relative to the links; most messages never ask.
func (j *job) isClickHost(host string) bool {
	ch := &j.clickHosts
	if !ch.done {
		ch.done = true
		for _, p := range ch.parts {
			if p.html == nil {
				continue
			}
			eachHref(p.html.src, func(val []byte) {
				val = bytes.TrimSpace(val)
				if !isRemote(val) {
					return
				}
				lf := j.factsOf(val)
				if lf.unwrap == "" && !lf.isClick {
					return
				}
				if u, ok := j.r.rules.ParseURL(lf.raw); ok {
					if ch.hosts == nil {
						ch.hosts = map[string]bool{}
					}
					ch.hosts[strings.ToLower(u.Hostname())] = true
				}
			})
		}
	}
	return ch.hosts[strings.ToLower(host)]
}

// eachHref calls f with the value of every href attribute in an HTML
// document, character references decoded. It reads attributes the way the
// tokenizer does (a name after white space, "=", a quoted or unquoted
// value) without building tokens: a cheap pass, made only when an image
// asks.
func eachHref(src []byte, f func(val []byte)) {
	for i := 1; i+5 < len(src); i++ {
		if c := src[i]; (c != 'h' && c != 'H') || !isHTMLSpace(src[i-1]) || !hasPrefixFold(src[i:], "href") {
			continue
		}
		k := skipHTMLSpace(src, i+4)
		if k >= len(src) || src[k] != '=' {
			continue
		}
		k = skipHTMLSpace(src, k+1)
		if k >= len(src) {
			return
		}
		var val []byte
		switch q := src[k]; q {
		case '"', '\'':
			end := bytes.IndexByte(src[k+1:], q)
			if end < 0 {
				return
			}
			val = src[k+1 : k+1+end]
			i = k + 1 + end
		default:
			end := k
			for end < len(src) && !isHTMLSpace(src[end]) && src[end] != '>' {
				end++
			}
			val = src[k:end]
			i = end
		}
		f(attrValue(val))
	}
}

func skipHTMLSpace(src []byte, k int) int {
	for k < len(src) && isHTMLSpace(src[k]) {
		k++
	}
	return k
}

// pixelPath reports whether an image URL's path could be a newsletter
// platform's open pixel: it names an open endpoint or holds an id-shaped
// segment. A path naming a photo or a drawing (.jpg, .webp, .svg...) is
// not one: the platforms serve their pixels as GIF or PNG or without an
// extension, and their hosts also serve the newsletter's photos.
func pixelPath(u *url.URL) bool {
	path := u.EscapedPath()
	if dot := strings.LastIndexByte(path, '.'); dot >= 0 && strings.IndexByte(path[dot:], '/') < 0 && photoExts[strings.ToLower(path[dot+1:])] {
		return false
	}
	return rules.OpenPathShape(u) || idShapedPath(path)
}

var photoExts = map[string]bool{"jpg": true, "jpeg": true, "webp": true, "avif": true, "svg": true}

// idShapedPath reports whether a path holds a segment shaped like an
// opaque message or recipient id, as open pixels carry and content images
// (named by people, or by a CDN's few ids) rarely do:
//   - an opaque token (isTokenValue: at least 16 id characters, letters
//     and digits switching as in random ids, not as in words or dates),
//     a file extension dropped;
//   - a hex string of at least 16 characters (a hash);
//   - a numeric id of at least 4 digits beside a hash of at least 8 hex
//     characters with a letter in it, as two consecutive segments or as
//     two parts of one segment joined by "-", "_" or ".".
func idShapedPath(path string) bool {
	prevNumeric, prevHash := false, false
	for _, seg := range strings.Split(strings.Trim(path, "/"), "/") {
		seg = dropExt(seg)
		numeric, hash := isNumericID(seg), isHash(seg, 8)
		found := isTokenValue(seg) || isHash(seg, 16) || (prevNumeric && hash) || (prevHash && numeric) || numericAndHash(seg)
		if found {
			return true
		}
		prevNumeric, prevHash = numeric, hash
	}
	return false
}

// dropExt drops a file extension of at most four letters (".gif").
func dropExt(seg string) string {
	if i := strings.LastIndexByte(seg, '.'); i > 0 && len(seg)-i <= 5 {
		return seg[:i]
	}
	return seg
}

func isNumericID(s string) bool {
	if len(s) < 4 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isHash: at least min hex digits, with a letter among them (a run of
// digits alone is a number, a date or a size).
func isHash(s string, min int) bool {
	if len(s) < min {
		return false
	}
	letter := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
		case 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
			letter = true
		default:
			return false
		}
	}
	return letter
}

// numericAndHash: one segment made of a numeric id and a hash ("368168-
// 9f86d081"), in either order.
func numericAndHash(seg string) bool {
	for i := 0; i < len(seg); i++ {
		if c := seg[i]; c == '-' || c == '_' || c == '.' {
			a, b := seg[:i], seg[i+1:]
			if (isNumericID(a) && isHash(b, 8)) || (isHash(a, 8) && isNumericID(b)) {
				return true
			}
		}
	}
	return false
}
