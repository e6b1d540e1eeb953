package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// UpstreamConfig is where the relay forwards mail (--upstream).
type UpstreamConfig struct {
	// URL is smtp://[user:pass@]host[:port][?tls=none] (STARTTLS required
	// unless tls=none) or smtps://[user:pass@]host[:port] (implicit TLS).
	URL string
	// HelloName is sent in EHLO.
	HelloName string
	// Timeout bounds each command (default 5 min: the greeting, MAIL and
	// RCPT of RFC 5321 §4.5.3.2; DATA's 354 gets at most 2 min and each
	// block of data at most 3, as there) and connecting (at most 1 min);
	// DataTimeout the wait for the final reply after the message (default
	// 10 min, §4.5.3.2.6: an upstream may take that long and still deliver).
	// A delivery's context deadline bounds them all.
	Timeout     time.Duration
	DataTimeout time.Duration
	// Logger hears of final replies that came after DataTimeout.
	Logger *slog.Logger
	// MaxIdle is the number of connections kept open between messages.
	MaxIdle int
	// TLS is the client configuration (RootCAs for a private CA in tests);
	// ServerName is filled from the URL when empty.
	TLS *tls.Config
}

type tlsMode int

const (
	tlsStartTLS tlsMode = iota
	tlsImplicit
	tlsNone
)

// Upstream forwards messages over SMTP with a small pool of reusable
// connections.
type Upstream struct {
	cfg        UpstreamConfig
	addr       string
	mode       tlsMode
	user, pass string
	display    string

	mu   sync.Mutex
	idle []*upstreamConn
	// late are connections whose final reply is still awaited after the
	// delivery gave up, to log what the upstream did; Close ends them.
	late     map[*upstreamConn]struct{}
	lateDone sync.WaitGroup
}

// ParseUpstream checks the URL and returns an Upstream; nothing is dialled.
func ParseUpstream(cfg UpstreamConfig) (*Upstream, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("upstream URL: %w", err)
	}
	up := &Upstream{cfg: cfg}
	port := ""
	switch u.Scheme {
	case "smtp":
		port = "587"
		switch tv := u.Query().Get("tls"); tv {
		case "", "starttls":
			up.mode = tlsStartTLS
		case "none":
			up.mode = tlsNone
		default:
			return nil, fmt.Errorf("upstream URL: tls=%q: want starttls or none", tv)
		}
	case "smtps":
		port = "465"
		up.mode = tlsImplicit
	default:
		return nil, fmt.Errorf("upstream URL: scheme %q: want smtp:// or smtps://", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("upstream URL: missing host")
	}
	if u.Port() != "" {
		port = u.Port()
	}
	up.addr = net.JoinHostPort(u.Hostname(), port)
	if u.User != nil {
		up.user = u.User.Username()
		up.pass, _ = u.User.Password()
	}
	up.display = u.Scheme + "://" + up.addr
	if up.mode == tlsNone {
		up.display += " (no TLS)"
	}
	if up.cfg.Timeout == 0 {
		up.cfg.Timeout = 5 * time.Minute
	}
	if up.cfg.DataTimeout == 0 {
		up.cfg.DataTimeout = 10 * time.Minute
	}
	if up.cfg.Logger == nil {
		up.cfg.Logger = slog.New(slog.DiscardHandler)
	}
	up.late = map[*upstreamConn]struct{}{}
	if up.cfg.HelloName == "" {
		up.cfg.HelloName = "localhost"
	}
	if up.cfg.TLS == nil {
		up.cfg.TLS = &tls.Config{}
	}
	if up.cfg.TLS.ServerName == "" {
		up.cfg.TLS = up.cfg.TLS.Clone()
		up.cfg.TLS.ServerName = u.Hostname()
	}
	return up, nil
}

// Describe is the upstream without credentials.
func (u *Upstream) Describe() string { return "upstream " + u.display }

// TempFailure is the reply for an upstream that cannot be reached or timed
// out: the client keeps the message and retries (nothing accepted and lost).
func TempFailure(format string, args ...any) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 1},
		Message: "Upstream unavailable: " + fmt.Sprintf(format, args...)}
}

// upstreamReply maps an upstream error to the reply for our client:
// 4xx → 451 4.4.x, 5xx → the same 5xx with the upstream's text, anything
// else (network, timeout, TLS) → 451 4.4.1.
func upstreamReply(stage string, err error) *smtp.SMTPError {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		switch se.Code / 100 {
		case 5:
			ec := se.EnhancedCode
			if ec == smtp.EnhancedCodeNotSet || ec == smtp.NoEnhancedCode || ec[0] != 5 {
				ec = smtp.EnhancedCode{5, 0, 0}
			}
			return &smtp.SMTPError{Code: se.Code, EnhancedCode: ec, Message: "Upstream: " + se.Message}
		case 4:
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 0},
				Message: fmt.Sprintf("Upstream temporarily refused %s: %d %s", stage, se.Code, se.Message)}
		}
	}
	return TempFailure("%s: %v", stage, err)
}

// dial opens and prepares a new upstream connection.
func (u *Upstream) dial(ctx context.Context) (*upstreamConn, error) {
	d := net.Dialer{Timeout: min(u.cfg.Timeout, time.Minute)}
	conn, err := d.DialContext(ctx, "tcp", u.addr)
	if err != nil {
		return nil, err
	}
	var auth sasl.Client
	if u.user != "" {
		auth = sasl.NewPlainClient("", u.user, u.pass)
	}
	c := newUpstreamConn(conn, u.cfg.Timeout, u.cfg.DataTimeout)
	if err := c.open(ctx, u.cfg.HelloName, u.mode, u.cfg.TLS, auth); err != nil {
		return nil, err
	}
	return c, nil
}

// get returns an idle connection or nil.
func (u *Upstream) get() *upstreamConn {
	u.mu.Lock()
	defer u.mu.Unlock()
	if n := len(u.idle); n > 0 {
		c := u.idle[n-1]
		u.idle = u.idle[:n-1]
		return c
	}
	return nil
}

// put returns a connection after a clean transaction.
func (u *Upstream) put(c *upstreamConn) {
	u.mu.Lock()
	if len(u.idle) < u.cfg.MaxIdle {
		u.idle = append(u.idle, c)
		c = nil
	}
	u.mu.Unlock()
	if c != nil {
		_ = c.Quit()
	}
}

// Deliver sends one message. A pooled connection that turns out dead before
// the message was handed over is replaced once; after DATA started nothing
// is retried, so pixelgate never sends a message twice.
func (u *Upstream) Deliver(ctx context.Context, env Envelope, msg []byte) error {
	for attempt := 0; ; attempt++ {
		c := u.get()
		pooled := c != nil
		if c == nil {
			var err error
			if c, err = u.dial(ctx); err != nil {
				return upstreamReply("connect", err)
			}
		}
		c.until, _ = ctx.Deadline()
		sent, err := u.transaction(c, env, msg)
		c.until = time.Time{}
		if err == nil {
			u.put(c)
			return nil
		}
		var se *smtp.SMTPError
		isReply := errors.As(err, &se)
		if isReply && se.Code == 421 && pooled && !sent && attempt == 0 {
			// An idle connection the upstream is closing (RFC 5321 §3.8).
			c.Close()
			continue
		}
		if isReply && !sent {
			// The connection is healthy; the upstream refused. Reset it
			// so it can be reused.
			if c.Reset() == nil {
				u.put(c)
			} else {
				c.Close()
			}
			return upstreamReply("message", err)
		}
		if errors.Is(err, errNoFinalReply) {
			u.watchLate(c)
		} else {
			c.Close()
		}
		if pooled && !sent && attempt == 0 {
			continue
		}
		return upstreamReply("message", err)
	}
}

// transaction runs MAIL/RCPT/DATA; sent reports whether the message body
// was (possibly) handed over, after which a retry could duplicate it.
func (u *Upstream) transaction(c *upstreamConn, env Envelope, msg []byte) (sent bool, err error) {
	// Clients such as Go's net/smtp ask for SMTPUTF8 whenever it is
	// offered: only refuse when the upstream lacks it and the envelope or
	// header really holds UTF-8 (RFC 6531 §3.2); pure ASCII goes as is.
	utf8 := false
	if env.UTF8 {
		if c.ext.smtpUTF8 {
			utf8 = true
		} else if !isASCII(env.From) || !isASCII(env.To) || !isASCII(headerBytes(msg)) {
			return false, &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 6, 7},
				Message: "upstream does not support SMTPUTF8 and the message needs it"}
		}
	}
	if !c.ext.eightBitMIME && !isASCII(msg) {
		// pixelgate does not downgrade content (RFC 6152 §3).
		return false, &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 3},
			Message: "upstream does not accept 8-bit content (no 8BITMIME)"}
	}
	if c.ext.pipelining {
		if err := c.envelopePipelined(env.From, env.To, len(msg), utf8); err != nil {
			return false, err
		}
		return c.message(msg)
	}
	if err := c.mail(env.From, len(msg), utf8); err != nil {
		return false, err
	}
	if err := c.rcpt(env.To); err != nil {
		return false, err
	}
	return c.data(msg)
}

func isASCII[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// headerBytes is the header section of a message (up to the empty line).
func headerBytes(msg []byte) []byte {
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return msg[:i]
	}
	return msg
}

// errNoFinalReply: the message was sent but its final reply did not come
// in time. The client is told to retry; the upstream may still deliver.
var errNoFinalReply = errors.New("no final reply in time")

// watchLate keeps reading, for another DataTimeout, the final reply the
// delivery stopped waiting for, and logs it: an upstream that accepts
// after the client was told to retry has made a duplicate, and the
// operator should know (raise --delivery-timeout, or see the ESP).
func (u *Upstream) watchLate(c *upstreamConn) {
	u.mu.Lock()
	if u.late == nil {
		u.mu.Unlock()
		c.Close()
		return
	}
	u.late[c] = struct{}{}
	u.lateDone.Add(1)
	u.mu.Unlock()
	since := time.Now()
	go func() {
		defer u.lateDone.Done()
		defer func() {
			u.mu.Lock()
			delete(u.late, c)
			u.mu.Unlock()
			c.Close()
		}()
		if err := c.conn.SetReadDeadline(time.Now().Add(u.cfg.DataTimeout)); err != nil {
			return
		}
		code, err := c.rr.read()
		waited := time.Since(since).Round(time.Millisecond).String()
		switch {
		case err != nil:
			u.cfg.Logger.Warn("upstream gave no final reply after the delivery timeout; the client was told to retry", "extra_wait", waited)
		case code/100 == 2:
			u.cfg.Logger.Error("upstream accepted a message after the delivery timeout; the client was told to retry and may send it again (duplicate)",
				"code", code, "late_by", waited)
		default:
			u.cfg.Logger.Warn("upstream answered after the delivery timeout", "code", code, "late_by", waited)
		}
	}()
}

// Close quits the idle connections and stops watching late replies.
func (u *Upstream) Close() error {
	u.mu.Lock()
	idle := u.idle
	u.idle = nil
	late := u.late
	u.late = nil
	u.mu.Unlock()
	for _, c := range idle {
		_ = c.Quit()
	}
	for c := range late {
		c.Close()
	}
	u.lateDone.Wait()
	return nil
}

// String never shows the password.
func (u *Upstream) String() string { return strings.TrimPrefix(u.Describe(), "upstream ") }
