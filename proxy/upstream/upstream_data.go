package upstream

import (
	"bytes"
	"io"
)

// dataChunk is the most the DATA writer holds before writing: a typical
// campaign (60 KB, a little more after rewriting) leaves in one write
// call, where net/textproto's DotWriter copies it a byte at a time and
// writes it in 4 KB pieces (BenchmarkUpstreamDeliver).
const dataChunk = 128 << 10

// dataWriter writes a message as the body of DATA (RFC 5321 §4.5.2):
// dot-stuffed and terminated by CRLF "." CRLF. Its output is exactly what
// net/textproto's DotWriter produces for the same message (FuzzDataWriter
// holds it to that), so swapping go-smtp's client for ours changed nothing
// an upstream could see; only the copying is done in spans found with
// bytes.IndexByte instead of byte by byte.
type dataWriter struct {
	w     io.Writer
	buf   []byte // reused between messages on one connection
	chunk int    // dataChunk; smaller in tests to exercise the flushes
	err   error
}

// writeMessage writes msg and the end-of-data line, then flushes.
//
// DotWriter's rules, restated on the input bytes:
//   - a '.' that starts the message or follows an LF gets a second '.' in
//     front (transparency, RFC 5321 §4.5.2), so no body line can read as
//     the end of the data: the only CRLF "." CRLF written is the last one;
//   - an LF becomes CRLF unless it ends a CRLF pair. A CR that itself
//     follows such a pair-starting CR does not start a pair, so LF after a
//     run of CRs is a line end only when the run is odd ("\r\r\n" is sent
//     as "\r\r\r\n");
//   - other bytes, bare CR included, pass unchanged;
//   - the end: "\r\n.\r\n", or ".\r\n" after a final LF, or "\n.\r\n"
//     after a final pair-starting CR.
func (d *dataWriter) writeMessage(msg []byte) error {
	d.err = nil
	d.buf = d.buf[:0]
	start := 0 // first byte of msg not yet handed to span
	if len(msg) > 0 && msg[0] == '.' {
		d.putByte('.')
	}
	line := 0 // start of the current line
	for {
		j := bytes.IndexByte(msg[line:], '\n')
		if j < 0 {
			break
		}
		lf := line + j
		if !oddCRRun(msg[line:lf]) {
			d.span(msg[start:lf])
			d.putByte('\r')
			start = lf
		}
		line = lf + 1
		if line < len(msg) && msg[line] == '.' {
			d.span(msg[start:line])
			d.putByte('.')
			start = line
		}
	}
	d.span(msg[start:])
	switch {
	case len(msg) > 0 && msg[len(msg)-1] == '\n':
		d.putString(".\r\n")
	case oddCRRun(msg[line:]):
		d.putString("\n.\r\n")
	default:
		d.putString("\r\n.\r\n")
	}
	d.flush()
	return d.err
}

// oddCRRun reports whether b ends in an odd number of CRs, that is whether
// DotWriter is in its "after CR" state at the end of b (b holds no LF).
func oddCRRun(b []byte) bool {
	n := 0
	for i := len(b) - 1; i >= 0 && b[i] == '\r'; i-- {
		n++
	}
	return n%2 == 1
}

// span queues p, or writes it straight through when it is larger than a
// chunk, so a long clean stretch of the message is never copied.
func (d *dataWriter) span(p []byte) {
	if len(p) == 0 || d.err != nil {
		return
	}
	if len(d.buf)+len(p) <= d.chunk {
		d.buf = append(d.buf, p...)
		return
	}
	d.flush()
	if len(p) > d.chunk {
		d.write(p)
		return
	}
	d.buf = append(d.buf, p...)
}

func (d *dataWriter) putByte(b byte) {
	if len(d.buf) >= d.chunk {
		d.flush()
	}
	d.buf = append(d.buf, b)
}

func (d *dataWriter) putString(s string) {
	if len(d.buf)+len(s) > d.chunk {
		d.flush()
	}
	d.buf = append(d.buf, s...)
}

func (d *dataWriter) flush() {
	if len(d.buf) > 0 {
		d.write(d.buf)
		d.buf = d.buf[:0]
	}
}

func (d *dataWriter) write(p []byte) {
	if d.err != nil {
		return
	}
	_, d.err = d.w.Write(p)
}
