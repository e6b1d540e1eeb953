// Package factor writes N copies of one content, which differ from each
// other at a few places, as one template with holes plus, for each copy,
// the value of each hole.
//
// The ESP API front rewrites a content once per recipient: pixels stripped
// or replaced by pixelgate's own (R1), per-recipient token URLs in links and
// in the "manage open tracking" footer (R3, R6). To keep one client API call
// one upstream call, it sends the template once and the values as the ESP's
// per-recipient substitutions (SendGrid personalization substitutions,
// Mailgun recipient-variables).
//
// Factor is exact or refuses: it answers ok=true only after checking that
// filling the template with each copy's values gives that copy back byte for
// byte, so a wrong alignment can never hand one recipient another
// recipient's token (R6) or a pixel that recipient did not consent to (R1).
// The caller falls back to one upstream call per recipient on ok=false.
//
// The package is pure (standard library only, no I/O) and its work is
// bounded by a constant times the size of its input, so a client cannot
// make the front burn CPU with copies that do not factor.
package factor

import (
	"bytes"
	"cmp"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Template is text with holes: Literals[0] hole 0 Literals[1] hole 1 ...
// Literals[n]. A template made by Factor has len(Literals) = holes+1 and a
// non-empty literal between any two holes.
type Template struct {
	Literals [][]byte
}

// Holes is the number of holes of t.
func (t Template) Holes() int {
	if len(t.Literals) == 0 {
		return 0
	}
	return len(t.Literals) - 1
}

// Fill returns t with hole i replaced by values[i]. It panics when
// len(values) != t.Holes(): a wrong count is a programming error, and
// guessing would put a value in the wrong place.
func (t Template) Fill(values [][]byte) []byte {
	return t.AppendFill(nil, values)
}

// AppendFill appends t filled with values (as Fill) to dst.
func (t Template) AppendFill(dst []byte, values [][]byte) []byte {
	if len(values) != t.Holes() {
		panic("factor: " + strconv.Itoa(len(values)) + " values for a template with " + strconv.Itoa(t.Holes()) + " holes")
	}
	n := 0
	for _, l := range t.Literals {
		n += len(l)
	}
	for _, v := range values {
		n += len(v)
	}
	dst = slices.Grow(dst, n)
	for i, l := range t.Literals {
		dst = append(dst, l...)
		if i < len(values) {
			dst = append(dst, values[i]...)
		}
	}
	return dst
}

// Limits bound what Factor may answer; they are the ESP's caps on
// substitutions.
type Limits struct {
	// MaxHoles is the most holes the template may have. Zero allows only
	// identical copies.
	MaxHoles int
	// MaxValueBytes is the most bytes one copy's values may total.
	MaxValueBytes int
}

// Factor returns a template and, for each copy, the value of each hole,
// such that t.Fill(values[i]) equals copies[i] byte for byte for every i;
// it checks this before answering ok=true. Identical copies, a single copy
// and no copies give a template without holes.
//
// ok=false when the factoring it finds exceeds lim, or when its search
// gives up: a copy more than 2·MaxValueBytes tokens away from the first
// copy, or more work than a constant times the input size. Holes are cut at
// token boundaries (markup, URL and whitespace punctuation) and then
// narrowed to the bytes that differ, never inside a UTF-8 sequence, so a
// hole is a token of a URL or a pixel's tag rather than the paragraph
// around it, and every value is valid UTF-8 when the copies are.
//
// Literals and values are sub-slices of the copies, capped at their length
// (an append to one never writes into a copy); they are valid as long as
// the copies are not modified.
func Factor(copies [][]byte, lim Limits) (t Template, values [][][]byte, ok bool) {
	if len(copies) == 0 {
		return Template{Literals: [][]byte{{}}}, [][][]byte{}, true
	}
	ref := copies[0]
	al := aligner{maxEdits: 2 * min(max(lim.MaxValueBytes, 0), 1<<40)}
	// edits[starts[i-1]:starts[i]] are copy i's edits against copy 0, in order.
	var edits []edit
	starts := make([]int, len(copies))
	for i := 1; i < len(copies); i++ {
		var ok bool
		if edits, ok = al.align(ref, copies[i], edits); !ok {
			return Template{}, nil, false
		}
		starts[i] = len(edits)
	}
	return assemble(copies, edits, starts, lim)
}

// edit says that copy 0's bytes [as, ae) are the copy's bytes [bs, be);
// as == ae is an insertion.
type edit struct{ as, ae, bs, be int }

// span is the bytes [s, e) of one copy.
type span struct{ s, e int }

// assemble turns each copy's edits against copy 0 into the template and
// the values, and verifies them. It trusts nothing of edits: the final
// check decides, so that a fault in the alignment refuses instead of
// sending a recipient a wrong copy (R1, R6).
func assemble(copies [][]byte, edits []edit, starts []int, lim Limits) (Template, [][][]byte, bool) {
	ref := copies[0]
	// A hole is every stretch of copy 0 that some copy's edit touches.
	// Edits that overlap or touch share a hole, so the bytes between two
	// holes are equal in every copy and every copy's edit lies in exactly
	// one hole.
	holes := make([]span, len(edits))
	for j, e := range edits {
		holes[j] = span{e.as, e.ae}
	}
	slices.SortFunc(holes, func(p, q span) int { return cmp.Compare(p.s, q.s) })
	merged := holes[:0]
	for _, h := range holes {
		if n := len(merged); n > 0 && h.s <= merged[n-1].e {
			merged[n-1].e = max(merged[n-1].e, h.e)
			continue
		}
		merged = append(merged, h)
	}
	holes = merged
	nh := len(holes)

	// Each copy's value of a hole: the hole's ends moved by what the copy's
	// edits before them inserted or deleted. r[i*nh+h] is copy i's value of
	// hole h.
	r := make([]span, len(copies)*nh)
	for i := range copies {
		var es []edit
		if i > 0 {
			es = edits[starts[i-1]:starts[i]]
		}
		delta, j := 0, 0
		for h, hl := range holes {
			s := hl.s + delta
			for ; j < len(es) && es[j].as <= hl.e; j++ {
				delta += (es[j].be - es[j].bs) - (es[j].ae - es[j].as)
			}
			r[i*nh+h] = span{s, hl.e + delta}
		}
		// Spans in order and inside the copy, or the edits were not this
		// copy's: refuse rather than index outside it.
		at := 0
		for h := range holes {
			s := r[i*nh+h]
			if s.s < at || s.e < s.s || s.e > len(copies[i]) {
				return Template{}, nil, false
			}
			at = s.e
		}
	}

	kept := make([]int, 0, nh)
	for h := range holes {
		if narrow(copies, r[h:], nh) {
			kept = append(kept, h)
		}
	}
	if len(kept) > lim.MaxHoles {
		return Template{}, nil, false
	}
	for i := range copies {
		n := 0
		for _, h := range kept {
			n += r[i*nh+h].e - r[i*nh+h].s
		}
		if n > lim.MaxValueBytes {
			return Template{}, nil, false
		}
	}

	t := Template{Literals: make([][]byte, 0, len(kept)+1)}
	at := 0
	for _, h := range kept {
		s := r[h]
		t.Literals = append(t.Literals, ref[at:s.s:s.s])
		at = s.e
	}
	t.Literals = append(t.Literals, ref[at:len(ref):len(ref)])
	all := make([][]byte, len(copies)*len(kept))
	values := make([][][]byte, len(copies))
	for i, c := range copies {
		v := all[i*len(kept) : (i+1)*len(kept) : (i+1)*len(kept)]
		for k, h := range kept {
			s := r[i*nh+h]
			v[k] = c[s.s:s.e:s.e]
		}
		if !fills(t, v, c) {
			return Template{}, nil, false
		}
		values[i] = v
	}
	return t, values, true
}

// narrow shrinks one hole to the bytes where its values differ: the bytes
// that all copies' values start or end with move into the literals. The
// cuts stay at UTF-8 sequence starts, so a JSON-encoded value or template
// stays valid text. r[i*stride] is copy i's value. narrow reports false
// when all values are equal: the hole is no hole.
func narrow(copies [][]byte, r []span, stride int) bool {
	at := func(i int) span { return r[i*stride] }
	shortest := at(0).e - at(0).s
	for i := range copies {
		shortest = min(shortest, at(i).e-at(i).s)
	}
	cutOK := func(i, p int) bool { return p == len(copies[i]) || utf8.RuneStart(copies[i][p]) }

	pre := 0
	for pre < shortest && equalAcross(copies, r, stride, func(s span) int { return s.s + pre }) {
		pre++
	}
	for pre > 0 && !allCopies(copies, func(i int) bool { return cutOK(i, at(i).s+pre) }) {
		pre--
	}
	suf := 0
	for suf < shortest-pre && equalAcross(copies, r, stride, func(s span) int { return s.e - 1 - suf }) {
		suf++
	}
	for suf > 0 && !allCopies(copies, func(i int) bool { return cutOK(i, at(i).e-suf) }) {
		suf--
	}
	for i := range copies {
		r[i*stride].s += pre
		r[i*stride].e -= suf
	}

	v0 := copies[0][at(0).s:at(0).e]
	return !allCopies(copies, func(i int) bool { return bytes.Equal(copies[i][at(i).s:at(i).e], v0) })
}

// equalAcross reports whether every copy has the same byte at pos of its
// value's span.
func equalAcross(copies [][]byte, r []span, stride int, pos func(span) int) bool {
	c := copies[0][pos(r[0])]
	for i := 1; i < len(copies); i++ {
		if copies[i][pos(r[i*stride])] != c {
			return false
		}
	}
	return true
}

func allCopies(copies [][]byte, ok func(i int) bool) bool {
	for i := range copies {
		if !ok(i) {
			return false
		}
	}
	return true
}

// fills reports whether t filled with values is c, without building it.
func fills(t Template, values [][]byte, c []byte) bool {
	if len(values) != t.Holes() {
		return false
	}
	for i, l := range t.Literals {
		if !bytes.HasPrefix(c, l) {
			return false
		}
		c = c[len(l):]
		if i < len(values) {
			if !bytes.HasPrefix(c, values[i]) {
				return false
			}
			c = c[len(values[i]):]
		}
	}
	return len(c) == 0
}
