package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"net/textproto"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

func readOne(in string) (int, string, error) {
	rr := newReplyReader(strings.NewReader(in))
	code, err := rr.read()
	return code, string(rr.text), err
}

func TestReadReply(t *testing.T) {
	cases := []struct {
		in   string
		code int
		text string
	}{
		{"250 ok\r\n", 250, "ok"},
		{"250\r\n", 250, ""}, // text is optional (RFC 5321 §4.2)
		{"250-smtp.example\r\n250-SIZE 100\r\n250 8BITMIME\r\n", 250, "smtp.example\nSIZE 100\n8BITMIME"},
		{"354 go\n", 354, "go"},
		// Like net/textproto: an odd continuation line is kept as text.
		{"250-a\r\nnonsense\r\n251 b\r\n250 c\r\n", 250, "a\nnonsense\n251 b\nc"},
	}
	for _, c := range cases {
		code, text, err := readOne(c.in)
		if err != nil || code != c.code || text != c.text {
			t.Errorf("%q: %d %q %v, want %d %q", c.in, code, text, err, c.code, c.text)
		}
	}
	for _, bad := range []string{"", "250-unfinished\r\n", "hello\r\n", "199 no\r\n", "25 short\r\n", "250x\r\n", "250 no line end"} {
		if code, text, err := readOne(bad); err == nil {
			t.Errorf("%q accepted as %d %q", bad, code, text)
		}
	}
}

// TestReadReplyBounded: a hostile upstream cannot make us buffer without
// limit, by line length or by line count.
func TestReadReplyBounded(t *testing.T) {
	long := "250 " + strings.Repeat("x", 100_000) + "\r\n"
	many := strings.Repeat("250-x\r\n", 100_000) + "250 x\r\n"
	for name, in := range map[string]string{"long line": long, "many lines": many} {
		rr := newReplyReader(strings.NewReader(in))
		if _, err := rr.read(); !errors.Is(err, errReplyTooLong) {
			t.Errorf("%s: %v, want errReplyTooLong", name, err)
		}
		if cap(rr.text) > maxReplyLine*maxReplyLines {
			t.Errorf("%s: buffered %d bytes", name, cap(rr.text))
		}
	}
	// At the bounds, still read.
	edge := strings.Repeat("250-"+strings.Repeat("y", maxReplyLine-6)+"\r\n", maxReplyLines-1) + "250 end\r\n"
	if _, err := newReplyReader(strings.NewReader(edge)).read(); err != nil {
		t.Errorf("reply at the bounds refused: %v", err)
	}
}

func TestReplyError(t *testing.T) {
	cases := []struct {
		code int
		text string
		ec   smtp.EnhancedCode
		msg  string
	}{
		{550, "5.1.1 no such user", smtp.EnhancedCode{5, 1, 1}, "no such user"},
		{550, "5.7.1 line one\n5.7.1 line two", smtp.EnhancedCode{5, 7, 1}, "line one\nline two"},
		{451, "4.4.2 idle\n", smtp.EnhancedCode{4, 4, 2}, "idle\n"},
		{554, "no enhanced code", smtp.EnhancedCode{}, "no enhanced code"},
		{550, "5.1 too short", smtp.EnhancedCode{}, "5.1 too short"},
		{550, "6.1.1 bad class", smtp.EnhancedCode{}, "6.1.1 bad class"},
		{550, "5.1000.1 subject too long", smtp.EnhancedCode{}, "5.1000.1 subject too long"},
		{550, "5.1.x not a number", smtp.EnhancedCode{}, "5.1.x not a number"},
		{550, "5.1.1", smtp.EnhancedCode{}, "5.1.1"},
	}
	for _, c := range cases {
		se := replyError(c.code, []byte(c.text))
		if se.Code != c.code || se.EnhancedCode != c.ec || se.Message != c.msg {
			t.Errorf("%d %q: got %d %v %q, want %v %q", c.code, c.text, se.Code, se.EnhancedCode, se.Message, c.ec, c.msg)
		}
	}
}

// FuzzReadReply: any bytes from an upstream give a reply or an error,
// never a panic or unbounded buffering, and a reply read agrees with
// net/textproto (what go-smtp's client read) wherever textproto reads it.
func FuzzReadReply(f *testing.F) {
	f.Add([]byte("250-a\r\n250 b\r\n"))
	f.Add([]byte("550 5.1.1 no\r\n"))
	f.Add([]byte("250-a\r\nx\r\n250 b\r\n"))
	f.Add([]byte("250-a\r\nxx\r\r\n250 b\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		rr := newReplyReader(bytes.NewReader(in))
		code, err := rr.read()
		if err != nil {
			return
		}
		if code < 200 || code > 599 || bytes.Count(rr.text, []byte("\n")) >= maxReplyLines {
			t.Fatalf("%q: code %d, %d text lines", in, code, bytes.Count(rr.text, []byte("\n"))+1)
		}
		// We also accept a bare code ("250", RFC 5321 §4.2), which
		// textproto refuses; compare only replies without one.
		for _, line := range strings.Split(string(in), "\n") {
			if len(strings.TrimSuffix(line, "\r")) == 3 {
				return
			}
		}
		tcode, tmsg, terr := textproto.NewReader(bufio.NewReader(bytes.NewReader(in))).ReadResponse(0)
		if terr != nil {
			t.Fatalf("%q: we read %d %q, textproto refused: %v", in, code, rr.text, terr)
		}
		if tcode != code || tmsg != string(rr.text) {
			t.Fatalf("%q: we read %d %q, textproto %d %q", in, code, rr.text, tcode, tmsg)
		}
		_ = replyError(code, rr.text)
	})
}
