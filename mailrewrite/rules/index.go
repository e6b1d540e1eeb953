package rules

import (
	"net/url"
	"slices"
	"strings"
)

// index finds the rules that may apply to a URL with a handful of map
// lookups instead of a loop over every rule: the rewrite runs once per
// recipient at relay speed. Candidates are then checked in full.
//
// Lookup order is also priority order: host suffixes from the longest to
// the shortest, then the host's first label, then path segments of rules
// that apply to any host. Within one bucket, rules with a path or query
// condition come before bare host rules, then file order.
type index struct {
	pats         []*pattern
	bySuffix     map[string][]int32
	byFirstLabel map[string][]int32
	bySegment    map[string][]int32
	always       []int32 // any host, no segments: checked for every URL
	hasWildcard  bool    // some host pattern uses "#": digit-stripped lookups are needed
}

func newIndex(pats []*pattern) *index {
	ix := &index{
		pats:         pats,
		bySuffix:     map[string][]int32{},
		byFirstLabel: map[string][]int32{},
		bySegment:    map[string][]int32{},
	}
	for i, p := range pats {
		pos := int32(i)
		key := strings.ReplaceAll(p.host, "#", "")
		ix.hasWildcard = ix.hasWildcard || p.wildcard
		switch p.kind {
		case hostSuffix, hostExact:
			ix.bySuffix[key] = append(ix.bySuffix[key], pos)
		case hostFirstLabel:
			ix.byFirstLabel[key] = append(ix.byFirstLabel[key], pos)
		case hostAny:
			if len(p.segments) == 0 {
				ix.always = append(ix.always, pos)
			}
			for _, s := range p.segments {
				ix.bySegment[s] = append(ix.bySegment[s], pos)
			}
		}
	}
	for _, m := range []map[string][]int32{ix.bySuffix, ix.byFirstLabel, ix.bySegment} {
		for k, b := range m {
			slices.SortStableFunc(b, func(a, c int32) int { // path-conditioned first
				pa, pc := pats[a].hasPathCondition(), pats[c].hasPathCondition()
				switch {
				case pa && !pc:
					return -1
				case pc && !pa:
					return 1
				}
				return 0
			})
			m[k] = b
		}
	}
	return ix
}

// find returns the position of the first rule matching the URL parts, or -1.
// h must be normalised with normHost.
func (ix *index) find(h, path, rawQuery string) int32 {
	found := int32(-1)
	ix.each(h, path, rawQuery, func(pos int32) bool {
		found = pos
		return false
	})
	return found
}

// each calls f with every rule matching the URL parts, in priority order,
// until f returns false.
func (ix *index) each(h, path, rawQuery string, f func(pos int32) bool) {
	more := true
	try := func(bucket []int32) {
		for _, pos := range bucket {
			if !more {
				return
			}
			if ix.pats[pos].match(h, path, rawQuery) {
				more = f(pos)
			}
		}
	}
	if h != "" {
		for s := h; more; {
			try(ix.bySuffix[s])
			if more && ix.hasWildcard && hasDigit(s) {
				try(lookupStripped(ix.bySuffix, s))
			}
			i := strings.IndexByte(s, '.')
			if i < 0 {
				break
			}
			s = s[i+1:]
		}
		if i := strings.IndexByte(h, '.'); more && i > 0 && len(ix.byFirstLabel) > 0 {
			l := h[:i]
			try(ix.byFirstLabel[l])
			if more && ix.hasWildcard && hasDigit(l) {
				try(lookupStripped(ix.byFirstLabel, l))
			}
		}
	}
	if more && len(ix.bySegment) > 0 {
		eachSegment(path, func(seg string) bool {
			try(ix.bySegment[seg])
			return more
		})
	}
	if more {
		try(ix.always)
	}
}

func hasDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			return true
		}
	}
	return false
}

// lookupStripped looks s up with its digits removed, where "#" patterns
// are filed. The buffer lives here so hosts without digits never pay for it.
func lookupStripped(m map[string][]int32, s string) []int32 {
	var buf [256]byte
	return m[string(stripDigits(buf[:0], s))]
}

func stripDigits(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			dst = append(dst, c)
		}
	}
	return dst
}

// normHost returns the URL's host in lower case without port, brackets or
// a trailing dot. It allocates only when the host has upper-case letters.
func normHost(u *url.URL) string {
	h := strings.TrimSuffix(u.Hostname(), ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// urlParts returns what the patterns look at. The escaped path keeps
// percent-encoded slashes apart from real ones, which matters for tokens.
func urlParts(u *url.URL) (h, path, rawQuery string) {
	return normHost(u), u.EscapedPath(), u.RawQuery
}
