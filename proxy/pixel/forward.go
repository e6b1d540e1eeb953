package pixel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ForwardConfig configures the optional forwarding of a consenting
// recipient's open to the ESP's original pixel URL (off by default).
type ForwardConfig struct {
	// Timeout bounds one forwarded hit, redirects included. Default 5s.
	Timeout time.Duration
	// MaxRedirects followed, each re-checked by the guard. Default 3.
	MaxRedirects int
	// Concurrency bounds hits in flight; beyond it new hits are dropped
	// and counted, never queued (the pixel must not slow down). Default 16.
	Concurrency int
	// Allow decides whether a resolved address may be connected to. Nil
	// means IsPublicAddr. Tests inject a looser check to reach loopback
	// servers; production must keep the default.
	Allow func(netip.Addr) bool
	// UserAgent sent upstream; the recipient's own headers are never passed
	// on (R8). Default "pixelgate-forwarder".
	UserAgent string
}

// Forwarder sends pixel hits to the ESP's original pixel URL, server-side
// and asynchronously, so the ESP's statistics keep working without learning
// the recipient's address, IP address or client (R8).
type Forwarder struct {
	client  *http.Client
	ua      string
	timeout time.Duration
	sem     chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex // guards closed and wg.Add against Close's Wait
	closed  bool
	wg      sync.WaitGroup
	results *prometheus.CounterVec
}

// Forward outcomes, the values of the metric's result label.
const (
	forwardOK       = "ok"
	forwardBadURL   = "bad-url"
	forwardRefused  = "refused" // guard refused the address or a redirect
	forwardError    = "error"   // network error, timeout, HTTP status >= 400
	forwardDropped  = "dropped" // concurrency limit reached
	forwardRedirect = "too-many-redirects"
)

// NewForwarder builds a forwarder and registers its metric on reg.
func NewForwarder(cfg ForwardConfig, reg prometheus.Registerer) (*Forwarder, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MaxRedirects < 0 {
		return nil, fmt.Errorf("forwarder: MaxRedirects %d < 0", cfg.MaxRedirects)
	}
	if cfg.MaxRedirects == 0 {
		cfg.MaxRedirects = 3
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.Allow == nil {
		cfg.Allow = IsPublicAddr
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "pixelgate-forwarder"
	}
	results := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pixelgate_pixel_forward_total",
		Help: "Pixel hits forwarded to the ESP's original pixel, by result.",
	}, []string{"result"})
	if reg != nil {
		if err := reg.Register(results); err != nil {
			return nil, fmt.Errorf("register forwarder metrics: %w", err)
		}
	}
	for _, r := range []string{forwardOK, forwardBadURL, forwardRefused, forwardError, forwardDropped, forwardRedirect} {
		results.WithLabelValues(r)
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, Control: dialGuard(cfg.Allow)}
	maxRedirects := cfg.MaxRedirects
	transport := &http.Transport{
		// Never through an environment proxy: the guard must see the
		// final destination's address, not the proxy's.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSHandshakeTimeout:    cfg.Timeout,
		ResponseHeaderTimeout:  cfg.Timeout,
		MaxResponseHeaderBytes: 16 << 10,
		// The body is never read, so a connection can't be reused.
		DisableKeepAlives:  true,
		DisableCompression: true,
		ForceAttemptHTTP2:  true,
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Forwarder{
		client: &http.Client{
			Transport: transport,
			Timeout:   cfg.Timeout,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) > maxRedirects {
					return errTooManyRedirects
				}
				// The next hop's address is checked at dial time; its
				// scheme is checked here.
				if err := checkForwardURL(req.URL); err != nil {
					return err
				}
				return nil
			},
		},
		ua:      cfg.UserAgent,
		timeout: cfg.Timeout,
		sem:     make(chan struct{}, cfg.Concurrency),
		ctx:     ctx,
		cancel:  cancel,
		results: results,
	}, nil
}

var (
	errTooManyRedirects = errors.New("too many redirects")
	errBadForwardURL    = errors.New("not an absolute http or https URL")
)

func checkForwardURL(u *url.URL) error {
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return errBadForwardURL
	}
	return nil
}

// Forward starts forwarding one hit to rawURL and returns at once. It
// reports false when the hit was not started (bad URL, concurrency limit,
// forwarder closed); the outcome is only counted, never logged, because
// the URL identifies a recipient at the ESP (R8).
func (f *Forwarder) Forward(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err == nil {
		err = checkForwardURL(u)
	}
	if err != nil {
		f.results.WithLabelValues(forwardBadURL).Inc()
		return false
	}
	select {
	case f.sem <- struct{}{}:
	default:
		f.results.WithLabelValues(forwardDropped).Inc()
		return false
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		<-f.sem
		f.results.WithLabelValues(forwardDropped).Inc()
		return false
	}
	f.wg.Add(1)
	f.mu.Unlock()
	go func() {
		defer func() { <-f.sem; f.wg.Done() }()
		f.results.WithLabelValues(f.do(rawURL)).Inc()
	}()
	return true
}

// do performs one forward of the URL exactly as the ESP wrote it and
// returns its result label.
func (f *Forwarder) do(rawURL string) string {
	ctx, cancel := context.WithTimeout(f.ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return forwardBadURL
	}
	// Only these headers: nothing of the recipient's request is passed on.
	req.Header.Set("User-Agent", f.ua)
	req.Header.Set("Accept", "image/*")
	resp, err := f.client.Do(req)
	if err != nil {
		switch {
		case errors.Is(err, errNotPublic), errors.Is(err, errBadForwardURL):
			return forwardRefused
		case errors.Is(err, errTooManyRedirects):
			return forwardRedirect
		default:
			return forwardError
		}
	}
	// No body read: the image itself is of no use here.
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return forwardError
	}
	return forwardOK
}

// Close stops accepting hits and waits for those in flight to finish; when
// ctx ends first, it cancels them and returns ctx's error.
func (f *Forwarder) Close(ctx context.Context) error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	if err := waitOrCancel(ctx, &f.wg, f.cancel); err != nil {
		return fmt.Errorf("close forwarder: %w", err)
	}
	return nil
}

// waitOrCancel waits for wg; when ctx ends first, it calls cancel, which
// makes the work end early, waits for wg all the same and returns ctx's
// error. cancel is called in either case, to release its context.
func waitOrCancel(ctx context.Context, wg *sync.WaitGroup, cancel context.CancelFunc) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		cancel()
		return nil
	case <-ctx.Done():
		cancel()
		<-done
		return ctx.Err()
	}
}
