package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// upstreamConn is one SMTP client connection to the upstream (RFC 5321).
// pixelgate has its own rather than go-smtp's Client because go-smtp
// writes DATA through net/textproto's DotWriter, a byte at a time, which
// was a third of the relay's CPU time (BenchmarkUpstreamDeliver); go-smtp keeps its
// connection private, so its DATA phase could not be replaced alone.
// Replies come back as go-smtp's *smtp.SMTPError all the same.
type upstreamConn struct {
	conn        net.Conn
	rr          *replyReader
	body        dataWriter
	ext         extensions
	timeout     time.Duration // per command (RFC 5321 §4.5.3.2)
	dataTimeout time.Duration // for the reply after the data (§4.5.3.2.6)
	// until is the end of the delivery under way (its context's
	// deadline); no stage waits past it. Zero: no bound.
	until time.Time
	line  []byte // the command being sent; reused
}

// RFC 5321 §4.5.3.2's client timeouts for the stages that have their own:
// the 354 after DATA (§4.5.3.2.4) and each block of data (§4.5.3.2.5).
// A shorter command timeout (tests) shortens them too.
const (
	dataInitTimeout  = 2 * time.Minute
	dataBlockTimeout = 3 * time.Minute
)

// deadline is when a stage of timeout d started now must end.
func (c *upstreamConn) deadline(d time.Duration) time.Time {
	t := time.Now().Add(d)
	if !c.until.IsZero() && c.until.Before(t) {
		return c.until
	}
	return t
}

// extensions are the EHLO keywords pixelgate acts on (RFC 5321 §4.1.1.1).
type extensions struct {
	startTLS     bool // RFC 3207
	size         bool // RFC 1870
	eightBitMIME bool // RFC 6152
	smtpUTF8     bool // RFC 6531
	pipelining   bool // RFC 2920
}

func newUpstreamConn(conn net.Conn, timeout, dataTimeout time.Duration) *upstreamConn {
	c := &upstreamConn{timeout: timeout, dataTimeout: dataTimeout, body: dataWriter{chunk: dataChunk}}
	c.setConn(conn)
	return c
}

func (c *upstreamConn) setConn(conn net.Conn) {
	c.conn = conn
	c.rr = newReplyReader(conn)
	c.body.w = deadlineWriter{c: c}
}

// deadlineWriter gives each write of the message its own deadline: RFC 5321
// §4.5.3.2.5 times each data block, not the whole transfer, so a large
// message on a slow link is not cut off while it is moving.
type deadlineWriter struct{ c *upstreamConn }

func (w deadlineWriter) Write(p []byte) (int, error) {
	if err := w.c.conn.SetWriteDeadline(w.c.deadline(min(w.c.timeout, dataBlockTimeout))); err != nil {
		return 0, err
	}
	return w.c.conn.Write(p)
}

// open runs the session's start on a connected conn: greeting, EHLO, then
// STARTTLS and EHLO again when asked, then AUTH PLAIN when credentials
// are given. The connection is closed when open fails.
func (c *upstreamConn) open(ctx context.Context, hello string, mode tlsMode, tlsConfig *tls.Config, auth sasl.Client) error {
	err := c.start(ctx, hello, mode, tlsConfig, auth)
	if err != nil {
		_ = c.Close()
	}
	return err
}

func (c *upstreamConn) start(ctx context.Context, hello string, mode tlsMode, tlsConfig *tls.Config, auth sasl.Client) error {
	if mode == tlsImplicit {
		if err := c.handshake(ctx, tlsConfig); err != nil {
			return err
		}
	}
	if err := c.conn.SetDeadline(c.deadline(c.timeout)); err != nil {
		return err
	}
	code, err := c.rr.read()
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if code != 220 {
		// A 554 greeting says no service here (RFC 5321 §3.1).
		return fmt.Errorf("greeting: %w", replyError(code, c.rr.text))
	}
	if err := c.hello(hello); err != nil {
		return err
	}
	if mode == tlsStartTLS {
		if err := c.startTLS(ctx, tlsConfig); err != nil {
			return fmt.Errorf("STARTTLS (use ?tls=none to allow plain text): %w", err)
		}
		// RFC 3207 §4.2: forget what was learnt before TLS and ask again.
		if err := c.hello(hello); err != nil {
			return err
		}
	}
	if auth != nil {
		// AUTH is only reached over TLS, or with tls=none by the
		// operator's explicit choice (RFC 4954 §4, credentials in clear).
		if err := c.auth(auth); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	return nil
}

// hello sends EHLO and reads the extensions; a server that refuses EHLO
// (5xx) gets HELO and is used without extensions (RFC 5321 §3.2).
func (c *upstreamConn) hello(name string) error {
	if strings.ContainsAny(name, "\r\n") {
		return errors.New("EHLO name holds a line break")
	}
	c.ext = extensions{}
	c.line = append(append(append(c.line[:0], "EHLO "...), name...), "\r\n"...)
	code, err := c.roundTrip(250)
	if err == nil {
		c.parseExtensions()
		return nil
	}
	var se *smtp.SMTPError
	if !errors.As(err, &se) || code/100 != 5 {
		return fmt.Errorf("EHLO: %w", err)
	}
	c.line = append(append(append(c.line[:0], "HELO "...), name...), "\r\n"...)
	if _, err := c.roundTrip(250); err != nil {
		return fmt.Errorf("HELO: %w", err)
	}
	return nil
}

// parseExtensions reads the EHLO reply's lines after the first: a keyword,
// then parameters (RFC 5321 §4.1.1.1); keywords are case-insensitive.
func (c *upstreamConn) parseExtensions() {
	lines := c.rr.text
	_, lines, _ = bytes.Cut(lines, []byte("\n"))
	for len(lines) > 0 {
		var line []byte
		line, lines, _ = bytes.Cut(lines, []byte("\n"))
		kw, _, _ := bytes.Cut(line, []byte(" "))
		switch strings.ToUpper(string(kw)) {
		case "STARTTLS":
			c.ext.startTLS = true
		case "SIZE":
			c.ext.size = true
		case "8BITMIME":
			c.ext.eightBitMIME = true
		case "SMTPUTF8":
			c.ext.smtpUTF8 = true
		case "PIPELINING":
			c.ext.pipelining = true
		}
	}
}

// startTLS upgrades the connection (RFC 3207).
func (c *upstreamConn) startTLS(ctx context.Context, cfg *tls.Config) error {
	if !c.ext.startTLS {
		return errors.New("upstream does not offer STARTTLS")
	}
	c.line = append(c.line[:0], "STARTTLS\r\n"...)
	if _, err := c.roundTrip(220); err != nil {
		return err
	}
	// Anything the server sent after its 220 came before TLS and could
	// have been injected by a man in the middle to pass as a reply read
	// under TLS (RFC 3207 §5; CVE-2011-0411): refuse it.
	if c.rr.r.Buffered() > 0 {
		return errors.New("upstream sent data after its STARTTLS reply")
	}
	return c.handshake(ctx, cfg)
}

func (c *upstreamConn) handshake(ctx context.Context, cfg *tls.Config) error {
	tc := tls.Client(c.conn, cfg)
	if err := tc.SetDeadline(c.deadline(c.timeout)); err != nil {
		return err
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	c.setConn(tc)
	return nil
}

// auth runs a SASL exchange (RFC 4954 §4): an initial response on the AUTH
// line, then base64 answers to each 334 challenge until 235.
func (c *upstreamConn) auth(a sasl.Client) error {
	// The command buffer is reused: do not leave the password in it.
	defer func() { clear(c.line[:cap(c.line)]) }()
	mech, resp, err := a.Start()
	if err != nil {
		return err
	}
	c.line = append(append(c.line[:0], "AUTH "...), mech...)
	switch {
	case len(resp) > 0:
		c.line = base64.StdEncoding.AppendEncode(append(c.line, ' '), resp)
	case resp != nil:
		// An empty initial response is "=" (RFC 4954 §4).
		c.line = append(c.line, " ="...)
	}
	c.line = append(c.line, "\r\n"...)
	for {
		code, err := c.roundTrip(0)
		if err != nil {
			return err
		}
		switch code {
		case 235:
			return nil
		case 334:
		default:
			return replyError(code, c.rr.text)
		}
		challenge, err := base64.StdEncoding.DecodeString(string(c.rr.text))
		if err == nil {
			resp, err = a.Next(challenge)
		}
		if err != nil {
			// Cancel the exchange (RFC 4954 §4) and report why.
			c.line = append(c.line[:0], "*\r\n"...)
			_, _ = c.roundTrip(0)
			return err
		}
		c.line = append(base64.StdEncoding.AppendEncode(c.line[:0], resp), "\r\n"...)
	}
}

// mail sends MAIL FROM. BODY=8BITMIME goes whenever offered, as go-smtp
// did (RFC 6152 §3); SIZE lets the upstream refuse an oversized message
// before the data is sent (RFC 1870 §3); SMTPUTF8 when asked (RFC 6531
// §3.4).
func (c *upstreamConn) mail(from string, size int, utf8 bool) error {
	c.line = c.line[:0]
	if err := c.appendMail(from, size, utf8); err != nil {
		return err
	}
	if _, err := c.roundTrip(250); err != nil {
		return fmt.Errorf("MAIL: %w", err)
	}
	return nil
}

func (c *upstreamConn) appendMail(from string, size int, utf8 bool) error {
	if err := checkAddress(from); err != nil {
		return err
	}
	c.line = append(append(append(c.line, "MAIL FROM:<"...), from...), '>')
	if c.ext.eightBitMIME {
		c.line = append(c.line, " BODY=8BITMIME"...)
	}
	if c.ext.size && size > 0 {
		c.line = strconv.AppendInt(append(c.line, " SIZE="...), int64(size), 10)
	}
	if utf8 {
		c.line = append(c.line, " SMTPUTF8"...)
	}
	c.line = append(c.line, "\r\n"...)
	return nil
}

// rcpt sends RCPT TO; 250 and 251 accept (RFC 5321 §4.1.1.3).
func (c *upstreamConn) rcpt(to string) error {
	c.line = c.line[:0]
	if err := c.appendRcpt(to); err != nil {
		return err
	}
	if _, err := c.roundTrip(25); err != nil {
		return fmt.Errorf("RCPT: %w", err)
	}
	return nil
}

func (c *upstreamConn) appendRcpt(to string) error {
	if err := checkAddress(to); err != nil {
		return err
	}
	c.line = append(append(append(c.line, "RCPT TO:<"...), to...), ">\r\n"...)
	return nil
}

// envelopePipelined sends MAIL, RCPT and DATA in one write and reads their
// three replies in order (RFC 2920 §3.1), saving two round trips per
// message. Every reply is read even after a refusal, so the session stays
// in step; the first refusal is the one returned. A server that answers
// DATA with 354 although it refused the envelope gets an empty message
// ended at once, so nothing of ours is sent.
func (c *upstreamConn) envelopePipelined(from, to string, size int, utf8 bool) error {
	c.line = c.line[:0]
	if err := c.appendMail(from, size, utf8); err != nil {
		return err
	}
	if err := c.appendRcpt(to); err != nil {
		return err
	}
	c.line = append(c.line, "DATA\r\n"...)
	if err := c.conn.SetDeadline(c.deadline(c.timeout)); err != nil {
		return err
	}
	if _, err := c.conn.Write(c.line); err != nil {
		return err
	}
	var first error
	for _, st := range []struct {
		name   string
		expect int
	}{{"MAIL", 250}, {"RCPT", 25}, {"DATA", 354}} {
		code, err := c.reply(st.expect)
		if err != nil && !isReplyError(err) {
			// The session is lost; the caller closes it. An earlier
			// refusal is the better answer for the client.
			if first != nil {
				return first
			}
			return fmt.Errorf("%s: %w", st.name, err)
		}
		if st.name == "DATA" && code == 354 && first != nil {
			c.line = append(c.line[:0], ".\r\n"...)
			if _, err := c.roundTrip(0); err != nil && !isReplyError(err) {
				return fmt.Errorf("DATA: %w", err)
			}
		}
		if err != nil && first == nil {
			first = fmt.Errorf("%s: %w", st.name, err)
		}
	}
	return first
}

func isReplyError(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se)
}

// checkAddress refuses an address that would end the command line early
// and inject a command of its own into the upstream session.
func checkAddress(addr string) error {
	if strings.ContainsAny(addr, "\r\n") {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3},
			Message: "address holds characters that cannot be sent upstream"}
	}
	return nil
}

// data sends DATA, the message and its end, and waits for the verdict.
// sent reports whether any of the message may have reached the upstream:
// after that a retry could deliver it twice.
func (c *upstreamConn) data(msg []byte) (sent bool, err error) {
	c.line = append(c.line[:0], "DATA\r\n"...)
	if _, err := c.roundTripWithin(min(c.timeout, dataInitTimeout), 354); err != nil {
		return false, fmt.Errorf("DATA: %w", err)
	}
	return c.message(msg)
}

// message sends the message after a 354 and waits for the verdict.
func (c *upstreamConn) message(msg []byte) (sent bool, err error) {
	if err := c.body.writeMessage(msg); err != nil {
		return true, fmt.Errorf("write message: %w", err)
	}
	if err := c.conn.SetReadDeadline(c.deadline(c.dataTimeout)); err != nil {
		return true, err
	}
	if _, err := c.reply(250); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = fmt.Errorf("%w: %w", errNoFinalReply, err)
		}
		return true, fmt.Errorf("end of data: %w", err)
	}
	return true, nil
}

// Reset sends RSET, ending a transaction the upstream refused so the
// connection can carry the next one (RFC 5321 §4.1.1.5).
func (c *upstreamConn) Reset() error {
	c.line = append(c.line[:0], "RSET\r\n"...)
	_, err := c.roundTrip(250)
	return err
}

// Noop checks that the connection still answers (RFC 5321 §4.1.1.9).
func (c *upstreamConn) Noop() error {
	c.line = append(c.line[:0], "NOOP\r\n"...)
	_, err := c.roundTrip(250)
	return err
}

// Quit ends the session politely (RFC 5321 §4.1.1.10) and closes the
// connection whatever the answer.
func (c *upstreamConn) Quit() error {
	c.line = append(c.line[:0], "QUIT\r\n"...)
	_, err := c.roundTrip(221)
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close drops the connection without a word.
func (c *upstreamConn) Close() error { return c.conn.Close() }

// roundTrip writes c.line, a whole command, and reads the reply within the
// command timeout.
func (c *upstreamConn) roundTrip(expect int) (int, error) {
	return c.roundTripWithin(c.timeout, expect)
}

// roundTripWithin is roundTrip with the stage's own timeout.
func (c *upstreamConn) roundTripWithin(d time.Duration, expect int) (int, error) {
	if err := c.conn.SetDeadline(c.deadline(d)); err != nil {
		return 0, err
	}
	if _, err := c.conn.Write(c.line); err != nil {
		return 0, err
	}
	return c.reply(expect)
}

// reply reads a reply and turns an unexpected code into *smtp.SMTPError.
func (c *upstreamConn) reply(expect int) (int, error) {
	code, err := c.rr.read()
	if err != nil {
		return 0, err
	}
	if !codeMatches(code, expect) {
		return code, replyError(code, c.rr.text)
	}
	return code, nil
}
