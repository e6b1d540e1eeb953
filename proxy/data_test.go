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
