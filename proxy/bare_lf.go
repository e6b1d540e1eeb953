package proxy

import (
	"bytes"
	"fmt"
)

// BareLF says what the relay does with a line ending in LF alone in DATA.
//
// RFC 5321 §2.3.8 requires CRLF, but common clients (Python's smtplib with
// a bytes message, PHP mailers, shell scripts) send bare LF. Postfix ≥ 3.9
// accepts them by default ("smtpd_forbid_bare_newline = normalize"): each
// bare LF is read as a line ending and becomes CRLF, while the end of the
// data stays the exact CRLF "." CRLF. pixelgate does the same.
//
// SMTP smuggling stays impossible either way: go-smtp's DATA reader ends
// the message only at CRLF "." CRLF, so "\n.\n", "\n.\r\n", "\r\n.\n" and
// the like are message content here; after normalising they are content
// lines that the upstream writer dot-stuffs (RFC 5321 §4.5.2), so no hop
// after pixelgate can read them as an end of data either. A bare CR (not
// followed by LF) has no such reading and is refused in both modes.
type BareLF string

const (
	// BareLFNormalize turns each bare LF into CRLF (the default).
	BareLFNormalize BareLF = "normalize"
	// BareLFReject refuses a message with any bare LF (554 5.6.0).
	BareLFReject BareLF = "reject"
)

// ParseBareLF checks a --smtp-bare-lf value.
func ParseBareLF(s string) (BareLF, error) {
	switch m := BareLF(s); m {
	case BareLFNormalize, BareLFReject:
		return m, nil
	}
	return "", fmt.Errorf("bare LF mode %q: want %s or %s", s, BareLFNormalize, BareLFReject)
}

// normalizeBareLF returns msg with every LF not preceded by CR turned into
// CRLF; msg itself when it has none (the common case costs one scan). The
// result is a new slice when anything changed.
//
// A line that starts after a bare LF and begins with "." loses that dot:
// go-smtp undoes dot-stuffing only after CRLF, and a client sending bare LF
// lines stuffs the lines that follow them too (smtplib quotes every "." at
// the start of a line, whatever ended the line before), so the dot is
// transparency, not content (RFC 5321 §4.5.2). Postfix reads such lines the
// same way.
//
// Bare CRs are left alone: checkLines refuses them afterwards.
func normalizeBareLF(msg []byte) []byte {
	n := countBareLF(msg)
	if n == 0 {
		return msg
	}
	out := make([]byte, 0, len(msg)+n)
	start := 0 // first byte of msg not yet copied
	line := 0  // where the search for the next LF starts
	for {
		j := bytes.IndexByte(msg[line:], '\n')
		if j < 0 {
			break
		}
		lf := line + j
		line = lf + 1
		if lf > 0 && msg[lf-1] == '\r' {
			continue
		}
		out = append(append(out, msg[start:lf]...), '\r', '\n')
		start = line
		if start < len(msg) && msg[start] == '.' {
			start++
			line++
		}
	}
	return append(out, msg[start:]...)
}

// countBareLF counts the LFs not preceded by CR.
func countBareLF(msg []byte) int {
	n := 0
	for i := bytes.IndexByte(msg, '\n'); i >= 0; {
		if i == 0 || msg[i-1] != '\r' {
			n++
		}
		j := bytes.IndexByte(msg[i+1:], '\n')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return n
}
