package learn

import (
	"net/url"
	"sort"
	"strings"
)

// Bounds on what one URL may look like to be learnt from. A URL beyond
// them is simply not learnt from: other rules still apply to it.
const (
	maxHostLen  = 253 // RFC 1035 §2.3.4
	maxSegments = 16
	maxNameLen  = 32
	maxQuery    = 32 // query items
	// literalMax: a path segment or bare query item at least this long is
	// masked (may vary); shorter ones without digits are literal words of
	// the template, so a template holds no long value.
	literalMax = 12
)

// rawURL is a URL cut into its components without any decoding, so that
// removing one component leaves the others byte-identical.
type rawURL struct {
	prefix   string // scheme and authority: "https://host:port"
	path     string // "" or starting with '/'
	query    string
	frag     string
	hasQuery bool
	hasFrag  bool
}

func splitRaw(raw string) rawURL {
	var r rawURL
	rest := raw
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		r.frag, r.hasFrag = rest[i+1:], true
		rest = rest[:i]
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		r.query, r.hasQuery = rest[i+1:], true
		rest = rest[:i]
	}
	authStart := 0
	if i := strings.Index(rest, "//"); i >= 0 {
		authStart = i + 2
	}
	if i := strings.IndexByte(rest[authStart:], '/'); i >= 0 {
		r.prefix, r.path = rest[:authStart+i], rest[authStart+i:]
	} else {
		r.prefix = rest
	}
	return r
}

func (r rawURL) String() string {
	var b strings.Builder
	b.Grow(len(r.prefix) + len(r.path) + len(r.query) + len(r.frag) + 2)
	b.WriteString(r.prefix)
	b.WriteString(r.path)
	if r.hasQuery {
		b.WriteByte('?')
		b.WriteString(r.query)
	}
	if r.hasFrag {
		b.WriteByte('#')
		b.WriteString(r.frag)
	}
	return b.String()
}

// pathSegments splits an escaped path after its leading '/': "/a/b/" is
// ["a", "b", ""]; Part.Index counts in this list.
func pathSegments(p string) []string {
	return strings.Split(strings.TrimPrefix(p, "/"), "/")
}

// queryName decodes a query parameter name; an undecodable one stays raw.
func queryName(k string) string {
	if !strings.ContainsAny(k, "%+") {
		return k
	}
	if d, err := url.QueryUnescape(k); err == nil {
		return d
	}
	return k
}

// value is one variable component of a URL and what it holds.
type value struct {
	part Part
	v    string
}

// shape is a URL with its variable components masked: what stays the same
// between two recipients' copies of one link or image.
type shape struct {
	host  string
	path  []string // literal segments, "*" or "*.ext" where masked
	names []string // query parameter names, sorted, once each
	bare  []string // query items without a usable name, in order: literal or mask
	// bareAt: positions in the query of the masked bare items.
	bareAt []int
	frag   string // "" none, "#" + literal, or "#*"
}

// key is the alignment key of a shape: equal keys are the same template.
func (s *shape) key(carrier string) string {
	var b strings.Builder
	b.WriteString(carrier)
	b.WriteByte(0)
	b.WriteString(s.host)
	b.WriteByte(0)
	b.WriteString(strings.Join(s.path, "/"))
	b.WriteByte(0)
	b.WriteString(strings.Join(s.names, "&"))
	b.WriteByte(0)
	b.WriteString(strings.Join(s.bare, "&"))
	b.WriteByte(0)
	b.WriteString(s.frag)
	return b.String()
}

// analyse parses a URL into its shape and its variable values (masked path
// segments and bare items, every named query value, a masked fragment), in
// a canonical order that depends only on the shape. ok is false for URLs
// that are not http(s) or exceed the bounds. Components are taken from the
// raw string so that Part indexes are those RemoveParts uses.
func analyse(raw string) (s shape, vals []value, ok bool) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || !learnable(u) {
		return s, nil, false
	}
	return analyseParts(u.Host, splitRaw(raw))
}

// analyseURL is analyse for a parsed URL.
func analyseURL(u *url.URL) (s shape, vals []value, ok bool) {
	if !learnable(u) {
		return s, nil, false
	}
	r := rawURL{path: u.EscapedPath(), query: u.RawQuery, hasQuery: u.RawQuery != "" || u.ForceQuery}
	if u.Fragment != "" || u.RawFragment != "" {
		r.frag, r.hasFrag = u.EscapedFragment(), true
	}
	return analyseParts(u.Host, r)
}

func learnable(u *url.URL) bool {
	if u.Host == "" || u.User != nil {
		return false
	}
	sc := strings.ToLower(u.Scheme)
	return sc == "http" || sc == "https" || sc == ""
}

func analyseParts(host string, sp rawURL) (s shape, vals []value, ok bool) {
	s.host = strings.ToLower(host)
	if len(s.host) > maxHostLen {
		return s, nil, false
	}
	if sp.path != "" {
		segs := pathSegments(sp.path)
		if len(segs) > maxSegments {
			return s, nil, false
		}
		s.path = make([]string, len(segs))
		for i, seg := range segs {
			m, masked := mask(seg)
			s.path[i] = m
			if masked {
				vals = append(vals, value{Part{Kind: Segment, Index: i}, seg})
			}
		}
	}
	if sp.hasQuery && sp.query != "" {
		items := strings.Split(sp.query, "&")
		if len(items) > maxQuery {
			return s, nil, false
		}
		named := map[string][]string{}
		for i, it := range items {
			k, v, hasEq := strings.Cut(it, "=")
			name := queryName(k)
			if hasEq && niceName(name) {
				named[name] = append(named[name], v)
				continue
			}
			m, masked := mask(it)
			s.bare = append(s.bare, m)
			if masked {
				s.bareAt = append(s.bareAt, i)
				vals = append(vals, value{Part{Kind: Bare, Index: i}, it})
			}
		}
		s.names = make([]string, 0, len(named))
		for n := range named {
			s.names = append(s.names, n)
		}
		sort.Strings(s.names)
		for _, n := range s.names {
			vals = append(vals, value{Part{Kind: Query, Key: n}, strings.Join(named[n], "\x00")})
		}
	}
	if sp.hasFrag {
		m, masked := mask(sp.frag)
		s.frag = "#" + m
		if masked {
			vals = append(vals, value{Part{Kind: Fragment}, sp.frag})
		}
	}
	return s, vals, true
}

// niceName: a parameter name that reads as a name, not as a value.
func niceName(n string) bool {
	if n == "" || len(n) > maxNameLen {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '_' || c == '-' || c == '.' || c == '[' || c == ']':
		default:
			return false
		}
	}
	return true
}

// mask returns the template form of a path segment, bare query item or
// fragment: "*" (keeping a file extension: "*.png") when it may hold a
// value, the segment itself when it is a short word. A value can only hide
// in what is masked, so only masked components are ever compared.
func mask(s string) (string, bool) {
	if len(s) < literalMax && !strings.ContainsAny(s, "0123456789%=+~*") {
		return s, false
	}
	if i := strings.LastIndexByte(s, '.'); i > 0 && len(s)-i-1 >= 1 && len(s)-i-1 <= 4 && isLetters(s[i+1:]) {
		return "*." + strings.ToLower(s[i+1:]), true
	}
	return "*", true
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return s != ""
}

// identifierLike: a value that can name a person: a number of five digits
// or more, or an opaque string mixing letters and digits, not words. Two
// copies that differ in such a value differ per recipient; two copies that
// differ in words ("spring-sale" vs "summer-sale", a language code) show
// personalised content, which is not learnt as an identifier.
func identifierLike(v string) bool {
	n := len(v)
	if n < 5 {
		return false
	}
	digits, letters := 0, 0
	for i := 0; i < n; i++ {
		c := v[i]
		switch {
		case '0' <= c && c <= '9':
			digits++
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			letters++
		}
	}
	switch {
	case digits == n:
		return true
	case wordy(v):
		return false
	case n >= 8 && digits > 0 && letters > 0:
		return true
	}
	return n >= 20 && letters > 0
}

// wordy: at least half of v is made of alphabetic words of three letters
// or more, separated by punctuation, as in slugs and file names.
func wordy(v string) bool {
	words, parts := 0, 0
	for _, w := range strings.FieldsFunc(v, func(r rune) bool {
		return r == '-' || r == '_' || r == '.' || r == '+' || r == '/' || r == ' '
	}) {
		parts++
		if len(w) >= 3 && isLetters(w) {
			words += len(w)
		}
	}
	return parts >= 2 && words*2 >= len(v)
}
