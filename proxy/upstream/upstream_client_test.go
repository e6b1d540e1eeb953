package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/pixelgate/pixelgate/internal/testsupport"
	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

// scriptServer is an SMTP peer on 127.0.0.1 that answers each command
// line with what answer returns, for the upstream behaviours a go-smtp
// server will not show: no EHLO, hostile replies, RFC 2034 multi-line
// refusals. It records the command lines it received.
type scriptServer struct {
	addr string
	tls  *tls.Config // when set, a 220 reply to STARTTLS starts TLS

	mu    sync.Mutex
	cmds  []string
	conns int
	data  []string
	// ahead holds, for each command, whether more commands were already
	// waiting behind it when it was read (the client pipelined).
	ahead []bool
}

// startScript serves until the test ends. answer gets each command line
// without CRLF (and "." for the end of data) and returns the reply bytes.
func startScript(t *testing.T, answer func(cmd string) string) *scriptServer {
	t.Helper()
	return startScriptTLS(t, nil, answer)
}

func startScriptTLS(t *testing.T, cfg *tls.Config, answer func(cmd string) string) *scriptServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptServer{addr: l.Addr().String(), tls: cfg}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				s.serve(conn, answer)
			}()
		}
	}()
	return s
}

func (s *scriptServer) serve(conn net.Conn, answer func(string) string) {
	r := bufio.NewReader(conn)
	if _, err := io.WriteString(conn, "220 script.test ESMTP\r\n"); err != nil {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(line, "\r\n")
		s.mu.Lock()
		s.cmds = append(s.cmds, cmd)
		s.ahead = append(s.ahead, r.Buffered() > 0)
		s.mu.Unlock()
		reply := answer(cmd)
		if _, err := io.WriteString(conn, reply); err != nil {
			return
		}
		switch {
		case strings.HasPrefix(reply, "354"):
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(l)
			}
			s.mu.Lock()
			s.data = append(s.data, data.String())
			s.mu.Unlock()
			if _, err := io.WriteString(conn, answer(".")); err != nil {
				return
			}
		case strings.HasPrefix(cmd, "QUIT"):
			return
		case cmd == "STARTTLS" && strings.HasPrefix(reply, "220") && s.tls != nil:
			tc := tls.Server(conn, s.tls)
			if tc.Handshake() != nil {
				return
			}
			conn, r = tc, bufio.NewReader(tc)
		}
	}
}

func (s *scriptServer) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

// received is the number of connections and the messages so far.
func (s *scriptServer) received() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns, append([]string(nil), s.data...)
}

// esmtp answers like a plain ESMTP server advertising ext.
func esmtp(ext ...string) func(string) string {
	return func(cmd string) string {
		verb, _, _ := strings.Cut(strings.ToUpper(cmd), " ")
		switch verb {
		case "EHLO":
			r := "250-script.test\r\n"
			for _, e := range ext {
				r += "250-" + e + "\r\n"
			}
			return r + "250 HELP\r\n"
		case "DATA":
			return "354 go ahead\r\n"
		case "QUIT":
			return "221 2.0.0 bye\r\n"
		default:
			return "250 2.0.0 ok\r\n"
		}
	}
}

func deliverTo(t *testing.T, addr string, env Envelope, msg string) error {
	t.Helper()
	up, err := ParseUpstream(UpstreamConfig{URL: "smtp://" + addr + "?tls=none", Timeout: 2 * time.Second, DataTimeout: 2 * time.Second, MaxIdle: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	return up.Deliver(context.Background(), env, []byte(msg))
}

// TestUpstreamMailParameters: SIZE, BODY=8BITMIME and SMTPUTF8 go on MAIL
// FROM when offered (keywords in any case) and needed; the message
// arrives whole.
func TestUpstreamMailParameters(t *testing.T) {
	s := startScript(t, esmtp("size 10240000", "8bitmime", "SMTPUTF8", "PIPELINING"))
	env := Envelope{From: "a@x.example", To: "jos\u00e9@y.example", UTF8: true}
	if err := deliverTo(t, s.addr, env, plainMsg); err != nil {
		t.Fatal(err)
	}
	cmds := s.commands()
	want := []string{"EHLO localhost", "MAIL FROM:<a@x.example> BODY=8BITMIME SIZE=" + strconv.Itoa(len(plainMsg)) + " SMTPUTF8", "RCPT TO:<jos\u00e9@y.example>", "DATA", "QUIT"}
	if strings.Join(cmds, "|") != strings.Join(want, "|") {
		t.Errorf("commands\n%q\nwant\n%q", cmds, want)
	}
	if conns, data := s.received(); conns != 1 || len(data) != 1 || data[0] != plainMsg {
		t.Errorf("%d connections, data %q", conns, data)
	}
}

// TestUpstreamHELOFallback: a server that refuses EHLO gets HELO and a
// plain MAIL FROM, no parameters it did not offer (RFC 5321 §3.2).
func TestUpstreamHELOFallback(t *testing.T) {
	plain := esmtp()
	s := startScript(t, func(cmd string) string {
		if strings.HasPrefix(cmd, "EHLO") {
			return "502 5.5.1 what?\r\n"
		}
		return plain(cmd)
	})
	if err := deliverTo(t, s.addr, Envelope{From: "a@x.example", To: "b@y.example"}, plainMsg); err != nil {
		t.Fatal(err)
	}
	cmds := s.commands()
	if len(cmds) < 3 || cmds[1] != "HELO localhost" || cmds[2] != "MAIL FROM:<a@x.example>" {
		t.Errorf("commands %q", cmds)
	}
	// Without 8BITMIME, 8-bit content is refused here, not downgraded.
	err := deliverTo(t, s.addr, Envelope{From: "a@x.example", To: "b@y.example"}, "Subject: caf\u00e9\r\n\r\n\u00e9t\u00e9\r\n")
	assertReply(t, err, 554, smtp.EnhancedCode{5, 6, 3})
}

// TestUpstreamMultilineRefusal: an RFC 2034 multi-line refusal reaches the
// client with its enhanced code and every line, and the connection is
// reset and reused for the next message.
func TestUpstreamMultilineRefusal(t *testing.T) {
	plain := esmtp("8BITMIME")
	var mu sync.Mutex
	refuse := true
	s := startScript(t, func(cmd string) string {
		mu.Lock()
		defer mu.Unlock()
		if strings.HasPrefix(cmd, "RCPT") && refuse {
			refuse = false
			return "550-5.7.1 mailbox disabled\r\n550-5.7.1 see https://esp.example/why\r\n550 5.7.1 for policy reasons\r\n"
		}
		return plain(cmd)
	})
	up, _ := ParseUpstream(UpstreamConfig{URL: "smtp://" + s.addr + "?tls=none", MaxIdle: 1})
	defer up.Close()
	env := Envelope{From: "a@x.example", To: "b@y.example"}
	se := assertReply(t, up.Deliver(context.Background(), env, []byte(plainMsg)), 550, smtp.EnhancedCode{5, 7, 1})
	if want := "Upstream: mailbox disabled\nsee https://esp.example/why\nfor policy reasons"; se.Message != want {
		t.Errorf("message %q, want %q", se.Message, want)
	}
	if err := up.Deliver(context.Background(), env, []byte(plainMsg)); err != nil {
		t.Fatal(err)
	}
	cmds := s.commands()
	if len(cmds) < 4 || cmds[3] != "RSET" {
		t.Errorf("no RSET after the refused RCPT: %q", cmds)
	}
	if conns, data := s.received(); conns != 1 || len(data) != 1 {
		t.Errorf("%d connections, %d messages; want 1 and 1", conns, len(data))
	}
}

// TestUpstreamHostileReplies: replies that would make us buffer without
// bound, or that try to slip a plain-text reply past STARTTLS, give 451
// 4.4.1 (the client keeps the message) and nothing is sent.
func TestUpstreamHostileReplies(t *testing.T) {
	cases := map[string]func(string) string{
		"endless EHLO": func(cmd string) string {
			return strings.Repeat("250-AUTH PLAIN LOGIN\r\n", 10_000) + "250 ok\r\n"
		},
		"endless line": func(cmd string) string {
			return "250 " + strings.Repeat("x", 50_000) + "\r\n"
		},
		"STARTTLS injection": func(cmd string) string {
			switch {
			case strings.HasPrefix(cmd, "EHLO"):
				return "250-script.test\r\n250 STARTTLS\r\n"
			case cmd == "STARTTLS":
				return "220 2.0.0 ready\r\n250 2.0.0 injected\r\n"
			}
			return "250 ok\r\n"
		},
		"no STARTTLS": esmtp("8BITMIME"),
	}
	cert, clientTLS := testsupport.TLS(t)
	for name, answer := range cases {
		s := startScriptTLS(t, cert.TLSConfig(), answer)
		url := "smtp://" + s.addr + "?tls=none"
		if strings.Contains(name, "STARTTLS") {
			url = "smtp://" + s.addr
		}
		up, _ := ParseUpstream(UpstreamConfig{URL: url, Timeout: time.Second, TLS: clientTLS})
		err := up.Deliver(context.Background(), Envelope{From: "a@x.example", To: "b@y.example"}, []byte(plainMsg))
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 451 || se.EnhancedCode != (smtp.EnhancedCode{4, 4, 1}) {
			t.Errorf("%s: %v, want 451 4.4.1", name, err)
		}
		for _, c := range s.commands() {
			if strings.HasPrefix(c, "MAIL") {
				t.Errorf("%s: a transaction was started", name)
			}
		}
	}
}

// TestUpstreamImplicitTLS: smtps:// speaks TLS from the first byte
// (RFC 8314 §3.3) to a real go-smtp server behind a TLS listener.
func TestUpstreamImplicitTLS(t *testing.T) {
	cert, clientTLS := testsupport.TLS(t)
	sink := testsupport.StartSink(t, smtpsink.Options{})
	l, err := tls.Listen("tcp", "127.0.0.1:0", cert.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp", sink.Addr)
				if err != nil {
					return
				}
				defer out.Close()
				go io.Copy(out, in)
				io.Copy(in, out)
			}()
		}
	}()
	up, err := ParseUpstream(UpstreamConfig{URL: "smtps://" + l.Addr().String(), TLS: clientTLS, MaxIdle: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	if err := up.Deliver(context.Background(), Envelope{From: "a@x.example", To: "b@y.example"}, []byte(plainMsg)); err != nil {
		t.Fatal(err)
	}
	if m := sink.Messages(); len(m) != 1 || string(m[0].Data) != plainMsg {
		t.Fatalf("sink got %+v", m)
	}
	// A certificate we do not trust is refused, nothing sent.
	bad, _ := ParseUpstream(UpstreamConfig{URL: "smtps://" + l.Addr().String(), Timeout: time.Second})
	assertReply(t, bad.Deliver(context.Background(), Envelope{From: "a@x.example", To: "b@y.example"}, []byte(plainMsg)), 451, smtp.EnhancedCode{4, 4, 1})
	if n := sink.Count(); n != 1 {
		t.Errorf("sink accepted %d, want 1", n)
	}
}

// TestUpstreamAuthRefused: a wrong upstream password is the upstream's
// permanent refusal, and nothing is sent.
func TestUpstreamAuthRefused(t *testing.T) {
	cert, clientTLS := testsupport.TLS(t)
	sink := testsupport.StartSink(t, smtpsink.Options{TLS: cert.TLSConfig(), Users: map[string]string{"relay": "pw"}})
	up, _ := ParseUpstream(UpstreamConfig{URL: "smtp://relay:wrong@" + sink.Addr, TLS: clientTLS})
	assertReply(t, up.Deliver(context.Background(), Envelope{From: "a@x.example", To: "b@y.example"}, []byte(plainMsg)), 535, smtp.EnhancedCode{5, 7, 8})
	if n := sink.Count(); n != 0 {
		t.Errorf("sink accepted %d", n)
	}
}

// TestUpstreamRefusesLineBreakInAddress: an address cannot inject a command
// into the upstream session.
func TestUpstreamRefusesLineBreakInAddress(t *testing.T) {
	s := startScript(t, esmtp())
	err := deliverTo(t, s.addr, Envelope{From: "a@x.example", To: "b@y.example>\r\nRCPT TO:<c@z.example"}, plainMsg)
	assertReply(t, err, 553, smtp.EnhancedCode{5, 1, 3})
	for _, c := range s.commands() {
		if strings.HasPrefix(c, "RCPT") {
			t.Errorf("sent %q", c)
		}
	}
}

// TestUpstreamAuthLeavesNoCredentials: the reused command buffer of a
// pooled connection does not keep the AUTH line.
func TestUpstreamAuthLeavesNoCredentials(t *testing.T) {
	cert, clientTLS := testsupport.TLS(t)
	sink := testsupport.StartSink(t, smtpsink.Options{TLS: cert.TLSConfig(), Users: map[string]string{"relay": "S3cret-pw"}})
	up, _ := ParseUpstream(UpstreamConfig{URL: "smtp://relay:S3cret-pw@" + sink.Addr, TLS: clientTLS})
	c, err := up.dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	secret := base64.StdEncoding.EncodeToString([]byte("\x00relay\x00S3cret-pw"))
	if strings.Contains(string(c.line[:cap(c.line)]), secret) {
		t.Error("AUTH line left in the command buffer")
	}
}

// TestUpstreamPipelining: to a server that offers PIPELINING, MAIL, RCPT and
// DATA leave in one write (RFC 2920 §3.1). A refusal at any of them reaches
// the client with the upstream's code, every reply is read so the session
// stays in step, the connection is reset and carries the next message, and
// a server that says 354 to DATA after refusing the envelope gets an empty
// message, never ours.
func TestUpstreamPipelining(t *testing.T) {
	ext := esmtp("PIPELINING", "8BITMIME")
	var mu sync.Mutex
	refuse := ""
	s := startScript(t, func(cmd string) string {
		mu.Lock()
		defer mu.Unlock()
		verb, _, _ := strings.Cut(cmd, " ")
		switch {
		case refuse == "MAIL" && verb == "MAIL":
			return "550 5.7.1 sender refused\r\n"
		case refuse == "RCPT" && verb == "RCPT", refuse == "RCPT-then-354" && verb == "RCPT":
			return "550-5.1.1 no such user\r\n550 5.1.1 here\r\n"
		case (refuse == "MAIL" || refuse == "RCPT") && verb == "DATA":
			return "503 5.5.1 no valid recipients\r\n"
		case refuse == "DATA" && verb == "DATA":
			return "451 4.3.0 try later\r\n"
		case refuse == "RCPT-then-354" && cmd == ".":
			return "554 5.5.1 no recipients\r\n"
		}
		return ext(cmd)
	})
	up, err := ParseUpstream(UpstreamConfig{URL: "smtp://" + s.addr + "?tls=none", Timeout: 2 * time.Second, DataTimeout: 2 * time.Second, MaxIdle: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	env := Envelope{From: "a@x.example", To: "b@y.example"}
	deliver := func(how string) error {
		mu.Lock()
		refuse = how
		mu.Unlock()
		return up.Deliver(context.Background(), env, []byte(plainMsg))
	}
	if err := deliver(""); err != nil {
		t.Fatal(err)
	}
	assertReply(t, deliver("MAIL"), 550, smtp.EnhancedCode{5, 7, 1})
	assertReply(t, deliver("RCPT"), 550, smtp.EnhancedCode{5, 1, 1})
	assertReply(t, deliver("DATA"), 451, smtp.EnhancedCode{4, 4, 0})
	assertReply(t, deliver("RCPT-then-354"), 550, smtp.EnhancedCode{5, 1, 1})
	if err := deliver(""); err != nil {
		t.Fatal(err)
	}
	conns, data := s.received()
	if conns != 1 {
		t.Errorf("%d connections: refusals must leave the connection usable", conns)
	}
	if len(data) != 3 || data[0] != plainMsg || data[1] != "" || data[2] != plainMsg {
		t.Errorf("messages received %q: want ours twice and one empty", data)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mails, resets := 0, 0
	for i, c := range s.cmds {
		switch {
		case strings.HasPrefix(c, "MAIL"):
			mails++
			if !s.ahead[i] {
				t.Errorf("command %d %q came alone: not pipelined", i, c)
			}
		case c == "RSET":
			resets++
		}
	}
	if mails != 6 || resets != 4 {
		t.Errorf("%d MAIL and %d RSET, want 6 and 4: %q", mails, resets, s.cmds)
	}
}
