// Package learn finds the URL parts that vary per recipient within one
// campaign, by comparing the copies of it that different recipients
// receive. A token that no rule knows (a per-recipient value on an ordinary
// content image of the sender's own domain, a short subscriber id on a
// link) still shows itself by differing between two copies of the same
// email: what differs between recipients identifies them (R1, R12).
//
// The package is pure apart from Store, which keeps the learned state of a
// campaign in consent.SharedKV so that every relay replica shares it. What
// it keeps are URL shapes (host, path template, which parts vary), never
// the varying values themselves (R6, R8): values of earlier copies are
// remembered only as short keyed fingerprints, enough to see a difference.
package learn

import (
	"strconv"
	"strings"
)

// Resource is one URL of a copy of an email, in document order: a remote
// resource (an image, a stylesheet) or a link.
type Resource struct {
	URL string
	// Carrier is where the URL sits, as the rewrite engine names it ("img",
	// "a", "style-attr" …). Only URLs of the same carrier are aligned.
	Carrier string
}

// PartKind says which component of a URL a Part is.
type PartKind uint8

const (
	// Segment: path segment Index (0 = the first after the host).
	Segment PartKind = iota + 1
	// Query: the value of every query parameter named Key.
	Query
	// Bare: the query item at position Index that has no usable name (the
	// whole item is the value, as in "/d?o0c3tol00bmx…").
	Bare
	// Fragment: everything after '#'.
	Fragment
)

// Part is one component of a URL that may carry a per-recipient value.
type Part struct {
	Kind  PartKind `json:"kind"`
	Index int      `json:"index,omitempty"`
	Key   string   `json:"key,omitempty"`
	// Payload: the value carries more than who the recipient is: it also
	// differs between the URLs of one template within a copy, or is longer
	// than any id. That is how a click redirect's token looks (the
	// destination is encoded in it), so a link without it is broken; an
	// image is not.
	Payload bool `json:"payload,omitempty"`
}

// same: p and q name the same component.
func (p Part) same(q Part) bool { return p.Kind == q.Kind && p.Index == q.Index && p.Key == q.Key }

// String is how reports name the part: "path[2]", "query:e", "query[0]",
// "fragment", with "(payload)" after a Payload part.
func (p Part) String() string {
	s := p.name()
	if p.Payload {
		s += "(payload)"
	}
	return s
}

func (p Part) name() string {
	switch p.Kind {
	case Segment:
		return "path[" + strconv.Itoa(p.Index) + "]"
	case Query:
		return "query:" + p.Key
	case Bare:
		return "query[" + strconv.Itoa(p.Index) + "]"
	case Fragment:
		return "fragment"
	}
	return "part?"
}

// PartsString joins parts for a report ("query:e,path[3]").
func PartsString(parts []Part) string {
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// RemoveParts returns raw without the given parts: removed path segments
// take their '/' with them, removed query items their '&', a removed
// fragment its '#'. Every other byte stays as it was, so a URL that loses
// nothing comes back identical. Parts that raw does not have are ignored.
func RemoveParts(raw string, parts []Part) string {
	if len(parts) == 0 {
		return raw
	}
	sp := splitRaw(raw)
	changed := false
	if sp.hasFrag && hasKind(parts, Fragment) {
		sp.hasFrag, sp.frag = false, ""
		changed = true
	}
	if sp.hasQuery {
		items := strings.Split(sp.query, "&")
		kept := items[:0:0]
		for i, it := range items {
			if queryItemRemoved(i, it, parts) {
				changed = true
				continue
			}
			kept = append(kept, it)
		}
		sp.query = strings.Join(kept, "&")
		if len(kept) == 0 {
			sp.hasQuery = false
		}
	}
	if sp.path != "" {
		segs := pathSegments(sp.path)
		kept := segs[:0:0]
		for i, s := range segs {
			if hasSegment(parts, i) {
				changed = true
				continue
			}
			kept = append(kept, s)
		}
		sp.path = "/" + strings.Join(kept, "/")
	}
	if !changed {
		return raw
	}
	return sp.String()
}

func hasKind(parts []Part, k PartKind) bool {
	for _, p := range parts {
		if p.Kind == k {
			return true
		}
	}
	return false
}

func hasSegment(parts []Part, i int) bool {
	for _, p := range parts {
		if p.Kind == Segment && p.Index == i {
			return true
		}
	}
	return false
}

func queryItemRemoved(i int, item string, parts []Part) bool {
	k, _, hasEq := strings.Cut(item, "=")
	for _, p := range parts {
		switch {
		case p.Kind == Bare && p.Index == i:
			return true
		case p.Kind == Query && hasEq && queryName(k) == p.Key:
			return true
		}
	}
	return false
}
