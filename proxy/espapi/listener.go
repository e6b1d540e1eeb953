package espapi

import (
	"bufio"
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// Listen wraps l so one address serves both HTTPS and plain HTTP, as the
// SMTP relay offers STARTTLS on one port: a connection whose first byte is
// a TLS handshake record (0x16, RFC 8446 §5.1) gets TLS with cfg, any
// other plain HTTP. Plain HTTP is then let in only from the relay
// networks (Server.authorize): credentials never cross a network in clear.
// With a nil cfg every connection is plain.
func Listen(l net.Listener, cfg *tls.Config) net.Listener {
	s := &sniffListener{Listener: l, cfg: cfg, conns: make(chan net.Conn), done: make(chan struct{})}
	go s.acceptLoop()
	return s
}

// sniffTimeout bounds the wait for a client's first byte.
const sniffTimeout = 10 * time.Second

type sniffListener struct {
	net.Listener
	cfg   *tls.Config
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	err   error
}

// acceptLoop accepts and sniffs each connection in its own goroutine, so
// a silent client holds only itself; net/http gets a *tls.Conn for TLS
// connections and so fills Request.TLS.
func (s *sniffListener) acceptLoop() {
	for {
		c, err := s.Listener.Accept()
		if err != nil {
			s.err = err
			s.once.Do(func() { close(s.done) })
			return
		}
		go func() {
			conn, ok := s.sniff(c)
			if !ok {
				c.Close()
				return
			}
			select {
			case s.conns <- conn:
			case <-s.done:
				c.Close()
			}
		}()
	}
}

func (s *sniffListener) sniff(c net.Conn) (net.Conn, bool) {
	br := bufio.NewReaderSize(c, 512)
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	first, err := br.Peek(1)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		return nil, false
	}
	pc := &peekedConn{Conn: c, r: br}
	if first[0] == 0x16 && s.cfg != nil {
		return tls.Server(pc, s.cfg), true
	}
	return pc, true
}

func (s *sniffListener) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.done:
		return nil, s.err
	}
}

func (s *sniffListener) Close() error {
	err := s.Listener.Close()
	return err
}

type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }
