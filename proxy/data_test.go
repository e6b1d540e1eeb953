package proxy

import (
	"errors"
	"fmt"
	"strings"
	"sync"
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
	start, long := 0, false
	for i := 0; i < len(msg); i++ {
		switch msg[i] {
		case '\r':
			if i+1 >= len(msg) || msg[i+1] != '\n' {
				return errBareNewline
			}
			long = long || i-start > maxContentLine
			i++
			start = i + 1
		case '\n':
			return errBareNewline
		}
	}
	if long || len(msg)-start > maxContentLine {
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

// The DATA buffers are reused from message to message (proxy/data.go): every
// message delivered must be its own, whatever was read into the buffer
// before it, on one connection and across parallel ones.
func TestDataBuffersReused(t *testing.T) {
	h := newHarness(t)
	const conns, per = 3, 8
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := h.dial(false)
			for i := range per {
				// Sizes go down and up so a later message is shorter
				// than what the reused buffer held.
				body := strings.Repeat(fmt.Sprintf("conn %d message %d\r\n", c, i), 1+((i*7)%5)*400)
				msg := fmt.Sprintf("From: a@shop.example\r\nSubject: m%d-%d\r\nContent-Type: text/plain\r\n\r\n%s", c, i, body)
				if err := send(cl, "a@shop.example", fmt.Sprintf("r%d-%d@example.net", c, i), msg); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := h.sink.Messages()
	if len(got) != conns*per {
		t.Fatalf("sink got %d messages, want %d", len(got), conns*per)
	}
	for _, m := range got {
		var c, i int
		if _, err := fmt.Sscanf(m.To[0], "r%d-%d@example.net", &c, &i); err != nil {
			t.Fatalf("recipient %q: %v", m.To[0], err)
		}
		want := strings.Repeat(fmt.Sprintf("conn %d message %d\r\n", c, i), 1+((i*7)%5)*400)
		_, body, ok := strings.Cut(string(m.Data), "\r\n\r\n")
		if !ok || !strings.HasPrefix(body, want) || strings.Count(body, "message") != strings.Count(want, "message") {
			t.Fatalf("message for %s is not its own: %d bytes of body, want %d", m.To[0], len(body), len(want))
		}
	}
}
