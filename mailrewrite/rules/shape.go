package rules

import (
	"net/url"
	"strings"
)

// Generic open-endpoint shapes, for trackers on hosts no rule names (an
// ESP's custom tracking domain, a sender's own server). A shape alone is
// not enough: the URL must also carry a per-message token, so that a logo
// at /img/open.png stays content.

// openPairs are consecutive path segments that name an open endpoint.
var openPairs = [][2]string{
	{"wf", "open"},    // SendGrid and everything built on it
	{"track", "open"}, // many
	{"track", "open.php"},
	{"e", "o"},   // Customer.io
	{"e2t", "o"}, // HubSpot, Emarsys
	{"tr", "op"}, // Brevo
	{"ss", "o"},  // SendGrid v3, beehiiv
	{"s", "eo"},  // Iterable
	{"open", "log"},
	{"mctx", "opens"},
	{"email", "open"},
	{"mail", "open"},
}

// openFirst are first path segments that, followed by a token segment, are
// an open endpoint (/o/<token>: Mailgun, ConvertKit, Substack; /I0/: SES;
// /track/<token>: senders' own servers). Only in first position:
// /v0/b/bucket/o/<object> is Firebase storage.
var openFirst = map[string]bool{"o": true, "i0": true, "q": true, "op": true, "oo": true, "open": true, "track": true, "trk": true}

// openLast are last path segments that name an open endpoint.
var openLast = map[string]bool{
	"open": true, "open.php": true, "open.aspx": true, "open.html": true, "open.jsp": true,
	"open.gif": true, "open.png": true, "opened": true, "o.gif": true, "o.png": true,
	"ut.php": true, "on.jsp": true, "track.gif": true, "trackopen": true,
	"pixel.gif": true, "pixel.png": true, "beacon.gif": true, "openrate": true,
	"emailopen": true, "email_open": true, "mailopen": true,
}

// OpenEndpointShape reports whether u has a generic open-endpoint path
// shape and carries a per-message token (a long random-looking path segment
// or query value).
func (s *Set) OpenEndpointShape(u *url.URL) bool {
	if !webURL(u) {
		return false
	}
	path := u.EscapedPath()
	if bareEndpoint(path) {
		return true
	}
	if !hasOpenShape(path) {
		return false
	}
	tok := false
	eachSegment(path, func(seg string) bool {
		// An unfilled merge field ("[open]", "{{id}}") stands where the
		// sending tool meant a per-message token.
		tok = isToken(seg) || isMergeField(seg)
		return !tok
	})
	if tok {
		return true
	}
	eachQueryPair(u.RawQuery, func(_, v string) bool {
		tok = isToken(v)
		return !tok
	})
	return tok
}

// bareEndpoints are whole paths that name an image endpoint by what it
// does: an image at https://host/track serves nothing a reader looks at,
// whatever its query.
var bareEndpoints = map[string]bool{"track": true, "open": true, "opened": true, "trackopen": true, "track-open": true, "pixel": true}

func bareEndpoint(path string) bool {
	p := strings.Trim(path, "/")
	return p != "" && strings.IndexByte(p, '/') < 0 && inFolded(bareEndpoints, p)
}

// isMergeField: a template placeholder left unfilled, as written by the
// common template languages ([open], {{open}}, *|OPEN|*, %%open%%, ##open##),
// raw or percent-encoded.
func isMergeField(seg string) bool {
	if strings.IndexByte(seg, '%') >= 0 {
		if d, err := url.PathUnescape(seg); err == nil {
			seg = d
		}
	}
	if len(seg) < 3 {
		return false
	}
	for _, p := range [][2]string{{"[", "]"}, {"{{", "}}"}, {"{", "}"}, {"*|", "|*"}, {"%%", "%%"}, {"##", "##"}} {
		if len(seg) > len(p[0])+len(p[1]) && strings.HasPrefix(seg, p[0]) && strings.HasSuffix(seg, p[1]) {
			return true
		}
	}
	return false
}

func hasOpenShape(path string) bool {
	var prev, first, last string
	pair, n := false, 0
	eachSegment(path, func(seg string) bool {
		n++
		if n == 1 {
			first = seg
		}
		// Names in openPairs are short: long segments (most of a content
		// path) are skipped without comparing.
		if len(seg) <= maxPairLen && len(prev) <= maxPairLen {
			for _, p := range openPairs {
				if strings.EqualFold(prev, p[0]) && strings.EqualFold(seg, p[1]) {
					pair = true
					return false
				}
			}
		}
		prev, last = seg, seg
		return true
	})
	if pair {
		return true
	}
	return n >= 2 && inFolded(openFirst, first) || n >= 1 && inFolded(openLast, last)
}

// maxPairLen is the longest name in openPairs.
const maxPairLen = 8

// inFolded looks s up in a map of lower-case names without allocating.
func inFolded(m map[string]bool, s string) bool {
	var buf [16]byte
	if len(s) > len(buf) {
		return false // no name in the maps is that long
	}
	b := buf[:len(s)]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return m[string(b)]
}

// IsToken reports whether a URL component looks like a per-message or
// per-recipient identifier (isToken): the rewrite asks it of the path
// segments of images that only their markup makes suspect.
func IsToken(s string) bool { return isToken(s) }

// isToken reports whether s looks like a per-message identifier rather
// than a name a person chose: long enough, only token characters, and
// letters and digits interleaved (names have few alternations: logo2023,
// banner_v2; tokens many: p9unqonzo5iqumomk5uq, 6496a8003f).
func isToken(s string) bool {
	if i := strings.LastIndexByte(s, '.'); i > 0 && len(s)-i <= 5 {
		s = s[:i] // drop a file extension such as .gif
	}
	if len(s) < 10 {
		return false
	}
	alternations, letters, digits := 0, 0, 0
	prevClass := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		class := 0
		switch {
		case c >= '0' && c <= '9':
			class, digits = 1, digits+1
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			class, letters = 2, letters+1
		case c == '-' || c == '_' || c == '=' || c == '~' || c == '.' || c == '%':
			continue
		default:
			return false
		}
		if prevClass != 0 && class != prevClass {
			alternations++
		}
		prevClass = class
	}
	return letters > 0 && digits > 0 && alternations >= 3
}

// OpenPathShape reports whether u's path names an open endpoint (the
// shapes of OpenEndpointShape) whether or not it carries a token: on a
// host the message uses for tracked links, the name alone is evidence.
func OpenPathShape(u *url.URL) bool {
	if !webURL(u) {
		return false
	}
	path := u.EscapedPath()
	return bareEndpoint(path) || hasOpenShape(path)
}

// InnerImage returns the image a tracking wrapper's URL carries: the
// destination of a redirect the link rules unwrap, or else the one
// absolute http(s) URL among the query's values when it names an image
// file. A query with several URLs is ambiguous and gives none: the
// wrapper is then removed whole rather than guessed at.
func (s *Set) InnerImage(u *url.URL) (*url.URL, bool) {
	if !webURL(u) {
		return nil, false
	}
	if d, _, ok := s.Unwrap(u); ok {
		return d, true
	}
	var inner *url.URL
	n := 0
	eachQueryPair(u.RawQuery, func(_, v string) bool {
		if !strings.HasPrefix(v, "http") {
			return true
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return true
		}
		if d, ok := plainDest(dv); ok {
			inner, n = d, n+1
		}
		return n < 2
	})
	if n != 1 || !ImageFile(inner.EscapedPath()) {
		return nil, false
	}
	return inner, true
}

// imageExts are the file extensions of images a mail client shows.
var imageExts = map[string]bool{"png": true, "jpg": true, "jpeg": true, "gif": true, "webp": true, "svg": true, "bmp": true, "ico": true, "avif": true}

// ImageFile reports whether an escaped URL path names an image file by
// its extension.
func ImageFile(path string) bool {
	dot := strings.LastIndexByte(path, '.')
	if dot < 0 || strings.IndexByte(path[dot:], '/') >= 0 {
		return false
	}
	return inFolded(imageExts, path[dot+1:])
}
