package proxy

import (
	"bytes"
	"errors"
	"slices"
	"strings"
)

// rawHeader is a message header kept as the exact bytes of each field, so the
// relay can add, remove and read fields without re-encoding the ones it does
// not touch (DKIM signatures over untouched fields stay valid).
type rawHeader struct {
	fields []rawField
}

// rawField is one header field including its folded continuation lines and
// its terminating CRLF.
type rawField struct {
	raw []byte
}

// name is the field name as written (case kept).
func (f rawField) name() string {
	i := bytes.IndexByte(f.raw, ':')
	if i < 0 {
		return ""
	}
	return string(bytes.TrimRight(f.raw[:i], " \t"))
}

// value is the unfolded value with surrounding white space trimmed.
func (f rawField) value() string {
	i := bytes.IndexByte(f.raw, ':')
	if i < 0 {
		return ""
	}
	v := string(f.raw[i+1:])
	v = strings.ReplaceAll(v, "\r\n", "")
	return strings.TrimSpace(v)
}

// splitMessage cuts a CRLF message into its header fields and body (the
// bytes after the empty line). A message that is only a header (no empty
// line) is accepted with an empty body, as RFC 5322 §3.5 allows.
func splitMessage(msg []byte) (rawHeader, []byte, error) {
	var h rawHeader
	rest := msg
	for len(rest) > 0 {
		if bytes.HasPrefix(rest, []byte("\r\n")) {
			return h, rest[2:], nil
		}
		if rest[0] == ' ' || rest[0] == '\t' {
			return h, nil, errors.New("header starts with a continuation line")
		}
		end := 0
		for {
			i := bytes.Index(rest[end:], []byte("\r\n"))
			if i < 0 {
				// Last line of a header-only message without final CRLF.
				end = len(rest)
				break
			}
			end += i + 2
			if end >= len(rest) || (rest[end] != ' ' && rest[end] != '\t') {
				break
			}
		}
		line := rest[:end]
		if bytes.IndexByte(line, ':') <= 0 {
			return h, nil, errors.New("header line without a field name")
		}
		h.fields = append(h.fields, rawField{raw: line})
		rest = rest[end:]
	}
	return h, nil, nil
}

// get returns the value of the first field with that name (case-insensitive).
func (h *rawHeader) get(name string) string {
	for _, f := range h.fields {
		if strings.EqualFold(f.name(), name) {
			return f.value()
		}
	}
	return ""
}

// removeIf drops every field whose name satisfies drop and reports how many.
func (h *rawHeader) removeIf(drop func(name string) bool) int {
	kept := h.fields[:0]
	n := 0
	for _, f := range h.fields {
		if drop(f.name()) {
			n++
			continue
		}
		kept = append(kept, f)
	}
	h.fields = kept
	return n
}

// prepend adds a field at the top (trace fields go first, RFC 5321 §4.4).
// value must already be folded with CRLF+WSP where long.
func (h *rawHeader) prepend(name, value string) {
	f := rawField{raw: []byte(name + ": " + value + "\r\n")}
	h.fields = append([]rawField{f}, h.fields...)
}

// set replaces every field of that name with one field, added at the end
// (where ESP instructions are conventionally placed).
func (h *rawHeader) set(name, value string) {
	h.removeIf(func(n string) bool { return strings.EqualFold(n, name) })
	h.fields = append(h.fields, rawField{raw: []byte(name + ": " + value + "\r\n")})
}

// bytes writes the header, the empty line and body back into one message.
func (h *rawHeader) bytes(body []byte) []byte { return h.appendMessage(nil, body) }

// appendMessage appends the header and body to dst.
func (h *rawHeader) appendMessage(dst, body []byte) []byte {
	n := len(body) + 2
	for _, f := range h.fields {
		n += len(f.raw)
	}
	out := slices.Grow(dst, n)
	for _, f := range h.fields {
		out = append(out, f.raw...)
		if !bytes.HasSuffix(f.raw, []byte("\r\n")) {
			out = append(out, '\r', '\n')
		}
	}
	out = append(out, '\r', '\n')
	return append(out, body...)
}
