package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pixelgate/pixelgate/consent/throttle"
)

// Connection admission. A connection is counted against MaxConnections as
// soon as it is accepted; then, in its own goroutine (a load balancer's
// PROXY header must not stall the accept loop), the client's real address
// is learnt and the connection is bound to it:
//
//   - at most MaxConnectionsPerAddress from one address (an IPv6 client
//     counts per /64, the block one host usually holds). Addresses in
//     RelayNetworks are exempt: they are the operator's own senders, as in
//     Postfix, whose per-client limits spare $mynetworks by default;
//   - the last ReservedConnections slots go only to addresses that hold
//     no connection yet, so one address, or a few, cannot take the whole
//     pool even below their own limit;
//   - a client outside RelayNetworks has PreAuthTimeout from connecting to
//     authenticate, its first command included; past it the server's idle
//     reply (421 4.4.2) ends the connection. RFC 5321 §4.5.3.2.7 asks a
//     server to wait 5 minutes for a command, but that is for sessions
//     under way: a sending MTA speaks within milliseconds of the greeting,
//     and 100 sockets that never did held every slot for the 5 minutes
//     (Postfix under stress cuts the same wait to 10 s).

var (
	errTooManyFromAddress = &connRefusal{"421 4.7.0 Too many connections from your address, try again later\r\n"}
	errTooManyConnections = &connRefusal{"421 4.7.0 Too many connections, try again later\r\n"}
)

// connRefusal is the reply a refused connection gets before it is closed.
type connRefusal struct{ reply string }

func (e *connRefusal) Error() string { return e.reply[:len(e.reply)-2] }

// connLimiter counts connections, in total and per client address.
type connLimiter struct {
	max, perAddr, reserve int
	// exempt reports whether an address is spared the per-address limit.
	exempt func(netip.Addr) bool

	mu     sync.Mutex
	total  int
	byAddr map[netip.Addr]int
}

func newConnLimiter(max, perAddr, reserve int, exempt func(netip.Addr) bool) *connLimiter {
	return &connLimiter{max: max, perAddr: perAddr, reserve: reserve, exempt: exempt, byAddr: map[netip.Addr]int{}}
}

// admit counts an accepted connection in; false when the pool is full.
func (l *connLimiter) admit() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max {
		return false
	}
	l.total++
	return true
}

// bind assigns an admitted connection to its client's address, or refuses
// it; a refused connection is still admitted and must be released.
func (l *connLimiter) bind(ip netip.Addr) *connRefusal {
	k := throttle.AddrBlock(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	held := l.byAddr[k]
	if held >= l.perAddr && !l.exempt(ip) {
		return errTooManyFromAddress
	}
	// total already counts this connection.
	if held > 0 && l.max-l.total < l.reserve {
		return errTooManyConnections
	}
	l.byAddr[k] = held + 1
	return nil
}

// release counts a connection out; bound says whether bind accepted it.
func (l *connLimiter) release(ip netip.Addr, bound bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if !bound {
		return
	}
	k := throttle.AddrBlock(ip)
	if l.byAddr[k] <= 1 {
		delete(l.byAddr, k)
	} else {
		l.byAddr[k]--
	}
}

// limitListener admits connections and wraps them for admission.
type limitListener struct {
	net.Listener
	r *Relay
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if !l.r.conns.admit() {
			l.r.refuse(c, errTooManyConnections)
			continue
		}
		return &guardConn{Conn: c, r: l.r, preauth: l.r.cfg.Now().Add(l.r.cfg.PreAuthTimeout)}, nil
	}
}

// refuse answers a connection it will not serve and closes it.
func (r *Relay) refuse(c net.Conn, why *connRefusal) {
	r.cfg.Metrics.ConnectionsRefused.Inc()
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = io.WriteString(c, why.reply)
	c.Close()
}

// errRefused is what a refused guardConn returns; it wraps net.ErrClosed so
// the SMTP server ends the session quietly.
var errRefused = fmt.Errorf("connection refused by the relay: %w", net.ErrClosed)

// guardConn is one admitted connection. Its first use (the greeting, or
// the TLS handshake of implicit TLS) reads the PROXY header when the peer
// is a configured load balancer, then binds the connection to the client's
// address. Until the client authenticates, read deadlines are capped at
// PreAuthTimeout after connecting.
type guardConn struct {
	net.Conn
	r *Relay

	once   sync.Once
	err    error         // admission failed: every use fails
	br     *bufio.Reader // holds what came after a PROXY header
	remote net.Addr      // the client, as the PROXY header says
	ip     netip.Addr
	bound  bool

	mu      sync.Mutex
	capped  bool      // read deadlines capped at preauth
	preauth time.Time // when the client must have authenticated; fixed
	want    time.Time // the read deadline last asked for

	closeOnce sync.Once
}

func (c *guardConn) admit() error {
	c.once.Do(func() {
		c.err = c.admitOnce()
		if c.err != nil {
			c.Conn.Close()
		}
	})
	return c.err
}

func (c *guardConn) admitOnce() error {
	r := c.r
	c.remote = c.Conn.RemoteAddr()
	c.ip = addrIP(c.remote)
	if containsAddr(r.cfg.ProxyProtocolFrom, c.ip) {
		// The header comes first, within the same short time.
		_ = c.Conn.SetReadDeadline(c.preauth)
		c.br = bufio.NewReaderSize(c.Conn, 256)
		ap, err := readProxyHeader(c.br)
		if err != nil {
			r.cfg.Metrics.ConnectionsRefused.Inc()
			r.cfg.Logger.Warn("connection from the load balancer refused: bad PROXY header", "err", err)
			return errRefused
		}
		if ap.IsValid() {
			c.ip = ap.Addr().Unmap()
			c.remote = net.TCPAddrFromAddrPort(netip.AddrPortFrom(c.ip, ap.Port()))
		}
	}
	if why := r.conns.bind(c.ip); why != nil {
		// The slot is given back before the client reads the refusal:
		// a client that then connects again must find it free.
		c.closeOnce.Do(func() { r.conns.release(c.ip, false) })
		r.refuse(c.Conn, why)
		return errRefused
	}
	c.bound = true
	c.mu.Lock()
	c.capped = !containsAddr(r.cfg.RelayNetworks, c.ip)
	c.mu.Unlock()
	// A deadline set before admission (implicit TLS sets one for its
	// handshake) gets the cap now.
	return c.SetReadDeadline(c.wanted())
}

func (c *guardConn) Read(p []byte) (int, error) {
	if err := c.admit(); err != nil {
		return 0, err
	}
	if c.br != nil && c.br.Buffered() > 0 {
		return c.br.Read(p)
	}
	return c.Conn.Read(p)
}

func (c *guardConn) Write(p []byte) (int, error) {
	if err := c.admit(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// RemoteAddr is the client's address: the one the PROXY header gave, so
// relay-network checks, the Received field and the AUTH throttle see the
// sender and not the balancer.
func (c *guardConn) RemoteAddr() net.Addr {
	if c.admit() != nil || c.remote == nil {
		return c.Conn.RemoteAddr()
	}
	return c.remote
}

func (c *guardConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.want = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(c.capDeadline(t))
}

func (c *guardConn) wanted() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.want
}

func (c *guardConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// capDeadline keeps a read deadline within PreAuthTimeout while the client
// has not authenticated.
func (c *guardConn) capDeadline(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.capped && (t.IsZero() || t.After(c.preauth)) {
		return c.preauth
	}
	return t
}

// authenticated lifts the pre-AUTH cap.
func (c *guardConn) authenticated() {
	c.mu.Lock()
	c.capped = false
	c.mu.Unlock()
}

func (c *guardConn) Close() error {
	// Closing first ends a PROXY header read in progress, which admit
	// would otherwise finish before the count below can be taken.
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		// A connection closed before its first use was never bound.
		c.once.Do(func() { c.err = errRefused })
		c.r.conns.release(c.ip, c.bound)
	})
	return err
}

// clientAuthenticated lifts the pre-AUTH read cap of the session's
// connection, under TLS or not.
func clientAuthenticated(conn net.Conn) {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	if g, ok := conn.(*guardConn); ok {
		g.authenticated()
	}
}

// containsAddr reports whether one of nets holds ip.
func containsAddr(nets []netip.Prefix, ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	for _, p := range nets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
