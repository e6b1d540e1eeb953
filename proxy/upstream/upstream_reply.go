package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-smtp"
)

// Bounds on what an upstream's reply may make us buffer: a hostile or
// broken server must not grow our memory without limit. RFC 5321
// §4.5.3.1.5 sets 512 octets for a reply line; go-smtp's client allowed
// 2000, and real EHLO replies are a dozen lines.
const (
	maxReplyLine  = 2048
	maxReplyLines = 64
)

// errReplyTooLong is a reply that broke the bounds above.
var errReplyTooLong = errors.New("upstream reply too long")

// replyReader reads SMTP replies (RFC 5321 §4.2) from the connection.
type replyReader struct {
	r    *bufio.Reader
	text []byte // the last reply's text, lines joined by LF; reused
}

func newReplyReader(r io.Reader) *replyReader {
	return &replyReader{r: bufio.NewReaderSize(r, maxReplyLine)}
}

// read reads one possibly multi-line reply (RFC 5321 §4.2.1) and returns
// its code; its text, without codes, is in rr.text. Like net/textproto,
// a continuation line that does not carry the reply's code is kept as
// text rather than refused: only a well-formed last line ends the reply.
func (rr *replyReader) read() (int, error) {
	rr.text = rr.text[:0]
	code := 0
	for n := 0; ; n++ {
		if n == maxReplyLines {
			return 0, fmt.Errorf("%w: more than %d lines", errReplyTooLong, maxReplyLines)
		}
		line, err := rr.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return 0, fmt.Errorf("%w: a line longer than %d bytes", errReplyTooLong, maxReplyLine)
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return 0, fmt.Errorf("read reply: %w", err)
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		lc, more, text, ok := parseReplyLine(line)
		if n == 0 {
			if !ok {
				return 0, fmt.Errorf("malformed reply %q", truncate(line, 64))
			}
			code = lc
			rr.text = append(rr.text, text...)
		} else if !ok || lc != code {
			rr.text = append(append(rr.text, '\n'), bytes.TrimRight(line, "\r\n")...)
			more = true
		} else {
			rr.text = append(append(rr.text, '\n'), text...)
		}
		if !more {
			return code, nil
		}
	}
}

// parseReplyLine splits "250-text", "250 text" or "250" (the text is
// optional, RFC 5321 §4.2). The first digit is 2 to 5 (§4.2.1).
func parseReplyLine(line []byte) (code int, more bool, text []byte, ok bool) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || !isDigit(line[1]) || !isDigit(line[2]) {
		return 0, false, nil, false
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, false, nil, true
	}
	switch line[3] {
	case '-':
		more = true
	case ' ':
	default:
		return 0, false, nil, false
	}
	return code, more, line[4:], true
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// codeMatches is net/textproto's expectation rule: 0 takes any code, 25
// any 25x, 250 only 250.
func codeMatches(code, expect int) bool {
	switch {
	case expect <= 0:
		return true
	case expect < 10:
		return code/100 == expect
	case expect < 100:
		return code/10 == expect
	default:
		return code == expect
	}
}

// replyError is a reply as go-smtp's *smtp.SMTPError, so upstreamReply and
// the relay read our client's refusals as they read go-smtp's. An
// enhanced status code (RFC 3463 §2, announced by RFC 2034) leads the text
// and is repeated on each line; it is taken off every line.
func replyError(code int, text []byte) *smtp.SMTPError {
	se := &smtp.SMTPError{Code: code, Message: string(text)}
	first, rest, ok := strings.Cut(se.Message, " ")
	if !ok {
		return se
	}
	ec, ok := parseEnhancedCode(first)
	if !ok {
		return se
	}
	se.EnhancedCode = ec
	se.Message = strings.ReplaceAll(rest, "\n"+first+" ", "\n")
	return se
}

// parseEnhancedCode reads class "." subject "." detail: class 2, 4 or 5,
// subject and detail 1 to 3 digits (RFC 3463 §2).
func parseEnhancedCode(s string) (smtp.EnhancedCode, bool) {
	class, rest, ok1 := strings.Cut(s, ".")
	subject, detail, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || class != "2" && class != "4" && class != "5" {
		return smtp.EnhancedCode{}, false
	}
	sub, ok1 := shortNumber(subject)
	det, ok2 := shortNumber(detail)
	if !ok1 || !ok2 {
		return smtp.EnhancedCode{}, false
	}
	return smtp.EnhancedCode{int(class[0] - '0'), sub, det}, true
}

// shortNumber reads 1 to 3 decimal digits.
func shortNumber(s string) (int, bool) {
	if len(s) == 0 || len(s) > 3 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// truncate keeps error text short when quoting what an upstream sent.
func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
