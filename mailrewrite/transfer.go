package mailrewrite

import (
	"bytes"
	"encoding/base64"
)

// A rewritten part keeps its Content-Transfer-Encoding (RFC 2045 §6): bodies
// are decoded before matching — quoted-printable soft line breaks split URLs
// — and re-encoded the same way after the edits.

// transferCodec is how one part's body is encoded.
type transferCodec struct {
	cte     string // "", "7bit", "8bit", "binary", "quoted-printable", "base64"
	eol     string // line break used when re-encoding
	lineLen int    // base64 line length seen in the input
	// trailingEOL: the encoded body ended with a line break.
	trailingEOL bool
}

// canDecode reports whether the rewrite understands this encoding.
func canDecode(cte string) bool {
	switch cte {
	case "x-uuencode", "uuencode", "x-uue", "x-binhex40", "x-gzip64":
		// Encodings some clients do decode: what they would show is
		// not what we can read, so the part is refused (R1: fail closed).
		return false
	}
	// The identity encodings, the two of RFC 2045 §6, and any token no
	// one defined ("8bit+", "7-bit"): mail programs show such a body as
	// it is, so it is read and rewritten as identity. RFC 2045 §6.4 would
	// have them hidden as application/octet-stream; refusing the message
	// for it loses mail a reader would see.
	return true
}

func newCodec(cte string, body []byte, eol string) transferCodec {
	c := transferCodec{cte: cte, eol: eol, lineLen: 76}
	c.trailingEOL = bytes.HasSuffix(body, []byte("\n"))
	if cte == "base64" {
		first := body
		if nl := bytes.IndexByte(body, '\n'); nl >= 0 {
			first = bytes.TrimSuffix(body[:nl], []byte("\r"))
			if n := len(first); n >= 4 && n%4 == 0 {
				c.lineLen = n
			}
		}
	}
	return c
}

// decode returns the body's content. partOff is the body's byte offset in
// the message, for error positions.
func (c transferCodec) decode(body []byte, path string, partOff int) ([]byte, error) {
	switch c.cte {
	case "quoted-printable":
		return decodeQP(body), nil
	case "base64":
		return decodeBase64(body, path, partOff)
	default:
		return body, nil
	}
}

// identity: the decoded content is the encoded body itself.
func (c transferCodec) identity() bool {
	switch c.cte {
	case "quoted-printable", "base64":
		return false
	}
	return true
}

func (c transferCodec) encode(content []byte) []byte {
	switch c.cte {
	case "quoted-printable":
		return encodeQP(content, c.eol, c.trailingEOL)
	case "base64":
		return encodeBase64(content, c.lineLen, c.eol, c.trailingEOL)
	default:
		return content
	}
}

// decodeQP decodes quoted-printable leniently (RFC 2045 §6.7 note 1): an
// '=' not followed by two hex digits or a line break is kept as is, the way
// mail clients display it, so no input is an error here.
func decodeQP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		if i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]) {
			out = append(out, unhex(b[i+1])<<4|unhex(b[i+2]))
			i += 2
			continue
		}
		// Soft line break: '=' then optional transport padding then EOL.
		j := i + 1
		for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
			j++
		}
		if j < len(b) && b[j] == '\n' {
			i = j
			continue
		}
		if j+1 < len(b) && b[j] == '\r' && b[j+1] == '\n' {
			i = j + 1
			continue
		}
		if j == len(b) {
			i = j
			continue
		}
		out = append(out, c)
	}
	return out
}

const upperHex = "0123456789ABCDEF"

// encodeQP encodes content with lines of at most 76 characters (RFC 2045
// §6.7 rule 5), hard line breaks written as eol, trailing white space and
// lone CRs encoded so no transport can alter them.
func encodeQP(content []byte, eol string, trailingEOL bool) []byte {
	out := make([]byte, 0, len(content)+len(content)/8)
	lineLen := 0
	put := func(s []byte) {
		if lineLen+len(s) > 75 {
			out = append(out, '=')
			out = append(out, eol...)
			lineLen = 0
		}
		out = append(out, s...)
		lineLen += len(s)
	}
	var esc [3]byte
	esc[0] = '='
	for i := 0; i < len(content); i++ {
		c := content[i]
		if c == '\n' || (c == '\r' && i+1 < len(content) && content[i+1] == '\n') {
			if c == '\r' {
				i++
			}
			out = append(out, eol...)
			lineLen = 0
			continue
		}
		atLineEnd := i+1 == len(content) || content[i+1] == '\n' || content[i+1] == '\r'
		switch {
		case (c == ' ' || c == '\t') && !atLineEnd:
			put(content[i : i+1])
		case c >= 33 && c <= 126 && c != '=':
			put(content[i : i+1])
		default:
			esc[1], esc[2] = upperHex[c>>4], upperHex[c&15]
			put(esc[:])
		}
	}
	if trailingEOL && !bytes.HasSuffix(out, []byte(eol)) {
		out = append(out, eol...)
	}
	return out
}

// decodeBase64 ignores line breaks and white space between groups, as RFC
// 2045 §6.8 requires of readers, and tolerates missing padding; any other
// character outside the alphabet is an error naming its offset.
func decodeBase64(body []byte, path string, partOff int) ([]byte, error) {
	clean := make([]byte, 0, len(body))
	for i, c := range body {
		switch {
		case c == '\r' || c == '\n' || c == ' ' || c == '\t':
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
			clean = append(clean, c)
		case c == '=':
			// Padding ends the data; anything after it but white space is junk.
			for _, d := range body[i+1:] {
				if d != '=' && d != '\r' && d != '\n' && d != ' ' && d != '\t' {
					return nil, parseErr(path, partOff+i, "base64 data after padding")
				}
			}
			return decodeB64Clean(clean, path, partOff)
		default:
			return nil, parseErr(path, partOff+i, "invalid base64 character %q", c)
		}
	}
	return decodeB64Clean(clean, path, partOff)
}

func decodeB64Clean(clean []byte, path string, partOff int) ([]byte, error) {
	if len(clean)%4 == 1 {
		return nil, parseErr(path, partOff, "truncated base64 body")
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, err := base64.RawStdEncoding.Decode(out, clean)
	if err != nil {
		return nil, parseErr(path, partOff, "bad base64 body: %v", err)
	}
	return out[:n], nil
}

func encodeBase64(content []byte, lineLen int, eol string, trailingEOL bool) []byte {
	enc := make([]byte, base64.StdEncoding.EncodedLen(len(content)))
	base64.StdEncoding.Encode(enc, content)
	out := make([]byte, 0, len(enc)+len(enc)/lineLen*len(eol)+len(eol))
	for len(enc) > lineLen {
		out = append(out, enc[:lineLen]...)
		out = append(out, eol...)
		enc = enc[lineLen:]
	}
	out = append(out, enc...)
	if trailingEOL && len(enc) > 0 {
		out = append(out, eol...)
	}
	return out
}
