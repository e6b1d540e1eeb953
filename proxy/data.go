package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/emersion/go-smtp"
)

// Replies the relay gives about message content.
var (
	// errBareNewline refuses bare CR, and bare LF under BareLFReject, in
	// DATA (RFC 5321 §2.3.8). go-smtp ends DATA only at CRLF.CRLF, so
	// "\n.\n" or "\r.\r" never end a message here; refusing the whole
	// message keeps a smuggled second message, which another MTA
	// downstream might split off, from ever leaving pixelgate.
	errBareNewline = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message: "Bare CR or LF in message data refused (RFC 5321 section 2.3.8)"}
	errLineTooLong = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message: "Message line longer than 998 characters (RFC 5322 section 2.1.1)"}
)

// maxContentLine is RFC 5322 §2.1.1's hard limit on a line of a message,
// excluding CRLF. Real HTML mail comes close to it; anything longer would be
// broken by some hop anyway.
const maxContentLine = 998

// readData reads a message from the DATA stream and checks its line
// structure. The stream is already size-limited by the server. sizeHint is
// the SIZE the client declared (RFC 1870), 0 when none, already bounded by
// the accepted message size: the buffer starts at that size so a message
// is read into it without the copies of repeated growth.
// buf is where to read to (its contents are dropped); the message may be
// in a larger one when it did not fit, or in a new one when bare LFs were
// normalised (bareLF).
func readData(r io.Reader, sizeHint int64, buf []byte, bareLF BareLF) ([]byte, error) {
	if sizeHint <= 0 {
		sizeHint = initialDataBuffer
	}
	if want := int(sizeHint) + bytes.MinRead; cap(buf) < want {
		buf = make([]byte, 0, want)
	}
	b := bytes.NewBuffer(buf[:0])
	if _, err := b.ReadFrom(r); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return nil, se
		}
		if errors.Is(err, smtp.ErrTooLongLine) {
			// A line past the server's read limit is the same fault as
			// one past 998 characters, and as permanent: a 4xx here made
			// senders retry the same message forever (RFC 5321
			// §4.5.3.1.6 bounds a text line to 1000 octets with CRLF).
			return nil, errLineTooLong
		}
		return nil, fmt.Errorf("read message data: %w", err)
	}
	msg := b.Bytes()
	if bareLF != BareLFReject {
		msg = normalizeBareLF(msg)
	}
	if err := checkLines(msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// initialDataBuffer fits a typical HTML marketing message (60 KB or so)
// when the client declared no SIZE.
const initialDataBuffer = 96 << 10

// dataBuffers recycles the buffers messages are read into: a campaign is
// thousands of messages of one size, and a fresh buffer for each was a
// sixth of the relay's garbage. Only buffers up to
// maxPooledBuffer are kept, so one huge message does not stay resident.
type dataBuffers struct{ pool sync.Pool }

const maxPooledBuffer = 512 << 10

func (d *dataBuffers) get() []byte {
	if p, ok := d.pool.Get().(*[]byte); ok {
		return *p
	}
	return nil
}

// put takes back a buffer nothing refers to any more.
func (d *dataBuffers) put(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledBuffer {
		return
	}
	b = b[:0]
	d.pool.Put(&b)
}

// maxSizeHint bounds what a declared SIZE makes the relay set aside before
// any data arrived.
const maxSizeHint = 1 << 20

// checkLines refuses any CR not followed by LF, any LF not preceded by CR,
// and lines over the RFC 5322 limit. A bare CR or LF anywhere is reported
// before a long line: it is what could smuggle a second message past a
// downstream MTA (RFC 5321 §2.3.8), so a long line earlier in the message
// must not hide it. It goes line by line with IndexByte: the relay reads
// every message through here.
func checkLines(msg []byte) error {
	start, long := 0, false
	for {
		nl := bytes.IndexByte(msg[start:], '\n')
		if nl < 0 {
			break
		}
		end := start + nl // the LF
		if nl == 0 || msg[end-1] != '\r' || bytes.IndexByte(msg[start:end-1], '\r') >= 0 {
			return errBareNewline
		}
		long = long || end-1-start > maxContentLine
		start = end + 1
	}
	if bytes.IndexByte(msg[start:], '\r') >= 0 {
		return errBareNewline
	}
	if long || len(msg)-start > maxContentLine {
		return errLineTooLong
	}
	return nil
}
