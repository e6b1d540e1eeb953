package proxy

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckLines(t *testing.T) {
	long := strings.Repeat("x", maxContentLine)
	cases := []struct {
		name string
		msg  string
		want error
	}{
		{"clean", "A: b\r\n\r\nline\r\n", nil},
		{"998 characters", "A: b\r\n\r\n" + long + "\r\n", nil},
		{"999 characters", "A: b\r\n\r\n" + long + "x\r\n", errLineTooLong},
		{"bare LF", "A: b\r\n\r\nline\nmore\r\n", errBareNewline},
		{"bare CR", "A: b\r\n\r\nline\rmore\r\n", errBareNewline},
		{"LF dot LF smuggling", "A: b\r\n\r\nx\n.\nMAIL FROM:<evil@example.com>\r\n", errBareNewline},
		{"CR dot CR smuggling", "A: b\r\n\r\nx\r.\rMAIL FROM:<evil@example.com>\r\n", errBareNewline},
		{"trailing CR", "A: b\r\n\r\nx\r", errBareNewline},
	}
	for _, c := range cases {
		if got := checkLines([]byte(c.msg)); !errors.Is(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func FuzzCheckLines(f *testing.F) {
	f.Add([]byte("a\r\nb\r\n"))
	f.Add([]byte("a\nb"))
	f.Add([]byte("\r.\r"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		err := checkLines(msg)
		s := string(msg)
		clean := !strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\r") &&
			!strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\n")
		if clean != (err == nil || errors.Is(err, errLineTooLong)) {
			t.Fatalf("checkLines(%q) = %v, clean=%v", msg, err, clean)
		}
	})
}

// checkLinesByByte is the plain byte-by-byte statement of the line rules
// that checkLines implements with IndexByte: both must agree on every input.
func checkLinesByByte(msg []byte) error {
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

func FuzzCheckLinesSameAsByByte(f *testing.F) {
	long := strings.Repeat("y", maxContentLine)
	for _, s := range []string{"a\r\nb\r\n", "a\nb", "\r.\r", "\n", "\r", "\r\r\n", long + "x\r\nz\n",
		"ok\r\n" + long + "x", "ok\r\n" + long + "\r\n\n", long + "xx\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if got, want := checkLines(msg), checkLinesByByte(msg); got != want {
			t.Fatalf("checkLines(%q) = %v, byte by byte: %v", msg, got, want)
		}
	})
}
