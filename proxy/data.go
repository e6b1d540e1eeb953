package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-smtp"
)

// Replies the relay gives about message content.
var (
	// errBareNewline refuses bare CR or LF in DATA (RFC 5321 §2.3.8). go-smtp
	// ends DATA only at CRLF.CRLF, so "\n.\n" or "\r.\r" never end a message
	// here; refusing the whole message keeps a smuggled second message, which
	// another MTA downstream might split off, from ever leaving pixelgate.
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
// structure. The stream is already size-limited by the server.
func readData(r io.Reader) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return nil, se
		}
		return nil, fmt.Errorf("read message data: %w", err)
	}
	msg := buf.Bytes()
	if err := checkLines(msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// checkLines refuses any CR not followed by LF, any LF not preceded by CR,
// and lines over the RFC 5322 limit.
func checkLines(msg []byte) error {
	start := 0
	for i := 0; i < len(msg); i++ {
		switch msg[i] {
		case '\r':
			if i+1 >= len(msg) || msg[i+1] != '\n' {
				return errBareNewline
			}
			if i-start > maxContentLine {
				return errLineTooLong
			}
			i++
			start = i + 1
		case '\n':
			return errBareNewline
		}
	}
	if len(msg)-start > maxContentLine {
		return errLineTooLong
	}
	return nil
}
