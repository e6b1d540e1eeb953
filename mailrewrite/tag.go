package mailrewrite

// attrSpan locates one attribute inside the raw bytes of a start tag, so a
// rewrite can change that attribute and copy the rest of the tag as it was.
type attrSpan struct {
	keyStart, keyEnd int
	valStart, valEnd int // value without quotes
	end              int // after the value and its closing quote
}

// attrSpans finds the attributes of the raw start tag, offsets in tag.
func attrSpans(out []attrSpan, tag []byte) []attrSpan {
	spans, _, _ := tagSpans(out, tag, 1)
	return spans
}

// attrChange is one change to a start tag: a new value, or removal.
type attrChange struct {
	name   string
	value  string
	remove bool
}

// rewriteTag applies changes to the raw start tag. Each attribute named is
// changed where it first occurs (the occurrence browsers use); the rest of
// the tag is copied byte for byte.
func rewriteTag(tag []byte, changes []attrChange) []byte {
	spans := attrSpans(nil, tag)
	type cut struct {
		start, end int
		repl       string
	}
	var cuts []cut
	for _, ch := range changes {
		for _, s := range spans {
			if !asciiEqualFold(tag[s.keyStart:s.keyEnd], ch.name) {
				continue
			}
			if ch.remove {
				start := s.keyStart
				for start > 0 && isHTMLSpace(tag[start-1]) {
					start--
				}
				cuts = append(cuts, cut{start, s.end, ""})
			} else {
				cuts = append(cuts, cut{s.keyStart, s.end, ch.name + `="` + escapeAttr(ch.value) + `"`})
			}
			break
		}
	}
	// Apply in tag order.
	for a := 1; a < len(cuts); a++ {
		for b := a; b > 0 && cuts[b].start < cuts[b-1].start; b-- {
			cuts[b], cuts[b-1] = cuts[b-1], cuts[b]
		}
	}
	out := make([]byte, 0, len(tag)+16)
	pos := 0
	for _, c := range cuts {
		if c.start < pos {
			continue
		}
		out = append(out, tag[pos:c.start]...)
		out = append(out, c.repl...)
		pos = c.end
	}
	return append(out, tag[pos:]...)
}

// escapeAttr escapes a value for a double-quoted attribute.
func escapeAttr(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		var r string
		switch s[i] {
		case '&':
			r = "&amp;"
		case '"':
			r = "&quot;"
		case '<':
			r = "&lt;"
		case '>':
			r = "&gt;"
		default:
			if b != nil {
				b = append(b, s[i])
			}
			continue
		}
		if b == nil {
			b = append(make([]byte, 0, len(s)+16), s[:i]...)
		}
		b = append(b, r...)
	}
	if b == nil {
		return s
	}
	return string(b)
}

// srcsetURLs returns the [start,end) spans of the candidate URLs in a
// srcset value (HTML §4.8.4.2.2: a URL is a run of non-space characters;
// trailing commas end a candidate).
func srcsetURLs(v []byte) [][2]int {
	var out [][2]int
	i, n := 0, len(v)
	for i < n {
		for i < n && (isHTMLSpace(v[i]) || v[i] == ',') {
			i++
		}
		if i >= n {
			break
		}
		s := i
		for i < n && !isHTMLSpace(v[i]) {
			i++
		}
		e := i
		for e > s && v[e-1] == ',' {
			e--
		}
		if e > s {
			out = append(out, [2]int{s, e})
		}
		if e < i {
			continue // the URL ended with a comma: no descriptors
		}
		for i < n && v[i] != ',' {
			i++
		}
	}
	return out
}
