package learn

import (
	"net/url"
	"slices"
	"strings"
)

// Shapes is the learned, read-only view of a campaign's state: what the
// rewrite engine asks about each URL. A nil *Shapes knows nothing. Safe for
// concurrent use.
type Shapes struct {
	byHost map[string][]Shape
	n      int
}

// Shapes returns the learned shapes, nil when none.
func (st *State) Shapes() *Shapes {
	if len(st.shapes) == 0 {
		return nil
	}
	s := &Shapes{byHost: map[string][]Shape{}, n: len(st.shapes)}
	for _, sh := range st.shapes {
		c := Shape{Host: sh.Host, Path: slices.Clone(sh.Path), Parts: slices.Clone(sh.Parts)}
		s.byHost[sh.Host] = append(s.byHost[sh.Host], c)
	}
	return s
}

// Len is the number of learned shapes.
func (s *Shapes) Len() int {
	if s == nil {
		return 0
	}
	return s.n
}

// List returns the learned shapes sorted by host then path, for reports.
func (s *Shapes) List() []Shape {
	if s == nil {
		return nil
	}
	var out []Shape
	for _, l := range s.byHost {
		out = append(out, l...)
	}
	slices.SortFunc(out, func(a, b Shape) int {
		if c := strings.Compare(a.Host, b.Host); c != 0 {
			return c
		}
		return slices.Compare(a.Path, b.Path)
	})
	return out
}

// PerRecipient returns the parts of u that the campaign's copies showed to
// vary per recipient, and ok when there is at least one. The caller takes
// them out with RemoveParts or removes the resource.
func (s *Shapes) PerRecipient(u *url.URL) (parts []Part, ok bool) {
	if s == nil || u == nil || u.Host == "" {
		return nil, false
	}
	cands := s.byHost[strings.ToLower(u.Host)]
	if len(cands) == 0 {
		return nil, false
	}
	sh, _, ok := analyseURL(u)
	if !ok {
		return nil, false
	}
	for _, c := range cands {
		if !slices.Equal(c.Path, sh.path) {
			continue
		}
		for _, p := range c.Parts {
			if sh.has(p) && !slices.ContainsFunc(parts, p.same) {
				parts = append(parts, p)
			}
		}
	}
	return parts, len(parts) > 0
}

// has: the URL of shape sh has part p, masked (a literal word never
// carries the value learnt).
func (sh *shape) has(p Part) bool {
	switch p.Kind {
	case Segment:
		return p.Index < len(sh.path) && strings.HasPrefix(sh.path[p.Index], "*")
	case Query:
		_, found := slices.BinarySearch(sh.names, p.Key)
		return found
	case Bare:
		for _, b := range sh.bareAt {
			if b == p.Index {
				return true
			}
		}
	case Fragment:
		return sh.frag == "#*" || strings.HasPrefix(sh.frag, "#*.")
	}
	return false
}
