package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

func TestNormalizeBareLF(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\r\nb\nc", "a\r\nb\r\nc"},
		{"\n", "\r\n"},
		{"\n\n", "\r\n\r\n"},
		// Dot-stuffed lines after a bare LF lose their stuffing dot.
		{"a\n..hidden\n", "a\r\n.hidden\r\n"},
		{"a\n.\nb", "a\r\n\r\nb"},
		{"a\n.\r\nb", "a\r\n\r\nb"},
		// After CRLF go-smtp already unstuffed: nothing more is removed.
		{"a\r\n.b\r\n", "a\r\n.b\r\n"},
		// Bare CRs are checkLines' business.
		{"a\rb\n", "a\rb\r\n"},
		{"a\r\r\n", "a\r\r\n"},
	} {
		if got := string(normalizeBareLF([]byte(c.in))); got != c.want {
			t.Errorf("normalizeBareLF(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// normalizeBareLFByByte is the plain statement of the rule: every LF not
// preceded by CR becomes CRLF, and a "." right after such an LF is dropped.
func normalizeBareLFByByte(msg []byte) []byte {
	var out []byte
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c != '\n' || (i > 0 && msg[i-1] == '\r') {
			out = append(out, c)
			continue
		}
		out = append(out, '\r', '\n')
		if i+1 < len(msg) && msg[i+1] == '.' {
			i++
		}
	}
	return out
}

// Seeds in testdata/fuzz/FuzzNormalizeBareLF.
func FuzzNormalizeBareLF(f *testing.F) {
	f.Fuzz(func(t *testing.T, msg []byte) {
		got := normalizeBareLF(bytes.Clone(msg))
		if want := normalizeBareLFByByte(msg); !bytes.Equal(got, want) {
			t.Fatalf("normalizeBareLF(%q) = %q, byte by byte %q", msg, got, want)
		}
		// What comes out has no bare LF left: checkLines may refuse it
		// only for a bare CR or a long line.
		if err := checkLines(got); err != nil && !errors.Is(err, errLineTooLong) &&
			!bytes.Contains(bytes.ReplaceAll(got, []byte("\r\n"), nil), []byte("\r")) {
			t.Fatalf("normalised %q refused: %v", got, err)
		}
	})
}

// smugglingPayloads are the DATA contents that try to end the message early
// and start a second one (SEC Consult's SMTP smuggling list and variants
// with NUL), each followed by the proper end of data.
var smugglingPayloads = map[string]string{
	"LF.LF":       "\n.\n",
	"LF.CRLF":     "\n.\r\n",
	"CR.CR":       "\r.\r",
	"CRLF.CR":     "\r\n.\r",
	"CRLF.LF":     "\r\n.\n",
	"CR.CRLF":     "\r.\r\n",
	"LF.CR":       "\n.\r",
	"CR.LF":       "\r.\n",
	"CRLF NUL.":   "\r\n\x00.\r\n",
	"CRLF.NUL":    "\r\n.\x00\r\n",
	"LF NUL.LF":   "\n\x00.\n",
	"CRLF.NULLF":  "\r\n.\x00\n",
	"LF.LF twice": "\n.\n\n.\n",
}

// smuggle runs one transaction whose body tries to smuggle a second message
// to victim@ and returns the relay's replies.
func smuggle(t *testing.T, h *harness, sep string) string {
	t.Helper()
	payload := "Subject: a\r\n\r\nfirst" + sep + "MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n"
	script := "EHLO c.test\r\nMAIL FROM:<news@shop.example>\r\nRCPT TO:<a@example.net>\r\nDATA\r\n" + payload + ".\r\nQUIT\r\n"
	return rawSMTP(t, h.addr, script)
}

// finalReplies lists the reply codes of the final line of each reply.
func finalReplies(out string) []string {
	return regexp.MustCompile(`(?m)^(\d{3}) `).FindAllString(out, -1)
}

// Whatever the mode, a smuggling payload makes one message or a refusal:
// the relay answers exactly greeting, EHLO, MAIL, RCPT, DATA, the end of
// data and QUIT, and nothing reaches the upstream for the victim.
func TestRelaySmugglingNeverTwoMessages(t *testing.T) {
	for _, mode := range []BareLF{BareLFNormalize, BareLFReject} {
		h := newHarness(t, func(c *Config, _ *smtpsink.Options) { c.BareLF = mode })
		accepted := 0
		for name, sep := range smugglingPayloads {
			out := smuggle(t, h, sep)
			r := finalReplies(out)
			if len(r) != 7 || r[0] != "220 " || r[4] != "354 " || r[6] != "221 " {
				t.Errorf("%s %s: replies %q, want 7 (no smuggled command answered):\n%s", mode, name, r, out)
				continue
			}
			// What each payload must get: a bare CR is refused in both
			// modes, a bare LF only in reject mode. "\r\n.\r" is the
			// exception: go-smtp's DATA reader drops the "." and CR after
			// CRLF, so no bare CR reaches pixelgate.
			rest := strings.ReplaceAll(sep, "\r\n", "")
			bareLF := strings.Contains(rest, "\n")
			bareCR := strings.Contains(rest, "\r") && sep != "\r\n.\r"
			want := "250 "
			if bareCR || (bareLF && mode == BareLFReject) {
				want = "554 "
			}
			if r[5] != want {
				t.Errorf("%s %s: end of data answered %q, want %q:\n%s", mode, name, r[5], want, out)
			}
			if r[5] == "250 " {
				accepted++
			}
		}
		msgs := h.sink.Messages()
		if len(msgs) != accepted {
			t.Fatalf("%s: upstream got %d messages for %d accepted transactions", mode, len(msgs), accepted)
		}
		for _, m := range msgs {
			if len(m.To) != 1 || m.To[0] != "a@example.net" || m.From != "news@shop.example" {
				t.Fatalf("%s: smuggled envelope reached the upstream: %s -> %v", mode, m.From, m.To)
			}
			// The smuggled lines are content of the one message, and no
			// line of it can end the data at the next hop.
			if !strings.Contains(string(m.Data), "MAIL FROM:<evil@attacker.example>") {
				t.Errorf("%s: smuggled lines lost instead of kept as content:\n%q", mode, m.Data)
			}
			if strings.Contains(string(m.Data), "\r\n.\r\n") || bytes.Contains(bytes.ReplaceAll(m.Data, []byte("\r\n"), nil), []byte("\n")) {
				t.Errorf("%s: delivered copy has an end-of-data line or a bare LF:\n%q", mode, m.Data)
			}
		}
		if mode == BareLFNormalize && accepted == 0 {
			t.Fatal("normalize mode accepted none of the bare-LF payloads")
		}
	}
}

// Python's smtplib sends a bytes message as it is: with "\n" line endings
// the lines end in bare LF, and lines starting with "." are dot-stuffed.
func TestRelayAcceptsPythonSmtplibBareLF(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: smtplib client unavailable")
	}
	for _, mode := range []BareLF{BareLFNormalize, BareLFReject} {
		h := newHarness(t, func(c *Config, _ *smtpsink.Options) { c.BareLF = mode })
		script := fmt.Sprintf(`
import smtplib, sys
msg = b"From: news@shop.example\nTo: a@example.net\nSubject: bare LF\nContent-Type: text/plain\n\nfirst line\n.hidden dot line\nlast line\n"
s = smtplib.SMTP("127.0.0.1", %s)
try:
    s.sendmail("news@shop.example", ["a@example.net"], msg)
except smtplib.SMTPDataError as e:
    print(e.smtp_code, e.smtp_error.decode())
    sys.exit(3)
s.quit()
`, h.addr[strings.LastIndexByte(h.addr, ':')+1:])
		cmd := exec.Command(py, "-c", script)
		cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
		out, err := cmd.CombinedOutput()
		if mode == BareLFReject {
			if err == nil || !strings.Contains(string(out), "554 5.6.0 Bare CR or LF") {
				t.Fatalf("reject mode: smtplib got %v\n%s", err, out)
			}
			if n := h.sink.Count(); n != 0 {
				t.Fatalf("reject mode delivered %d", n)
			}
			continue
		}
		if err != nil {
			t.Fatalf("smtplib: %v\n%s", err, out)
		}
		msgs := h.sink.Messages()
		if len(msgs) != 1 {
			t.Fatalf("upstream got %d messages", len(msgs))
		}
		d := string(msgs[0].Data)
		if strings.Contains(strings.ReplaceAll(d, "\r\n", ""), "\n") {
			t.Errorf("delivered copy still has bare LF:\n%q", d)
		}
		if !strings.Contains(d, "\r\nSubject: bare LF\r\n") || !strings.Contains(d, "\r\n\r\nfirst line\r\n.hidden dot line\r\nlast line\r\n") {
			t.Errorf("delivered copy not the message with CRLF lines:\n%q", d)
		}
	}
}
