// Package factor expresses several copies of one text as a template with
// holes plus each copy's values for the holes.
package factor

import "bytes"

// Template is text with holes: Literals[0] hole 0 Literals[1] ... Literals[n].
type Template struct{ Literals [][]byte }

// Holes is the number of holes.
func (t Template) Holes() int { return len(t.Literals) - 1 }

// Limits bound a factoring.
type Limits struct {
	MaxHoles      int
	MaxValueBytes int
}

// Factor returns a template and each copy's hole values. This first
// version only factors identical copies (no holes).
func Factor(copies [][]byte, lim Limits) (Template, [][][]byte, bool) {
	for _, c := range copies[1:] {
		if !bytes.Equal(c, copies[0]) {
			return Template{}, nil, false
		}
	}
	vals := make([][][]byte, len(copies))
	return Template{Literals: [][]byte{copies[0]}}, vals, true
}
