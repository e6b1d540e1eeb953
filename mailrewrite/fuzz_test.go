package mailrewrite

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRewrite: on any input the rewrite never panics; it either refuses
// with a *ParseError and no output, or returns a message that parses, in
// which the classifier finds no tracker or per-recipient URL left after a
// refusal, and that a second rewrite leaves unchanged.
func FuzzRewrite(f *testing.F) {
	files, _ := filepath.Glob("testdata/messages/*.eml")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"Content-Type: text/html\r\n\r\n<img src=\"https://t.example/open?u=Ab12Cd34Ef56Gh78\" width=1 height=1>",
		"Content-Type: text/html\r\n\r\n<<img src=\"https://t.example/x.gif\" width=1 height=1>img src=\"https://t2.example/y.gif\" width=1 height=1>",
		"Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<img src=3D\"https://sendgrid.ne=\r\nt/wf/open?upn=3Dabc\">",
		"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<div style=\"display:none\"><img src=\"http://x.example/a.png\"></div>\r\n--b--\r\n",
		"Content-Type: text/html\r\n\r\n<style>@import url(https://emltrk.com/x?d=1);a{background:url('//t.example/p?e=Xk29FqLmZt8RwP3nVb7C')}</style>",
		"Content-Type: text/html\r\n\r\n<!--[if mso]><v:fill src=\"https://t.example/wf/open?upn=Zx81Kq3Lm5Np7Rs9Tv1\"/><![endif]-->",
		"Content-Type: text/x-amp-html\r\n\r\n<amp-pixel src=\"https://t.example/p\"></amp-pixel><amp-analytics><script>{}</script></amp-analytics>",
		"Content-Type: text/plain\r\n\r\n{{pixelgate_consent_url}} {{pixelgate_consent_request}}",
		"Content-Type: text/html\r\n\r\n<a href=\"https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fx.example%2F%3Fmc_eid%3Dab12cd34&amp;data=1\">a</a><a href=\"https://x.example/?_hsenc=p2A&amp;u=1\">b</a>",
		"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
		"Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\nPGltZyBzcmM9Imh0dHBzOi8vdC5leGFtcGxlL28vQWJjRGVmMTIzNDU2Nzg5MC5naWYiPg==",
	} {
		f.Add([]byte(s))
	}
	rw := newTestRewriter(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		d := decisionFor(Refused)
		out, rep, err := rw.Rewrite(msg, d)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a ParseError: %v", err)
			}
			if out != nil || rep != nil {
				t.Fatal("partial output with an error")
			}
			return
		}
		if _, err := parseMessage(out); err != nil {
			t.Fatalf("output does not parse: %v", err)
		}
		after, err := rw.Scan(out, d.Recipient)
		if err != nil {
			t.Fatalf("output does not scan: %v", err)
		}
		for _, fd := range after.Findings {
			if fd.Class == ClassTracker || fd.Class == ClassPerRecipient {
				t.Fatalf("left after refusal: %+v\noutput:\n%q", fd, out)
			}
		}
		again, _, err := rw.Rewrite(out, d)
		if err != nil {
			t.Fatalf("second rewrite: %v", err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n%s", firstDiff(out, again))
		}
		// Granted: at most one pixelgate pixel, and idempotent too.
		g := decisionFor(Granted)
		gout, _, err := rw.Rewrite(msg, g)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("granted: %v", err)
			}
			return
		}
		if n := bytes.Count(gout, []byte("https://pg.example.net/o/")); n > 1 {
			t.Fatalf("granted: %d pixelgate pixels", n)
		}
		gagain, _, err := rw.Rewrite(gout, g)
		if err != nil || !bytes.Equal(gagain, gout) {
			t.Fatalf("granted not idempotent (%v):\n%s", err, firstDiff(gout, gagain))
		}
	})
}
