// Package proxy is pixelgate's SMTP relay: it rewrites every outbound
// message for each of its recipients before handing it to the ESP through
// proxy/upstream. The recipient-facing HTTP side (pixel, click redirect)
// is proxy/pixel.
//
// Up to Config.MaxRecipients recipients per transaction (RFC 5321
// §4.5.3.1.8: a server takes at least 100; beyond it 452, §4.5.3.1.10):
// each recipient's copy is rewritten for their consent (R1) and sent as its
// own upstream transaction, and the delivery ledger makes a client's retry
// after a partial failure send only the missing copies (fanout.go).
package proxy

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/learnstore"
	"github.com/pixelgate/pixelgate/internal/tlscert"
	"github.com/pixelgate/pixelgate/mailrewrite"
	"github.com/pixelgate/pixelgate/mailrewrite/learn"
	"github.com/pixelgate/pixelgate/proxy/upstream"
)

// RewriteFunc rewrites one message for one recipient (mailrewrite),
// appending the result to dst (a reused buffer; Rewritten.Msg may be a
// fresh one, but never shares memory with msg: the relay reuses both). A
// message it cannot parse is reported with an error wrapping
// ErrUnparseable.
type RewriteFunc func(dst, msg []byte, d mailrewrite.Decision, o mailrewrite.ReportOptions) (Rewritten, error)

// Rewritten is a rewrite's result as the relay needs it.
type Rewritten struct {
	Msg []byte
	// AskedConsent: the consent request block was put in the message, which
	// starts the R5 quiet period (MarkAsked).
	AskedConsent bool
	// Findings counts the rewrite's findings by reason, vendor and action,
	// for metrics.
	Findings map[mailrewrite.FindingCount]int
	// Resources are the incoming copy's URLs, for the campaign's learner.
	Resources []learn.Resource
}

// ErrUnparseable marks a message the rewrite engine cannot parse; the client
// gets 554 5.6.0 with the reason.
var ErrUnparseable = errors.New("message cannot be parsed")

// URLFactory builds pixelgate's URLs for one recipient (key and address,
// the latter only for the masked form on the consent page) and campaign.
type URLFactory func(k consent.Key, addr, campaign string) mailrewrite.URLs

// Config is everything the relay needs. Zero durations and limits take the
// defaults documented on each field.
type Config struct {
	// Hostname is used in the greeting and the Received field.
	Hostname string
	// Cert enables STARTTLS (and the implicit-TLS listener); nil disables
	// TLS, and with it AUTH.
	Cert *tlscert.Certificate
	// RelayNetworks may send without AUTH (default: loopback only).
	RelayNetworks []netip.Prefix
	// Credentials are the AUTH accounts; nil means no AUTH offered.
	Credentials *Credentials

	// MaxMessageBytes is the largest message the upstream accepts (default
	// 25 MiB). Rewriting grows a message (pixel, footer, tokens), so the
	// relay accepts and advertises in SIZE a little less: see
	// AcceptedMessageBytes.
	MaxMessageBytes int64
	// ReadTimeout and WriteTimeout bound each command (default 5 min,
	// RFC 5321 §4.5.3.2).
	ReadTimeout, WriteTimeout time.Duration
	// MaxConnections is the number of simultaneous SMTP connections
	// (default 100); more are refused with 421.
	MaxConnections int
	// MaxConnectionsPerAddress bounds one client address's connections
	// (default 20; IPv6 per /64; RelayNetworks exempt), and the last
	// ReservedConnections of MaxConnections (default a quarter) only go to
	// addresses holding none yet (see connlimit.go).
	MaxConnectionsPerAddress int
	ReservedConnections      int
	// PreAuthTimeout is how long a client outside RelayNetworks has from
	// connecting to authenticate (default 30 s).
	PreAuthTimeout time.Duration
	// ProxyProtocolFrom are the load balancers that must start each
	// connection with a PROXY protocol header (v1 or v2); the address it
	// gives stands for the client everywhere. Empty: no PROXY protocol;
	// a header from any other peer is just a bad SMTP command.
	ProxyProtocolFrom []netip.Prefix
	// StoreTimeout bounds each consent store call (default 2 s); past it
	// the relay fails closed.
	StoreTimeout time.Duration
	// DeliveryTimeout bounds the hand-over of one message (default 10 min,
	// the wait for a final reply of RFC 5321 §4.5.3.2.6: the client waits
	// as long for ours). Shutdown waits for hand-overs in progress up to
	// it, whatever its own grace.
	DeliveryTimeout time.Duration
	// MaxRecipients is the number of recipients per transaction (default
	// 100, the least RFC 5321 §4.5.3.1.8 lets a server take); more get 452.
	MaxRecipients int
	// CopyConcurrency is how many recipients' copies of one transaction
	// are rewritten and sent at once (default 8).
	CopyConcurrency int
	// BareLF is what a line ending in LF alone in DATA gets (default
	// BareLFNormalize: read as CRLF; see bare_lf.go).
	BareLF BareLF
	// Rand names ledger claims (default crypto/rand).
	Rand io.Reader

	Store        consent.Store
	RecipientKey func(addr string) (consent.Key, error)
	Rewrite      RewriteFunc
	URLs         URLFactory

	// CampaignHeader names the header with the campaign id (default
	// X-Pixelgate-Campaign); fallbacks are X-Campaign-Id,
	// X-Mailgun-Campaign-Id and List-Id, then a hash of From and Subject.
	CampaignHeader string
	// Deliverability enables the R4 date-only pixel for non-consenting
	// recipients; TrackClicks routes consenting recipients' links through
	// pixelgate. Both off by default.
	Deliverability bool
	TrackClicks    bool
	// DefaultLanguage is the language of the footer and consent request
	// for a message that names none pixelgate has texts for (default en;
	// see mailrewrite.Decision.DefaultLanguage).
	DefaultLanguage string

	// SendTally bounds how campaign send counts are added up and written
	// in bulk.
	SendTally SendTallyConfig

	// Learn keeps, per campaign, which URL parts differ between
	// recipients' copies (R12); nil disables learning.
	Learn *learnstore.Store

	ESP        ESP
	ESPOptions ESPOptions
	DKIM       *DKIMKeys

	Delivery upstream.Deliverer
	Metrics  *RelayMetrics
	// Logger gets one line per message (transaction id, campaign, counts
	// of decisions and copy outcomes, reply code, size, time) and no
	// address or recipient key (R8). LogRecipientKeys adds a line per
	// copy with its recipient key, for debugging a delivery.
	Logger           *slog.Logger
	LogRecipientKeys bool
	Now              func() time.Time
}

func (c *Config) defaults() error {
	if c.Hostname == "" {
		c.Hostname = "localhost"
	}
	if c.RelayNetworks == nil {
		c.RelayNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 25 << 20
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 5 * time.Minute
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 5 * time.Minute
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = 100
	}
	if c.MaxConnectionsPerAddress == 0 {
		c.MaxConnectionsPerAddress = 20
	}
	if c.ReservedConnections == 0 {
		c.ReservedConnections = c.MaxConnections / 4
	}
	// A reserve as large as the pool would leave every address one
	// connection; keep at least one slot outside it.
	c.ReservedConnections = max(min(c.ReservedConnections, c.MaxConnections-1), 0)
	if c.PreAuthTimeout == 0 {
		c.PreAuthTimeout = 30 * time.Second
	}
	if c.StoreTimeout == 0 {
		c.StoreTimeout = 2 * time.Second
	}
	if c.DeliveryTimeout == 0 {
		c.DeliveryTimeout = 10 * time.Minute
	}
	if c.MaxRecipients == 0 {
		c.MaxRecipients = 100
	}
	if c.CopyConcurrency == 0 {
		c.CopyConcurrency = 8
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.DefaultLanguage == "" {
		c.DefaultLanguage = mailrewrite.DefaultLanguage
	}
	if !mailrewrite.SupportedLanguage(c.DefaultLanguage) {
		return fmt.Errorf("relay: default language %q: footer texts exist for %s", c.DefaultLanguage, strings.Join(mailrewrite.FooterLanguages(), ", "))
	}
	if c.BareLF == "" {
		c.BareLF = BareLFNormalize
	}
	if _, err := ParseBareLF(string(c.BareLF)); err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	if c.CampaignHeader == "" {
		c.CampaignHeader = DefaultCampaignHeader
	}
	if c.ESP == "" {
		c.ESP = "generic"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Metrics == nil {
		return errors.New("relay: no metrics")
	}
	switch {
	case c.Store == nil:
		return errors.New("relay: no consent store")
	case c.RecipientKey == nil:
		return errors.New("relay: no recipient keyring")
	case c.Rewrite == nil:
		return errors.New("relay: no rewrite engine")
	case c.URLs == nil:
		return errors.New("relay: no URL factory")
	case c.Delivery == nil:
		return errors.New("relay: no upstream or outbox")
	}
	return CheckESP(c.ESP, c.ESPOptions)
}

// AcceptedMessageBytes is what the relay accepts from clients when the
// upstream takes max: a headroom of a tenth, at most 64 KiB, is kept for
// what the rewrite adds (RFC 1870 SIZE is advertised with this value).
func AcceptedMessageBytes(max int64) int64 {
	return max - min(max/10, 64<<10)
}

// Relay is the SMTP relay.
type Relay struct {
	cfg Config
	srv *smtp.Server

	mu        sync.Mutex
	listeners []net.Listener
	inflight  int
	// delivering counts hand-overs in progress; cutoff refuses new ones
	// once Shutdown's grace is over (drain.go).
	delivering int
	cutoff     bool
	draining   atomic.Bool
	conns      *connLimiter
	idSeq      atomic.Uint64

	// bookkeeping bounds the background store writes after delivery;
	// background waits for them at shutdown.
	bookkeeping chan struct{}
	background  sync.WaitGroup
	// sends adds campaign send counts up between store writes.
	sends *sendTally
	// buffers are the DATA read buffers, reused.
	buffers dataBuffers
}

// NewRelay checks cfg and prepares the server; nothing listens yet.
func NewRelay(cfg Config) (*Relay, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r := &Relay{cfg: cfg, bookkeeping: make(chan struct{}, 256),
		sends: newSendTally(cfg.SendTally, cfg.Store, cfg.StoreTimeout, cfg.Logger, cfg.Metrics)}
	r.cfg.Delivery = drainingDeliverer{Deliverer: cfg.Delivery, r: r}
	r.conns = newConnLimiter(cfg.MaxConnections, cfg.MaxConnectionsPerAddress, cfg.ReservedConnections,
		func(ip netip.Addr) bool { return containsAddr(cfg.RelayNetworks, ip) })
	s := smtp.NewServer(smtp.BackendFunc(r.newSession))
	s.Domain = cfg.Hostname
	s.MaxMessageBytes = AcceptedMessageBytes(cfg.MaxMessageBytes)
	// Command and data lines: RFC 5321 §4.5.3.1.6 allows 1000 octets;
	// the content check gives the precise reply, this only bounds memory.
	s.MaxLineLength = 4096
	s.ReadTimeout = cfg.ReadTimeout
	s.WriteTimeout = cfg.WriteTimeout
	s.EnableSMTPUTF8 = true
	s.ErrorLog = log.New(io.Discard, "", 0)
	if cfg.Cert != nil {
		s.TLSConfig = cfg.Cert.TLSConfig()
	}
	r.srv = s
	return r, nil
}

// Serve accepts plain connections (STARTTLS offered) on l until Shutdown.
func (r *Relay) Serve(l net.Listener) error {
	return r.serve(r.limit(l))
}

// ServeTLS accepts implicit-TLS connections (RFC 8314) on l.
func (r *Relay) ServeTLS(l net.Listener) error {
	if r.cfg.Cert == nil {
		return errors.New("relay: implicit TLS needs a certificate")
	}
	return r.serve(tls.NewListener(r.limit(l), r.srv.TLSConfig))
}

func (r *Relay) serve(l net.Listener) error {
	r.mu.Lock()
	if r.draining.Load() {
		r.mu.Unlock()
		l.Close()
		return nil
	}
	r.listeners = append(r.listeners, l)
	r.mu.Unlock()
	err := r.srv.Serve(l)
	if r.draining.Load() || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Reload re-reads the TLS certificate and DKIM keys (SIGHUP). Relay
// credentials are read from the store at each AUTH and need no reload.
func (r *Relay) Reload() error {
	var errs []error
	if r.cfg.Cert != nil {
		errs = append(errs, r.cfg.Cert.Reload())
	}
	if r.cfg.DKIM != nil {
		errs = append(errs, r.cfg.DKIM.Reload())
	}
	return errors.Join(errs...)
}

// Shutdown stops accepting connections and new transactions, waits for the
// transactions in progress to finish (until ctx ends), then for the
// messages being handed to the upstream (each up to DeliveryTimeout, even
// past ctx: see drain.go), then closes every connection and writes the
// pending campaign send counts, so a SIGTERM loses none. It returns ctx's
// error when transactions had to be cut.
func (r *Relay) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.draining.Store(true)
	for _, l := range r.listeners {
		l.Close()
	}
	r.mu.Unlock()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		if n, _ := r.counts(); n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			err = ctx.Err()
			break wait
		case <-tick.C:
		}
	}
	r.drainDeliveries(tick.C)
	r.srv.Close()
	// Let the bookkeeping of delivered messages reach the store.
	done := make(chan struct{})
	go func() { r.background.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	r.sends.close(ctx)
	return err
}

// beginTransaction counts a transaction in; false when shutting down.
func (r *Relay) beginTransaction() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.draining.Load() {
		return false
	}
	r.inflight++
	r.cfg.Metrics.Transactions.Inc()
	return true
}

func (r *Relay) endTransaction() {
	r.mu.Lock()
	r.inflight--
	r.mu.Unlock()
	r.cfg.Metrics.Transactions.Dec()
}

// allowedNetwork reports whether addr may relay without AUTH.
func (r *Relay) allowedNetwork(addr net.Addr) bool {
	return containsAddr(r.cfg.RelayNetworks, addrIP(addr))
}

func addrIP(addr net.Addr) netip.Addr {
	if ta, ok := addr.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// limit wraps l with the connection admission of connlimit.go.
func (r *Relay) limit(l net.Listener) net.Listener {
	return &limitListener{Listener: l, r: r}
}

// nextID is a transaction id for the Received field and logs.
func (r *Relay) nextID() string {
	return fmt.Sprintf("%x%04x", r.cfg.Now().Unix(), r.idSeq.Add(1)&0xffff)
}
