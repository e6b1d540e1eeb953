// Package smtpsink is a real go-smtp server on 127.0.0.1 that records what it
// receives: the upstream of the relay's end-to-end tests and the sink of the
// relay load script.
package smtpsink

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the sink accepted.
type Message struct {
	From     string
	To       []string
	Data     []byte
	UTF8     bool
	EightBit bool
	TLS      bool
	User     string
}

// Behaviour decides, per message, how the sink answers DATA. nil accepts.
type Behaviour func(m *Message) Action

// Action is what the sink does with one message.
type Action struct {
	// Reply is returned instead of 250 (e.g. a 451 or 550 *smtp.SMTPError).
	Reply *smtp.SMTPError
	// Delay waits before answering.
	Delay time.Duration
	// Drop closes the connection after reading the message, without a reply.
	Drop bool
	// Discard accepts without recording (load tests).
	Discard bool
}

// Options configure a sink.
type Options struct {
	// TLS enables STARTTLS with this configuration.
	TLS *tls.Config
	// Users, when set, are the only AUTH PLAIN accounts accepted.
	Users map[string]string
	// Behaviour picks the answer for each message.
	Behaviour Behaviour
	// NoSMTPUTF8 leaves SMTPUTF8 out of EHLO, like many ESPs.
	NoSMTPUTF8 bool
	// IdleTimeout closes connections idle this long (default 1 min).
	IdleTimeout time.Duration
}

// Sink is a running recording SMTP server.
type Sink struct {
	Addr string
	srv  *smtp.Server
	l    net.Listener
	opts Options

	mu       sync.Mutex
	messages []Message
	count    atomic.Int64
	conns    map[*smtp.Conn]bool
}

// Start listens on a free 127.0.0.1 port.
func Start(opts Options) (*Sink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Sink{Addr: l.Addr().String(), l: l, opts: opts, conns: map[*smtp.Conn]bool{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		return &session{s: s, conn: c}, nil
	}))
	srv.Domain = "sink.test"
	srv.EnableSMTPUTF8 = !opts.NoSMTPUTF8
	srv.TLSConfig = opts.TLS
	srv.MaxLineLength = 4096
	srv.ReadTimeout = time.Minute
	if opts.IdleTimeout > 0 {
		srv.ReadTimeout = opts.IdleTimeout
	}
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.srv = srv
	go srv.Serve(l)
	return s, nil
}

// Close stops the sink and its connections.
func (s *Sink) Close() error { return s.srv.Close() }

// Messages returns a copy of what was recorded so far.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Count is the number of messages accepted (recorded or discarded).
func (s *Sink) Count() int64 { return s.count.Load() }

// Connections is the number of SMTP connections accepted (pool reuse checks).
func (s *Sink) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

type session struct {
	s    *Sink
	conn *smtp.Conn
	msg  Message
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Users == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if want, ok := ss.s.opts.Users[user]; ok && want == pass {
			ss.msg.User = user
			return nil
		}
		return smtp.ErrAuthFailed
	}), nil
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if ss.s.opts.Users != nil && ss.msg.User == "" {
		return smtp.ErrAuthRequired
	}
	user := ss.msg.User
	ss.msg = Message{From: from, User: user}
	if opts != nil {
		ss.msg.UTF8 = opts.UTF8
		ss.msg.EightBit = opts.Body == smtp.Body8BitMIME
	}
	_, ss.msg.TLS = ss.conn.TLSConnectionState()
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.msg.To = append(ss.msg.To, to)
	return nil
}

var errDropped = errors.New("sink: dropped connection")

func (ss *session) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	m := ss.msg
	m.Data = buf.Bytes()
	var act Action
	if ss.s.opts.Behaviour != nil {
		act = ss.s.opts.Behaviour(&m)
	}
	if act.Delay > 0 {
		time.Sleep(act.Delay)
	}
	if act.Drop {
		ss.conn.Conn().Close()
		return errDropped
	}
	if act.Reply != nil {
		return act.Reply
	}
	ss.s.count.Add(1)
	if !act.Discard {
		ss.s.mu.Lock()
		ss.s.messages = append(ss.s.messages, m)
		ss.s.mu.Unlock()
	}
	return nil
}

func (ss *session) Reset() {
	user := ss.msg.User
	ss.msg = Message{User: user}
}

func (ss *session) Logout() error { return nil }
