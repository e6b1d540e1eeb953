package mailrewrite

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
)

// htmlDoc is the scan state of one HTML (or AMP) body part.
type htmlDoc struct {
	path string
	amp  bool
	src  []byte // decoded body

	edits     edits
	bodyClose int // offset of the last </body>, -1 when none
	htmlClose int // offset of the last </html>, -1 when none
	// tail is where the tokenizer stopped: before an unterminated tag at
	// the end, which would swallow anything appended after it.
	tail int
	lang string

	stack   []openElem
	reveal  map[string]bool // classes a <style> rule shows again (responsive layouts)
	inStyle bool
	names   map[string]string
	spans   []attrSpan // reused for every tag
}

type openElem struct {
	name   string
	hidden bool // hidden itself or through a parent
	// removeFrom >= 0: the whole element, from this offset to its end tag,
	// goes (amp-pixel, amp-analytics).
	removeFrom int
}

// maxStack bounds the open-element stack (real mail nests tables a few
// dozen deep).
const maxStack = 256

// maxCommentDepth bounds recursion into conditional comments.
const maxCommentDepth = 4

func newHTMLDoc(path string, src []byte, amp bool) *htmlDoc {
	return &htmlDoc{path: path, amp: amp, src: src, bodyClose: -1, htmlClose: -1, names: map[string]string{}}
}

// scanHTML walks the document, classifying every remote resource and
// recording the edits the decision asks for.
func (j *job) scanHTML(d *htmlDoc) error {
	return j.scanFragment(d, 0, len(d.src), 0)
}

// scanFragment tokenizes d.src[from:to]. Conditional comments
// (<!--[if mso]>...<![endif]-->) hold markup Outlook renders, VML
// backgrounds among it, so their content is scanned as HTML too.
func (j *job) scanFragment(d *htmlDoc, from, to, depth int) error {
	l := lexer{src: d.src[:to], pos: from, spans: d.spans[:0], open: -1}
	defer func() { d.spans = l.spans[:0] }()
	for {
		kind, start, end := l.next()
		switch kind {
		case tokEOF:
			if depth == 0 {
				d.tail = start
				if l.open >= 0 {
					d.tail = l.open
				}
			}
			return nil
		case tokStart:
			name := d.tagName(d.src[start+1 : end])
			if err := j.startTag(d, name, start, end, l.spans, l.selfEnd); err != nil {
				return err
			}
			if isRawText(name) {
				l.rawTag, l.rawFrom = name, start
			}
		case tokEnd:
			d.inStyle = false
			j.endTag(d, d.tagName(d.src[start+2:end]), start, end, depth)
		case tokText:
			if d.inStyle {
				d.inStyle = false
				j.styleBlock(d, start, end)
			}
		case tokComment:
			d.inStyle = false
			if depth < maxCommentDepth {
				raw := d.src[start:end]
				if bytes.HasPrefix(raw, []byte("<!--[")) && bytes.HasSuffix(raw, []byte("-->")) && len(raw) >= 7 {
					// The fragment gets its own attribute buffer.
					saved := l.spans
					d.spans = nil
					if err := j.scanFragment(d, start+4, end-3, depth+1); err != nil {
						return err
					}
					l.spans = saved
				}
			}
		}
	}
}

// tagAttrs holds the attributes the scanner looks at, valid until the
// tokenizer moves on.
type tagAttrs struct {
	src, srcset, width, height, style, background, poster []byte
	typ, rel, href, class, lang, marker                   []byte
	hidden                                                bool
}

// isVoid: elements without content or end tag (HTML §13.1.2).
func isVoid(name string) bool {
	switch name {
	case "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr":
		return true
	}
	return false
}

// closesOpen reports whether a start tag name implicitly ends the open
// element top (HTML §13.2.6: a <td> ends the previous cell, a <tr> the
// previous row...), so hidden-parent tracking follows what a browser builds.
func closesOpen(name, top string) bool {
	switch name {
	case "td", "th":
		return top == "td" || top == "th"
	case "tr":
		return top == "td" || top == "th" || top == "tr"
	case "li", "p", "option":
		return top == name
	case "dt", "dd":
		return top == "dt" || top == "dd"
	}
	return false
}

// tagName returns the lower-cased name at the start of b (what follows
// "<" or "</"), interned so the element stack costs no allocation.
func (d *htmlDoc) tagName(b []byte) string {
	n := 0
	for n < len(b) && !isHTMLSpace(b[n]) && b[n] != '/' && b[n] != '>' {
		n++
	}
	var buf [32]byte
	lb := lowerASCII(buf[:], b[:n])
	if lb == nil {
		return strings.ToLower(string(b[:n]))
	}
	if s := commonTag(lb); s != "" {
		return s
	}
	if s, ok := d.names[string(lb)]; ok {
		return s
	}
	s := string(lb)
	d.names[s] = s
	return s
}

// attrValue is an attribute's value as the browser reads it: character
// references decoded (only then is anything copied).
func attrValue(v []byte) []byte {
	amp := bytes.IndexByte(v, '&')
	if amp < 0 {
		return v
	}
	// URLs with several parameters are written with "&amp;": undo that in
	// one copy, and leave any other reference to the full decoder.
	out := make([]byte, 0, len(v))
	for amp >= 0 {
		if !bytes.HasPrefix(v[amp:], []byte("&amp;")) {
			return []byte(html.UnescapeString(string(v)))
		}
		out = append(append(out, v[:amp]...), '&')
		v = v[amp+len("&amp;"):]
		amp = bytes.IndexByte(v, '&')
	}
	return append(out, v...)
}

func (d *htmlDoc) parentHidden() bool {
	return len(d.stack) > 0 && d.stack[len(d.stack)-1].hidden
}

// read fills a with the attributes of the start tag of the element name
// whose attribute spans (from the lexer, offsets in raw) are spans. They
// are read in place: nothing is copied unless a value holds a character
// reference.
func (a *tagAttrs) read(raw []byte, name string, spans []attrSpan) {
	var seen uint16 // the first occurrence of an attribute wins (WHATWG §13.2.5.33)
	var kb [16]byte
	for _, sp := range spans {
		key := lowerASCII(kb[:], raw[sp.keyStart:sp.keyEnd])
		if key == nil {
			continue
		}
		var dst *[]byte
		var bit uint16
		switch string(key) {
		case "src":
			dst, bit = &a.src, 1<<0
		case "srcset":
			dst, bit = &a.srcset, 1<<1
		case "width":
			dst, bit = &a.width, 1<<2
		case "height":
			dst, bit = &a.height, 1<<3
		case "style":
			dst, bit = &a.style, 1<<4
		case "background":
			dst, bit = &a.background, 1<<5
		case "poster":
			dst, bit = &a.poster, 1<<6
		case "type":
			dst, bit = &a.typ, 1<<7
		case "rel":
			dst, bit = &a.rel, 1<<8
		case "href":
			if name != "link" && name != "a" && name != "area" {
				continue
			}
			dst, bit = &a.href, 1<<9
		case "class":
			dst, bit = &a.class, 1<<10
		case "lang":
			dst, bit = &a.lang, 1<<11
		case "data-pixelgate":
			dst, bit = &a.marker, 1<<12
		case "hidden":
			a.hidden = true
			continue
		default:
			continue
		}
		if seen&bit != 0 {
			continue
		}
		seen |= bit
		*dst = attrValue(raw[sp.valStart:sp.valEnd])
	}
}

func (j *job) startTag(d *htmlDoc, name string, start, end int, spans []attrSpan, selfClosing bool) error {
	var a tagAttrs
	a.read(d.src, name, spans)
	for len(d.stack) > 0 && closesOpen(name, d.stack[len(d.stack)-1].name) {
		d.stack = d.stack[:len(d.stack)-1]
	}
	if name == "html" && len(a.lang) > 0 && d.lang == "" {
		d.lang = strings.ToLower(string(a.lang))
	}
	si := j.readStyle(a.style)
	selfHidden := a.hidden || si.hidden
	if selfHidden && len(a.class) > 0 && d.revealedByClass(a.class) {
		selfHidden = false
	}
	parentHidden := d.parentHidden()
	// The stack is bounded so unmatched end tags cost O(1) each on hostile
	// input; past the bound, elements inherit their ancestors' visibility
	// through the top entry.
	if !isVoid(name) && !(selfClosing && strings.IndexByte(name, ':') >= 0) && len(d.stack) < maxStack {
		d.stack = append(d.stack, openElem{name: name, hidden: selfHidden || parentHidden, removeFrom: -1})
	}
	d.inStyle = name == "style"

	t := tagEdit{d: d, start: start, end: end}
	switch name {
	case "img", "amp-img", "amp-anim":
		c := carrier{kind: "img", sized: true, w: dimension(a.width, si.w), h: dimension(a.height, si.h),
			hidden: selfHidden, hiddenParent: parentHidden}
		if name != "img" {
			c.kind = name
		}
		if err := j.imageLike(&t, c, a, name == "img" && !d.amp); err != nil {
			return err
		}
	case "source":
		c := carrier{kind: "picture-source", hidden: selfHidden, hiddenParent: parentHidden, w: -1, h: -1}
		if err := j.imageLike(&t, c, a, false); err != nil {
			return err
		}
	case "input":
		if asciiEqualFold(bytes.TrimSpace(a.typ), "image") {
			c := carrier{kind: "input-image", sized: true, w: dimension(a.width, si.w), h: dimension(a.height, si.h),
				hidden: selfHidden, hiddenParent: parentHidden}
			if err := j.imageLike(&t, c, a, false); err != nil {
				return err
			}
		}
	case "video":
		if len(a.poster) > 0 {
			j.attrURL(&t, "poster", a.poster, carrier{kind: "video-poster", w: -1, h: -1}, false)
		}
	case "link":
		if containsFold(a.rel, "stylesheet") && len(a.href) > 0 {
			j.attrURL(&t, "href", a.href, carrier{kind: "link-stylesheet", w: -1, h: -1}, true)
		}
	case "v:fill", "v:image", "v:imagedata":
		if len(a.src) > 0 {
			j.attrURL(&t, "src", a.src, carrier{kind: "vml", w: -1, h: -1}, true)
		}
	case "a", "area":
		if len(a.href) > 0 {
			if err := j.link(&t, a.href); err != nil {
				return err
			}
		}
	case "amp-pixel", "amp-analytics":
		// Both exist only to report the reader's activity.
		u := string(a.src)
		if u == "" {
			u = "(" + name + " configuration)"
		}
		v := verdict{class: ClassTracker, reasons: []string{ReasonAlwaysPixel}}
		if name == "amp-analytics" {
			v.reasons = []string{"amp-analytics"}
		}
		j.note(d, u, name, v, ActionRemoved)
		t.removeTag = true
		if len(d.stack) > 0 && d.stack[len(d.stack)-1].name == name {
			d.stack[len(d.stack)-1].removeFrom = start
		}
	}
	if len(a.background) > 0 {
		j.attrURL(&t, "background", a.background, carrier{kind: "background-attr", w: -1, h: -1}, false)
	}
	if len(a.style) > 0 && containsFold(a.style, "url(") {
		// A background on an element its own style makes a pixel is
		// a pixel (a 1px-high div): the size counts as for an image.
		c := carrier{kind: "style-attr", w: -1, h: -1}
		if isPixel(si.w, si.h) {
			c.sized, c.w, c.h = true, si.w, si.h
		}
		j.styleAttr(&t, a.style, c)
	}
	return t.apply(j)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// dimension is the declared size: the attribute, else the inline style.
func dimension(attr []byte, style int) int {
	if v := pxValue(bytes.TrimSpace(attr)); v >= 0 {
		return v
	}
	return style
}

// revealedByClass: display:none with a class a <style> rule shows again is
// the responsive "mobile only" pattern, not hiding.
func (d *htmlDoc) revealedByClass(class []byte) bool {
	if len(d.reveal) == 0 {
		return false
	}
	for _, c := range bytes.Fields(class) {
		if d.reveal[string(c)] {
			return true
		}
	}
	return false
}

func (j *job) endTag(d *htmlDoc, name string, start, end, depth int) {
	switch name {
	case "body":
		if depth == 0 {
			d.bodyClose = start
		}
	case "html":
		if depth == 0 {
			d.htmlClose = start
		}
	}
	for i := len(d.stack) - 1; i >= 0; i-- {
		if d.stack[i].name != name {
			continue
		}
		if from := d.stack[i].removeFrom; from >= 0 && j.rewrite {
			d.edits.add(from, end, d.gap(from))
		}
		d.stack = d.stack[:i]
		return
	}
}

// tagEdit collects what happens to one start tag.
type tagEdit struct {
	d          *htmlDoc
	start, end int
	removeTag  bool
	replace    []byte // the tag is replaced by this (the swapped pixel)
	changes    []attrChange
}

func (t *tagEdit) set(name, value string) {
	t.changes = append(t.changes, attrChange{name: name, value: value})
}

func (t *tagEdit) drop(name string) {
	t.changes = append(t.changes, attrChange{name: name, remove: true})
}

func (t *tagEdit) apply(j *job) error {
	if !j.rewrite {
		return nil
	}
	switch {
	case t.replace != nil:
		t.d.edits.add(t.start, t.end, t.replace)
	case t.removeTag:
		t.d.edits.add(t.start, t.end, t.d.gap(t.start))
	case len(t.changes) > 0:
		t.d.edits.add(t.start, t.end, rewriteTag(t.d.src[t.start:t.end], t.changes))
	}
	return nil
}

// imageLike handles img, amp-img, source and input type=image: src and
// srcset. mayHoldPixel: the tag can be swapped for pixelgate's pixel.
func (j *job) imageLike(t *tagEdit, c carrier, a tagAttrs, mayHoldPixel bool) error {
	d := t.d
	if len(a.src) > 0 && isRemote(a.src) {
		u := j.srcString(a.src)
		v := j.judge(d, u, c)
		clean, action, replaced := v.replacement()
		switch {
		case replaced:
			t.set("src", clean)
			j.note(d, u, c.kind, v, action)
		case v.class == ClassOwn:
			if j.wantPixel && !j.pixelDone && mayHoldPixel {
				j.pixelDone = true
				j.note(d, u, c.kind, v, ActionKept)
			} else {
				t.removeTag = true
				j.note(d, u, c.kind, v, ActionRemoved)
			}
			return nil
		case v.class == ClassTracker:
			if mayHoldPixel && v.openPixel && j.wantPixel && !j.pixelDone {
				px, err := j.pixelTag(u)
				if err != nil {
					return err
				}
				t.replace = px
				j.pixelDone = true
				j.rep.PixelSwapped = true
				j.note(d, u, c.kind, v, ActionSwapped)
			} else {
				t.removeTag = true
				j.note(d, u, c.kind, v, ActionRemoved)
			}
			// The srcset goes with the element.
			if len(a.srcset) > 0 {
				j.srcset(t, a.srcset, carrier{kind: c.kind + "-srcset", w: -1, h: -1}, true)
			}
			return nil
		default:
			j.note(d, u, c.kind, v, ActionKept)
		}
	}
	if len(a.srcset) > 0 {
		sc := c
		sc.kind = c.kind + "-srcset"
		if len(a.src) == 0 {
			// Without src the srcset is the image: size and visibility
			// count, and a tracker takes the element with it.
			j.srcset(t, a.srcset, sc, false)
		} else {
			sc.sized, sc.hidden, sc.hiddenParent = false, false, false
			j.srcset(t, a.srcset, sc, false)
		}
	}
	return nil
}

// srcset classifies every candidate. gone: the element is already removed,
// candidates are only reported.
func (j *job) srcset(t *tagEdit, val []byte, c carrier, gone bool) {
	d := t.d
	spans := srcsetURLs(val)
	var out []byte
	changed, tracker := false, false
	pos := 0
	for _, s := range spans {
		u := string(val[s[0]:s[1]])
		if !isRemote(u) {
			continue
		}
		v := j.judge(d, u, c)
		clean, action, replaced := v.replacement()
		switch {
		case gone:
			j.note(d, u, c.kind, v, ActionRemoved)
		case replaced:
			out = append(append(out, val[pos:s[0]]...), clean...)
			pos = s[1]
			changed = true
			j.note(d, u, c.kind, v, action)
		case v.class == ClassTracker || v.class == ClassOwn:
			tracker = true
			j.note(d, u, c.kind, v, ActionRemoved)
		default:
			j.note(d, u, c.kind, v, ActionKept)
		}
	}
	switch {
	case gone:
	case tracker && c.sized:
		t.removeTag = true
	case tracker:
		t.drop("srcset")
	case changed:
		out = append(out, val[pos:]...)
		t.set("srcset", string(out))
	}
}

// attrURL handles an attribute that holds one URL: a tracker takes the
// attribute (background, poster) or, with wholeTag, the element (a
// stylesheet link, a VML fill) with it.
func (j *job) attrURL(t *tagEdit, attr string, val []byte, c carrier, wholeTag bool) {
	u := string(val)
	if !isRemote(u) {
		return
	}
	d := t.d
	v := j.judge(d, u, c)
	clean, action, replaced := v.replacement()
	switch {
	case replaced:
		t.set(attr, clean)
		j.note(d, u, c.kind, v, action)
	case v.class == ClassTracker || v.class == ClassOwn:
		if wholeTag {
			t.removeTag = true
		} else {
			t.drop(attr)
		}
		j.note(d, u, c.kind, v, ActionRemoved)
	default:
		j.note(d, u, c.kind, v, ActionKept)
	}
}

// styleAttr handles url() in an inline style: a tracker becomes "none",
// which keeps the declaration valid (background-image:none).
func (j *job) styleAttr(t *tagEdit, style []byte, c carrier) {
	d := t.d
	var es edits
	scanCSS(style, func(ref cssRef) {
		j.cssRef(d, style, ref, c, &es)
	})
	if len(es) > 0 {
		t.set("style", string(es.apply(style)))
	}
}

// cssRef classifies one CSS reference and records its edit in es, with
// offsets relative to css.
func (j *job) cssRef(d *htmlDoc, css []byte, ref cssRef, c carrier, es *edits) {
	u := string(css[ref.urlStart:ref.urlEnd])
	if !isRemote(u) {
		return
	}
	if ref.isImport {
		c = carrier{kind: "css-import", w: -1, h: -1}
	}
	kind := c.kind
	v := j.judge(d, u, c)
	clean, action, replaced := v.replacement()
	switch {
	case replaced:
		es.add(ref.urlStart, ref.urlEnd, []byte(clean))
		j.note(d, u, kind, v, action)
	case v.class == ClassTracker || v.class == ClassOwn:
		if ref.isImport {
			es.add(ref.start, ref.end, nil)
		} else {
			es.add(ref.start, ref.end, []byte("none"))
		}
		j.note(d, u, kind, v, ActionRemoved)
	default:
		j.note(d, u, kind, v, ActionKept)
	}
}

// styleBlock handles the text of a <style> element: remember the classes
// it reveals, then classify its url() and @import references.
func (j *job) styleBlock(d *htmlDoc, start, end int) {
	css := d.src[start:end]
	collectRevealClasses(css, d)
	var es edits
	scanCSS(css, func(ref cssRef) {
		j.cssRef(d, css, ref, carrier{kind: "style-block", w: -1, h: -1}, &es)
	})
	if j.rewrite {
		for _, e := range es {
			d.edits.add(start+e.start, start+e.end, e.repl)
		}
	}
}

// collectRevealClasses records the classes of rules that set display to
// something other than none, or a non-zero max-height: an element hidden
// inline but carrying such a class is shown on some screens.
func collectRevealClasses(css []byte, d *htmlDoc) {
	selStart := 0
	for i := 0; i < len(css); i++ {
		switch css[i] {
		case '}', ';':
			selStart = i + 1
		case '{':
			sel := bytes.TrimSpace(css[selStart:i])
			if len(sel) > 0 && sel[0] == '@' {
				selStart = i + 1
				continue
			}
			close := bytes.IndexByte(css[i+1:], '}')
			if close < 0 {
				return
			}
			block := css[i+1 : i+1+close]
			if reveals(block) {
				for _, c := range selectorClasses(sel) {
					if d.reveal == nil {
						d.reveal = map[string]bool{}
					}
					d.reveal[c] = true
				}
			}
			i += 1 + close
			selStart = i + 1
		}
	}
}

func reveals(block []byte) bool {
	var buf [24]byte
	for prop, v, rest, ok := nextDecl(block, &buf); ok; prop, v, rest, ok = nextDecl(rest, &buf) {
		v = trimImportant(v)
		switch string(prop) {
		case "display":
			if !asciiEqualFold(v, "none") {
				return true
			}
		case "max-height":
			if !isZeroLength(v) {
				return true
			}
		case "visibility":
			if asciiEqualFold(v, "visible") {
				return true
			}
		}
	}
	return false
}

func selectorClasses(sel []byte) []string {
	var out []string
	for i := 0; i < len(sel); i++ {
		if sel[i] != '.' {
			continue
		}
		k := i + 1
		for k < len(sel) && isIdentChar(sel[k]) {
			k++
		}
		if k > i+1 {
			out = append(out, string(sel[i+1:k]))
		}
		i = k - 1
	}
	return out
}

// gap is what a removed element leaves behind: nothing, unless the byte
// before it could join with what follows into new markup ("<" + "img ...",
// "--" + ">" closing a comment early); a space then keeps them apart.
func (d *htmlDoc) gap(start int) []byte {
	if start > 0 {
		switch d.src[start-1] {
		case '<', '-', '!', '/':
			return []byte(" ")
		}
	}
	return nil
}

// commonTag returns the constant for the tags of table-layout mail, so the
// intern map is only consulted for the rest.
func commonTag(b []byte) string {
	switch string(b) {
	case "td":
		return "td"
	case "tr":
		return "tr"
	case "table":
		return "table"
	case "a":
		return "a"
	case "img":
		return "img"
	case "span":
		return "span"
	case "div":
		return "div"
	case "p":
		return "p"
	case "br":
		return "br"
	case "tbody":
		return "tbody"
	case "strong":
		return "strong"
	case "b":
		return "b"
	case "font":
		return "font"
	case "center":
		return "center"
	}
	return ""
}
