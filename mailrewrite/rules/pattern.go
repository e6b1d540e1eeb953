package rules

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// patternJSON is the "where" part shared by every rule in both files: which
// URLs a rule is about. See README.md in this directory for the syntax.
type patternJSON struct {
	// Host: "example.com" is that host and every subdomain; "=host" is
	// exactly that host; "click.*" is any host whose first label is click;
	// "*" is any host (segments then required). In a label, "#" stands for
	// zero or more digits ("cmail#.com" is cmail1.com, cmail20.com, …).
	Host string `json:"host"`
	// PathPrefix: the escaped path starts with it.
	PathPrefix string `json:"path_prefix,omitempty"`
	// PathRegexp: RE2 expression matched against the escaped path.
	PathRegexp string `json:"path_regexp,omitempty"`
	// Segments: the path contains at least one of these whole segments.
	// It is also what indexes a rule whose host is "*".
	Segments []string `json:"segments,omitempty"`
	// Query: each named parameter is present; a non-empty value is an RE2
	// expression its raw (still percent-encoded) value must match.
	Query map[string]string `json:"query,omitempty"`
	// RawQueryRegexp: RE2 expression matched against the whole raw query.
	RawQueryRegexp string `json:"raw_query_regexp,omitempty"`
}

type hostKind uint8

const (
	hostSuffix     hostKind = iota // the host and its subdomains
	hostExact                      // exactly the host
	hostFirstLabel                 // "label.*"
	hostAny                        // "*"
)

type queryCond struct {
	name string
	re   *regexp.Regexp // nil: presence is enough
}

// pattern is a compiled patternJSON.
type pattern struct {
	host       string // lower case, without the "=" or ".*" markers
	kind       hostKind
	wildcard   bool // host contains "#"
	pathPrefix string
	pathRE     *regexp.Regexp
	segments   []string
	query      []queryCond
	rawQueryRE *regexp.Regexp
}

// compilePattern compiles p. With bareAnyHost, host "*" may come without
// segments (link rules indexed otherwise); tracker rules must be indexable.
func compilePattern(p patternJSON, bareAnyHost bool) (pattern, error) {
	var c pattern
	h := p.Host
	switch {
	case h == "*":
		c.kind = hostAny
	case strings.HasPrefix(h, "="):
		c.kind, c.host = hostExact, h[1:]
	case strings.HasSuffix(h, ".*"):
		c.kind, c.host = hostFirstLabel, h[:len(h)-2]
	default:
		c.kind, c.host = hostSuffix, h
	}
	if c.kind != hostAny {
		if err := validHostPattern(c.host, c.kind == hostFirstLabel); err != nil {
			return c, fmt.Errorf("host %q: %w", h, err)
		}
		c.wildcard = strings.Contains(c.host, "#")
	}
	if p.PathPrefix != "" && !strings.HasPrefix(p.PathPrefix, "/") {
		return c, fmt.Errorf("path_prefix %q must start with /", p.PathPrefix)
	}
	c.pathPrefix = p.PathPrefix
	if p.PathRegexp != "" {
		re, err := regexp.Compile(p.PathRegexp)
		if err != nil {
			return c, fmt.Errorf("path_regexp: %w", err)
		}
		c.pathRE = re
	}
	for _, s := range p.Segments {
		if s == "" || strings.Contains(s, "/") {
			return c, fmt.Errorf("segment %q must be non-empty and without /", s)
		}
	}
	c.segments = p.Segments
	// Sorted so that compiled rules behave the same whatever the JSON map
	// order; the match is a conjunction, so order only matters for speed.
	names := make([]string, 0, len(p.Query))
	for n := range p.Query {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if n == "" {
			return c, fmt.Errorf("query: empty parameter name")
		}
		qc := queryCond{name: n}
		if v := p.Query[n]; v != "" {
			re, err := regexp.Compile(v)
			if err != nil {
				return c, fmt.Errorf("query %q: %w", n, err)
			}
			qc.re = re
		}
		c.query = append(c.query, qc)
	}
	if p.RawQueryRegexp != "" {
		re, err := regexp.Compile(p.RawQueryRegexp)
		if err != nil {
			return c, fmt.Errorf("raw_query_regexp: %w", err)
		}
		c.rawQueryRE = re
	}
	if c.kind == hostAny && len(c.segments) == 0 && !bareAnyHost {
		return c, fmt.Errorf(`host "*" needs segments (they index the rule and keep it narrow)`)
	}
	return c, nil
}

// hasPathCondition reports whether the pattern says anything about the
// path or query, i.e. is more than a host.
func (p *pattern) hasPathCondition() bool {
	return p.pathPrefix != "" || p.pathRE != nil || len(p.segments) > 0 || len(p.query) > 0 || p.rawQueryRE != nil
}

// validHostPattern accepts lower-case DNS labels where each label may hold
// one "#" digit wildcard.
func validHostPattern(h string, firstLabelOnly bool) error {
	if h == "" || len(h) > 253 {
		return fmt.Errorf("empty or too long")
	}
	labels := strings.Split(h, ".")
	if firstLabelOnly && len(labels) != 1 {
		return fmt.Errorf(`"label.*" takes a single label`)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("empty or too long label")
		}
		if strings.Count(l, "#") > 1 {
			return fmt.Errorf("label %q: at most one #", l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '#' || c == '_') {
				return fmt.Errorf("label %q: only a-z 0-9 - _ # (lower case)", l)
			}
		}
	}
	return nil
}

// matchHost reports whether the normalised host h matches the pattern.
func (p *pattern) matchHost(h string) bool {
	switch p.kind {
	case hostAny:
		return true
	case hostFirstLabel:
		i := strings.IndexByte(h, '.')
		return i > 0 && labelMatch(p.host, h[:i])
	case hostExact:
		return hostMatchFrom(p.host, h, true)
	default:
		return hostMatchFrom(p.host, h, false)
	}
}

// hostMatchFrom compares pattern and host label by label from the right.
// Without exact, extra labels on the left of h are allowed (subdomains).
func hostMatchFrom(pat, h string, exact bool) bool {
	for {
		pi := strings.LastIndexByte(pat, '.')
		hi := strings.LastIndexByte(h, '.')
		if !labelMatch(pat[pi+1:], h[hi+1:]) {
			return false
		}
		if pi < 0 {
			return !exact || hi < 0
		}
		if hi < 0 {
			return false
		}
		pat, h = pat[:pi], h[:hi]
	}
}

// labelMatch matches one label where "#" in the pattern is [0-9]*.
func labelMatch(pl, hl string) bool {
	i := strings.IndexByte(pl, '#')
	if i < 0 {
		return pl == hl
	}
	pre, suf := pl[:i], pl[i+1:]
	if len(hl) < len(pre)+len(suf) || hl[:len(pre)] != pre || hl[len(hl)-len(suf):] != suf {
		return false
	}
	for _, c := range []byte(hl[len(pre) : len(hl)-len(suf)]) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// matchRest checks everything but the host.
func (p *pattern) matchRest(path, rawQuery string) bool {
	if p.pathPrefix != "" && !strings.HasPrefix(path, p.pathPrefix) {
		return false
	}
	if len(p.segments) > 0 && !hasAnySegment(path, p.segments) {
		return false
	}
	for _, q := range p.query {
		v, ok := queryValue(rawQuery, q.name)
		if !ok || (q.re != nil && !q.re.MatchString(v)) {
			return false
		}
	}
	if p.rawQueryRE != nil && !p.rawQueryRE.MatchString(rawQuery) {
		return false
	}
	if p.pathRE != nil && !p.pathRE.MatchString(path) {
		return false
	}
	return true
}

func (p *pattern) match(h, path, rawQuery string) bool {
	return p.matchHost(h) && p.matchRest(path, rawQuery)
}

func hasAnySegment(path string, segs []string) bool {
	found := false
	eachSegment(path, func(s string) bool {
		for _, want := range segs {
			if s == want {
				found = true
				return false
			}
		}
		return true
	})
	return found
}

// eachSegment calls f with every non-empty path segment, left to right,
// until f returns false. It does not allocate.
func eachSegment(path string, f func(string) bool) {
	for path != "" {
		i := strings.IndexByte(path, '/')
		var seg string
		if i < 0 {
			seg, path = path, ""
		} else {
			seg, path = path[:i], path[i+1:]
		}
		if seg != "" && !f(seg) {
			return
		}
	}
}

// queryValue returns the raw value of the first parameter called name in a
// raw query, without decoding or allocating. A parameter without "=" has
// the empty value.
func queryValue(rawQuery, name string) (string, bool) {
	value, found := "", false
	eachQueryPair(rawQuery, func(k, v string) bool {
		if k == name {
			value, found = v, true
		}
		return !found
	})
	return value, found
}

// eachQueryPair calls f with the raw name and value of every "&"-separated
// pair of a raw query, until f returns false. It does not allocate.
func eachQueryPair(rawQuery string, f func(name, value string) bool) {
	for rawQuery != "" {
		var pair string
		if i := strings.IndexByte(rawQuery, '&'); i >= 0 {
			pair, rawQuery = rawQuery[:i], rawQuery[i+1:]
		} else {
			pair, rawQuery = rawQuery, ""
		}
		k, v, _ := strings.Cut(pair, "=")
		if !f(k, v) {
			return
		}
	}
}
