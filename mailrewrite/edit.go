package mailrewrite

import "slices"

// edit replaces src[start:end] with repl. Rewrites are expressed as edits on
// the original bytes so that everything between them is copied untouched.
type edit struct {
	start, end int
	repl       []byte
}

// edits is a list kept sorted by start with no overlaps.
type edits []edit

// add appends an edit at or after every previous one. An edit that covers
// earlier ones (removing a whole element whose attributes were already
// edited) replaces them.
func (es *edits) add(start, end int, repl []byte) {
	for n := len(*es); n > 0 && (*es)[n-1].start >= start; n-- {
		*es = (*es)[:n-1]
	}
	if n := len(*es); n > 0 && (*es)[n-1].end > start {
		// Overlapping the tail of an earlier edit: never produced by the
		// scanner, which edits whole tokens; keep the earlier one.
		return
	}
	*es = append(*es, edit{start, end, repl})
}

// growth is how much longer the edits make their source.
func (es edits) growth() int {
	n := 0
	for _, e := range es {
		n += len(e.repl) - (e.end - e.start)
	}
	return n
}

// apply returns src with the edits applied.
func (es edits) apply(src []byte) []byte { return es.appendApply(nil, src) }

// appendApply appends src with the edits applied to dst.
func (es edits) appendApply(dst, src []byte) []byte {
	out := slices.Grow(dst, len(src)+es.growth())
	pos := 0
	for _, e := range es {
		out = append(out, src[pos:e.start]...)
		out = append(out, e.repl...)
		pos = e.end
	}
	return append(out, src[pos:]...)
}

// put inserts an edit at its sorted place; it refuses (false) an edit that
// overlaps one already there. A zero-width insertion at an edit's start
// goes before it.
func (es *edits) put(start, end int, repl []byte) bool {
	i := len(*es)
	for i > 0 && ((*es)[i-1].start > start || ((*es)[i-1].start == start && (*es)[i-1].end > start)) {
		i--
	}
	if i > 0 && (*es)[i-1].end > start {
		return false
	}
	if i < len(*es) && end > (*es)[i].start {
		return false
	}
	*es = append(*es, edit{})
	copy((*es)[i+1:], (*es)[i:])
	(*es)[i] = edit{start, end, repl}
	return true
}

// insert adds repl at pos without removing anything.
func (es *edits) insert(pos int, repl []byte) bool { return es.put(pos, pos, repl) }
