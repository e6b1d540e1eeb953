package mailrewrite

import (
	"bytes"
	"mime"
	"strconv"
	"strings"
)

// The MIME walk records byte offsets instead of building a decoded tree, so
// that everything the rewrite does not touch (headers, preamble, epilogue,
// boundaries, other parts) is copied from the input byte for byte; only the
// body of a rewritten leaf is replaced (TestBytePreservation).

// maxDepth bounds multipart nesting; real mail stays far below it, and a
// bound keeps hostile input from exhausting the stack.
const maxDepth = 40

// entity is one MIME entity: the message itself or one body part.
type entity struct {
	path      string // IMAP-style part number: "1", "2.1"
	start     int    // first byte of the header block
	bodyStart int    // first byte after the blank line ending the header
	end       int    // one past the last byte of the body

	mediaType   string // lower case, "text/plain" when absent (RFC 2045 §5.2)
	params      map[string]string
	cte         string // lower case Content-Transfer-Encoding, "" when absent
	disposition string // lower case disposition type, "" when absent
	children    []*entity
	// headerOnly: no blank line ends the header, so there is no body to
	// add anything to.
	headerOnly bool
	// enclosing are the boundaries of the multiparts around the entity: a
	// rewritten body must not come to hold a line that starts one.
	enclosing []string
}

func (e *entity) charset() string { return strings.ToLower(e.params["charset"]) }

// isAttachment: parts the recipient opens deliberately are not rewritten;
// they stay byte-identical like every other non-body part.
func (e *entity) isAttachment() bool { return e.disposition == "attachment" }

// parseMessage walks msg and returns its root entity.
func parseMessage(msg []byte) (*entity, error) {
	return parseEntity(msg, 0, len(msg), "", "text/plain", 0, nil)
}

// parseEntity parses the entity in msg[start:end]. path is its part number
// ("" for the root); defType is the media type when Content-Type is absent
// (message/rfc822 inside multipart/digest, RFC 2046 §5.1.5).
func parseEntity(msg []byte, start, end int, path, defType string, depth int, enclosing []string) (*entity, error) {
	if depth > maxDepth {
		return nil, parseErr(path, start, "MIME nesting deeper than %d levels", maxDepth)
	}
	e := &entity{path: path, start: start, end: end, mediaType: defType, enclosing: enclosing}
	hdr, bodyStart, ok := splitHeader(msg, start, end)
	e.bodyStart, e.headerOnly = bodyStart, !ok
	if err := e.readHeader(msg, hdr, start); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(e.mediaType, "multipart/") {
		return e, nil
	}
	boundary := e.params["boundary"]
	if boundary == "" {
		return nil, parseErr(path, start, "%s without a boundary parameter", e.mediaType)
	}
	childDef := "text/plain"
	if e.mediaType == "multipart/digest" {
		childDef = "message/rfc822"
	}
	spans, err := splitMultipart(msg, bodyStart, end, boundary)
	if err != nil {
		err.Part = path
		return nil, err
	}
	for i, s := range spans {
		cp := strconv.Itoa(i + 1)
		if path != "" {
			cp = path + "." + cp
		}
		c, err := parseEntity(msg, s[0], s[1], cp, childDef, depth+1, append(enclosing[:len(enclosing):len(enclosing)], boundary))
		if err != nil {
			return nil, err
		}
		e.children = append(e.children, c)
	}
	return e, nil
}

// leafPath is the part number a report shows: the root of a single-part
// message is part "1", as in IMAP.
func (e *entity) leafPath() string {
	if e.path == "" {
		return "1"
	}
	return e.path
}

// splitHeader returns the header block of msg[start:end] (without the blank
// line) and the offset where the body starts. An entity without a blank line
// is all header and has no body (ok false).
func splitHeader(msg []byte, start, end int) (hdr []byte, bodyStart int, ok bool) {
	i := start
	for i < end {
		nl := bytes.IndexByte(msg[i:end], '\n')
		if nl < 0 {
			return msg[start:end], end, false
		}
		line := msg[i : i+nl]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return msg[start:i], i + nl + 1, true
		}
		i += nl + 1
	}
	return msg[start:end], end, false
}

// readHeader picks the fields the walk needs out of a header block. Other
// fields are never interpreted: they are copied verbatim.
func (e *entity) readHeader(msg, hdr []byte, off int) error {
	var ctype, cte, disp string
	forEachField(hdr, func(name, value []byte) {
		switch {
		case asciiEqualFold(name, "content-type"):
			ctype = string(value)
		case asciiEqualFold(name, "content-transfer-encoding"):
			cte = string(value)
		case asciiEqualFold(name, "content-disposition"):
			disp = string(value)
		}
	})
	e.cte = strings.ToLower(strings.TrimSpace(cte))
	if disp != "" {
		d, _, _ := strings.Cut(disp, ";")
		e.disposition = strings.ToLower(strings.TrimSpace(d))
	}
	ctype = strings.TrimSpace(ctype)
	if ctype == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		// Mail in the wild carries sloppy parameters; the media type alone
		// is enough for leaves, but a multipart without its boundary
		// cannot be walked safely.
		t, rest, _ := strings.Cut(ctype, ";")
		mt = strings.ToLower(strings.TrimSpace(t))
		params = lenientParams(rest)
		if strings.HasPrefix(mt, "multipart/") && params["boundary"] == "" {
			return parseErr(e.path, off, "bad Content-Type %q: %v", ctype, err)
		}
	}
	if !strings.Contains(mt, "/") {
		return parseErr(e.path, off, "bad Content-Type %q: no subtype", ctype)
	}
	e.mediaType = mt
	e.params = params
	return nil
}

// lenientParams reads ;-separated key=value pairs the way most mail clients
// do when RFC 2045 syntax is broken (unquoted specials, stray semicolons).
func lenientParams(s string) map[string]string {
	out := map[string]string{}
	for _, p := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if k != "" {
			if _, dup := out[k]; !dup {
				out[k] = v
			}
		}
	}
	return out
}

// forEachField calls fn for every header field with its name and unfolded
// value (RFC 5322 §2.2.3). Lines without a colon (an mbox "From " line, junk)
// are skipped: they are kept verbatim in the output anyway.
func forEachField(hdr []byte, fn func(name, value []byte)) {
	var name []byte
	var value []byte
	flush := func() {
		if name != nil {
			fn(name, bytes.TrimSpace(value))
		}
		name, value = nil, nil
	}
	for len(hdr) > 0 {
		line := hdr
		if nl := bytes.IndexByte(hdr, '\n'); nl >= 0 {
			line, hdr = hdr[:nl], hdr[nl+1:]
		} else {
			hdr = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if name != nil {
				value = append(append(value[:len(value):len(value)], ' '), bytes.TrimSpace(line)...)
			}
			continue
		}
		flush()
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		name = bytes.TrimSpace(line[:colon])
		value = line[colon+1:]
	}
	flush()
}

// splitMultipart returns the [start,end) spans of the body parts of the
// multipart body msg[start:end]. Per RFC 2046 §5.1.1 the line break before
// a delimiter belongs to the delimiter, so a part ends before it. The
// closing delimiter must be present: a truncated multipart could hide a
// part the walk never saw.
func splitMultipart(msg []byte, start, end int, boundary string) ([][2]int, *ParseError) {
	delim := "--" + boundary
	var spans [][2]int
	partStart := -1
	i := start
	for i < end {
		lineEnd := end
		next := end
		if nl := bytes.IndexByte(msg[i:end], '\n'); nl >= 0 {
			lineEnd, next = i+nl, i+nl+1
		}
		line := msg[i:lineEnd]
		if bytes.HasPrefix(line, []byte(delim)) {
			rest := bytes.TrimRight(line[len(delim):], " \t\r")
			closing := bytes.Equal(rest, []byte("--"))
			if closing || len(rest) == 0 {
				if partStart >= 0 {
					spans = append(spans, [2]int{partStart, lineBreakStart(msg, partStart, i)})
				}
				if closing {
					return spans, nil
				}
				partStart = next
			}
		}
		i = next
	}
	return nil, parseErr("", end, "multipart closing delimiter %q not found", delim+"--")
}

// lineBreakStart returns where the line break that ends just before pos
// starts (pos itself when the part is empty).
func lineBreakStart(msg []byte, partStart, pos int) int {
	if pos > partStart && msg[pos-1] == '\n' {
		pos--
		if pos > partStart && msg[pos-1] == '\r' {
			pos--
		}
	}
	return pos
}

// lineEnding is the line break the message uses, so inserted lines match.
func lineEnding(msg []byte) string {
	if nl := bytes.IndexByte(msg, '\n'); nl > 0 && msg[nl-1] == '\r' {
		return "\r\n"
	}
	if bytes.IndexByte(msg, '\n') < 0 {
		return "\r\n"
	}
	return "\n"
}

// startsDelimiter reports whether body holds a line that begins with the
// delimiter of one of the enclosing multiparts (RFC 2046 §5.1.1): such a
// body would split its part in two.
func startsDelimiter(body []byte, enclosing []string) bool {
	for _, b := range enclosing {
		d := []byte("--" + b)
		for off := 0; ; {
			i := bytes.Index(body[off:], d)
			if i < 0 {
				break
			}
			at := off + i
			if at == 0 || body[at-1] == '\n' {
				return true
			}
			off = at + 1
		}
	}
	return false
}
