package factor

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

const (
	// resyncTokens equal tokens after an edit end a local diff: the copies
	// are back in step and the byte comparison takes over. Long enough that
	// markup repeated a few tokens apart does not pass for the resumption
	// point, short enough that little is cut into tokens twice.
	resyncTokens = 64
	// A snake of quickTokens tokens followed by resyncBytes equal bytes
	// is back in step as well: as strong a sign, found without cutting
	// the bytes into tokens.
	quickTokens = 8
	resyncBytes = 256
	// slideTokens equal tokens before the place where two texts part are
	// diffed too, so that an insertion or deletion can slide left to its
	// best place.
	slideTokens = 8
	// workPerByte and workBase bound what aligning one copy may cost, in
	// token comparisons, Myers steps and bytes cut into tokens: a copy that
	// is far from copy 0 is refused in time linear in its size.
	workPerByte = 8
	workBase    = 1 << 16
)

// Token classes. A token is a run of word bytes, a run of whitespace, or
// one punctuation byte of markup, URLs or CSS. Every class but word is
// ASCII, so a token boundary never falls inside a UTF-8 sequence.
const (
	word = iota
	space
	punct
)

func classOf(c byte) uint8 {
	switch c {
	case ' ', '\t', '\r', '\n', '\f', '\v':
		return space
	case '<', '>', '"', '\'', '=', '&', '?', '/', '#', ';', ':', ',', '(', ')', '{', '}', '%':
		return punct
	}
	return word
}

// tokenEnd is the end of the token that starts at p.
func tokenEnd(b []byte, p int) int {
	c := classOf(b[p])
	if c == punct {
		return p + 1
	}
	q := p + 1
	for q < len(b) && classOf(b[q]) == c {
		q++
	}
	return q
}

// startsToken reports whether a token starts at p, 0 < p < len(b). It
// depends on b[p-1] and b[p] alone, so two texts equal around p agree.
func startsToken(b []byte, p int) bool {
	c := classOf(b[p])
	return c == punct || c != classOf(b[p-1])
}

// tokens cuts a text into tokens lazily, from a token start on: a local
// diff looks at a few tokens past the place where the copies part.
type tokens struct {
	data []byte
	// bounds[i] and bounds[i+1] delimit token i, as offsets in data.
	bounds []int
	// scanned counts the bytes cut into tokens since the aligner began
	// this copy, for its work bound.
	scanned int
}

func (t *tokens) reset(data []byte, from int) {
	t.data = data
	t.bounds = append(t.bounds[:0], from)
}

// has reports whether token i exists, cutting up to it as needed.
func (t *tokens) has(i int) bool {
	for len(t.bounds) <= i+1 {
		p := t.bounds[len(t.bounds)-1]
		if p >= len(t.data) {
			return false
		}
		e := tokenEnd(t.data, p)
		t.scanned += e - p
		t.bounds = append(t.bounds, e)
	}
	return true
}

func (t *tokens) tok(i int) []byte { return t.data[t.bounds[i]:t.bounds[i+1]] }

// aligner finds one copy's edits against copy 0: a byte comparison runs
// over the long equal stretches, and a Myers O(ND) diff on tokens runs
// where they part, until resyncTokens equal tokens follow.
type aligner struct {
	a, b tokens
	// v holds Myers' furthest x on each diagonal k of each step d: step d
	// at v[d(d+1)/2:], diagonal k at (k+d)/2 in it; -1 when unreachable.
	v     []int32
	moves []move
	runs  []run
	// maxEdits bounds the token insertions and deletions of one copy.
	maxEdits, edits int
	work, budget    int
}

// move is one Myers edit from token (x, y): the deletion of copy 0's token
// x, or the insertion of the copy's token y.
type move struct {
	x, y int
	del  bool
}

func (m move) end() (int, int) {
	if m.del {
		return m.x + 1, m.y
	}
	return m.x, m.y + 1
}

// align appends to out the edits that turn ref into c, in order.
func (al *aligner) align(ref, c []byte, out []edit) ([]edit, bool) {
	al.work, al.edits = 0, 0
	al.a.scanned, al.b.scanned = 0, 0
	al.budget = workPerByte*(len(ref)+len(c)) + workBase
	a, b, first := 0, 0, len(out)
	for {
		m := commonPrefix(ref[a:], c[b:])
		if a+m == len(ref) && b+m == len(c) {
			return append(out[:first], mergeNear(out[first:])...), true
		}
		if m > 0 {
			// Back up over slideTokens+1 token starts (or to where the
			// texts were last in step): a token start depends on the two
			// bytes either side of it only, and both are equal bytes, so
			// the two texts cut tokens alike from there; the equal tokens
			// diffed again give slide its room.
			p := a + m - 1
			for n := 0; n <= slideTokens && p > a; n++ {
				for p--; p > a && !startsToken(ref, p); p-- {
				}
			}
			a, b = p, b+(p-a)
		}
		var ok bool
		if out, a, b, ok = al.local(ref, c, a, b, out); !ok {
			return nil, false
		}
	}
}

// mergeNear makes one edit of two edits of a copy when the equal bytes
// between them are no more than the larger side of either edit: a
// changed stretch that happens to share a quote or a slash with its
// replacement is one hole, not three (the ESPs cap the count of
// substitutions), while token URLs a paragraph apart stay apart.
func mergeNear(es []edit) []edit {
	out := es[:0]
	for _, e := range es {
		for n := len(out); n > 0; n = len(out) {
			p := out[n-1]
			gap := e.as - p.ae
			if gap > max(p.ae-p.as, p.be-p.bs) || gap > max(e.ae-e.as, e.be-e.bs) {
				break
			}
			e = edit{as: p.as, ae: e.ae, bs: p.bs, be: e.be}
			out = out[:n-1]
		}
		out = append(out, e)
	}
	return out
}

// local diffs ref and c from token starts a0 and b0 until the texts are
// back in step or both end, appends the edits, and returns where the
// texts resume in step.
func (al *aligner) local(ref, c []byte, a0, b0 int, out []edit) ([]edit, int, int, bool) {
	A, B := &al.a, &al.b
	A.reset(ref, a0)
	B.reset(c, b0)
	v := al.v[:0]
	defer func() { al.v = v }()
	for d := 0; al.edits+d <= al.maxEdits; d++ {
		for k := -d; k <= d; k += 2 {
			al.work++
			x := al.step(v, d, k)
			if x < 0 {
				v = append(v, -1)
				continue
			}
			y := x - k
			s, quick := 0, false
			for s < resyncTokens && A.has(x) && B.has(y) {
				if s == quickTokens && inStep(ref[A.bounds[x]:], c[B.bounds[y]:]) {
					quick = true
					break
				}
				ta, tb := A.tok(x), B.tok(y)
				al.work++
				if len(ta) == len(tb) {
					al.work += len(ta) / 8
				}
				if !bytes.Equal(ta, tb) {
					break
				}
				x, y, s = x+1, y+1, s+1
			}
			v = append(v, int32(x))
			if al.work+A.scanned/8+B.scanned/8 > al.budget {
				return nil, 0, 0, false
			}
			if quick || s == resyncTokens || (!A.has(x) && !B.has(y)) {
				out = al.path(v, d, k, x, out)
				al.edits += d
				return out, A.bounds[x], B.bounds[y], true
			}
		}
	}
	return nil, 0, 0, false
}

// step is the furthest x on diagonal k that step d reaches before its
// snake, or -1: an insertion from diagonal k+1 or a deletion from k-1,
// whichever goes further (the insertion on a tie), within both texts.
func (al *aligner) step(v []int32, d, k int) int {
	if d == 0 {
		return 0
	}
	prev := v[(d-1)*d/2:]
	x := -1
	if k < d {
		if xd := int(prev[(k+1+d-1)/2]); xd >= 0 && al.b.has(xd-(k+1)) {
			x = xd
		}
	}
	if k > -d {
		if xr := int(prev[(k-1+d-1)/2]); xr >= 0 && al.a.has(xr) && xr+1 > x {
			x = xr + 1
		}
	}
	return x
}

// path appends the edits of the Myers path that ends at copy 0's token xe on
// diagonal k at step d: consecutive moves with no equal token between them
// make one run, each run is slid to its best place, and becomes one edit.
func (al *aligner) path(v []int32, d, k, xe int, out []edit) []edit {
	mv := al.moves[:0]
	for ; d > 0; d-- {
		// The tokens cut while diffing are still there, so step answers as
		// it did going forward.
		x := al.step(v, d, k)
		if prev := v[(d-1)*d/2:]; k < d && int(prev[(k+1+d-1)/2]) == x && x >= 0 && al.b.has(x-(k+1)) {
			mv = append(mv, move{x: x, y: x - k - 1})
			k++
		} else {
			mv = append(mv, move{x: x - 1, y: x - k, del: true})
			k--
		}
	}
	al.moves = mv
	runs := al.runs[:0]
	for i := len(mv) - 1; i >= 0; {
		r := run{x1: mv[i].x, y1: mv[i].y}
		r.x2, r.y2 = mv[i].end()
		for i--; i >= 0 && mv[i].x == r.x2 && mv[i].y == r.y2; i-- {
			r.x2, r.y2 = mv[i].end()
		}
		runs = append(runs, r)
	}
	al.runs = runs
	A, B := &al.a, &al.b
	for i := range runs {
		// The equal tokens around a run bound its slide.
		loX, loY, hiX := 0, 0, xe
		if i > 0 {
			loX, loY = runs[i-1].x2, runs[i-1].y2
		}
		if i+1 < len(runs) {
			hiX = runs[i+1].x1
		}
		r := &runs[i]
		room := min(r.x1-loX, r.y1-loY)
		after := hiX - r.x2
		var shift int
		switch {
		case r.x1 == r.x2:
			shift = slide(B, r.y1, r.y2, room, after)
		case r.y1 == r.y2:
			shift = slide(A, r.x1, r.x2, room, after)
		}
		r.x1, r.x2, r.y1, r.y2 = r.x1+shift, r.x2+shift, r.y1+shift, r.y2+shift
		out = append(out, edit{as: A.bounds[r.x1], ae: A.bounds[r.x2], bs: B.bounds[r.y1], be: B.bounds[r.y2]})
	}
	return out
}

// run is one edit in tokens: copy 0's tokens [x1, x2) are the copy's
// tokens [y1, y2).
type run struct{ x1, x2, y1, y2 int }

// slide picks the place of a pure insertion or deletion, the tokens
// [r1, r2) of t, among the equivalent ones up to room tokens left and
// after tokens right (a run that repeats its last token before it
// reads the same moved left). Myers places such a run anywhere among them;
// the hole reads best as whole markup: a run that starts with "<" scores
// highest, then one that ends with ">" (a tag and the line break after it
// rather than the line break before it); on a tie the leftmost wins. It
// returns the shift.
func slide(t *tokens, r1, r2, room, after int) int {
	lo := 0
	for lo < room && bytes.Equal(t.tok(r1-lo-1), t.tok(r2-lo-1)) {
		lo++
	}
	hi := 0
	for hi < after && t.has(r2+hi) && bytes.Equal(t.tok(r1+hi), t.tok(r2+hi)) {
		hi++
	}
	best, bestScore := -lo, -1
	for s := -lo; s <= hi; s++ {
		score := 0
		if f := t.tok(r1 + s); len(f) == 1 && f[0] == '<' {
			score += 2
		}
		if l := t.tok(r2 + s - 1); len(l) == 1 && l[0] == '>' {
			score++
		}
		if score > bestScore {
			best, bestScore = s, score
		}
	}
	return best
}

// inStep reports whether x and y start with resyncBytes equal bytes, or
// are equal when shorter.
func inStep(x, y []byte) bool {
	if len(x) < resyncBytes || len(y) < resyncBytes {
		return bytes.Equal(x, y)
	}
	return bytes.Equal(x[:resyncBytes], y[:resyncBytes])
}

// commonPrefix is the length of the longest common prefix of x and y,
// compared a block, then a word, at a time: this runs over nearly all of
// every copy.
func commonPrefix(x, y []byte) int {
	n := min(len(x), len(y))
	const block = 256
	i := 0
	for i+block <= n && bytes.Equal(x[i:i+block], y[i:i+block]) {
		i += block
	}
	for i+8 <= n {
		if w := binary.LittleEndian.Uint64(x[i:]) ^ binary.LittleEndian.Uint64(y[i:]); w != 0 {
			return i + bits.TrailingZeros64(w)/8
		}
		i += 8
	}
	for i < n && x[i] == y[i] {
		i++
	}
	return i
}
