// Package espapi is the ESP HTTP API front: senders that call SendGrid's,
// Mailgun's or Postmark's HTTP API through the ESP's own SDK point the
// SDK's base URL at pixelgate and keep their API key. Each recipient of a
// call gets the copy the SMTP relay would give them (R1: pixels stripped
// without consent, pixelgate's pixel with it; R12: tracked links cleaned;
// the manage-tracking footer), the ESP's own open and click tracking is
// switched off in the request itself, and the call goes on to the ESP
// with the client's credentials unchanged.
//
// One client call stays one upstream call wherever the ESP lets
// per-recipient values travel in one request: the recipients' rewritten
// contents are factored into one template with per-recipient values
// (proxy/espapi/factor), carried as SendGrid substitutions, Mailgun
// recipient-variables, or as the elements of a Postmark batch. Where that
// is impossible the call is split, and the delivery ledger keeps a retried
// call from sending a copy twice (ledger.go).
package espapi

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/go-chi/chi/v5"

	"github.com/pixelgate/pixelgate/proxy"
)

// ESP names a supported ESP API.
type ESP string

// The ESP APIs the front speaks; each is served under its own prefix.
const (
	SendGrid ESP = "sendgrid"
	Mailgun  ESP = "mailgun"
	Postmark ESP = "postmark"
)

// publicAPIs are each ESP's public API base URLs by region: the default
// is the first; `--esp-api-upstream mailgun=eu` picks another.
var publicAPIs = map[ESP]map[string]string{
	SendGrid: {"us": "https://api.sendgrid.com", "eu": "https://api.eu.sendgrid.com"},
	Mailgun:  {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"},
	Postmark: {"us": "https://api.postmarkapp.com"},
}

// ParseUpstreams reads `--esp-api-upstream`: a comma-separated list of
// esp=URL or esp=region (us, eu); ESPs not named use their public API in
// the US region.
func ParseUpstreams(v string) (map[ESP]*url.URL, error) {
	chosen := map[ESP]string{}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, val, ok := strings.Cut(item, "=")
		esp := ESP(strings.ToLower(strings.TrimSpace(name)))
		if !ok || publicAPIs[esp] == nil {
			return nil, fmt.Errorf("esp api upstream %q: want esp=URL or esp=region with esp one of sendgrid, mailgun, postmark", item)
		}
		chosen[esp] = strings.TrimSpace(val)
	}
	out := map[ESP]*url.URL{}
	for esp, regions := range publicAPIs {
		raw := regions["us"]
		if v, ok := chosen[esp]; ok {
			raw = v
			if r, ok := regions[strings.ToLower(v)]; ok {
				raw = r
			}
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("esp api upstream for %s: %q is neither an http(s) URL nor a region (%s)", esp, raw, regionNames(regions))
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		out[esp] = u
	}
	return out, nil
}

func regionNames(m map[string]string) string {
	var names []string
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Config is what the front needs.
type Config struct {
	// Relay makes each recipient's copy, exactly as for SMTP, and owns the
	// delivery ledger and the bookkeeping after delivery.
	Relay *proxy.Relay
	// Upstreams are the ESPs' API base URLs (ParseUpstreams).
	Upstreams map[ESP]*url.URL
	// RelayNetworks may call without pixelgate credentials; others must
	// send an smtp-user account's name and password as HTTP Basic in
	// Proxy-Authorization (RFC 9110 §11.7.1: credentials for an
	// intermediary, so the ESP's own Authorization passes untouched).
	RelayNetworks []netip.Prefix
	Credentials   *proxy.Credentials
	// MaxBodyBytes bounds a request body (default 30 MiB, SendGrid's
	// limit for a whole request).
	MaxBodyBytes int64
	// UpstreamTimeout bounds one call to the ESP (default 60 s).
	UpstreamTimeout time.Duration
	// CopyConcurrency is how many recipients' copies are rewritten at once
	// (default 8).
	CopyConcurrency int
	// MaxCalls is how many calls are handled at once (default 32): each
	// holds its body and its recipients' copies in memory. More get 429
	// with Retry-After, which the ESPs' SDKs treat as a rate limit.
	MaxCalls int
	// Client calls the ESPs (default: a client with UpstreamTimeout).
	Client *http.Client
	// Rand draws the substitution keys' nonce and ledger holders.
	Rand    io.Reader
	Metrics *Metrics
	// Logger gets one line per call: ESP, outcome, status, counts; never
	// an address, a credential or content (R8).
	Logger *slog.Logger
	Now    func() time.Time
}

// Server is the ESP HTTP API front.
type Server struct {
	cfg   Config
	slots chan struct{}
}

// New checks cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Relay == nil {
		return nil, errors.New("esp api: no relay to make the copies")
	}
	if cfg.Upstreams == nil {
		u, err := ParseUpstreams("")
		if err != nil {
			return nil, err
		}
		cfg.Upstreams = u
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 30 << 20
	}
	if cfg.UpstreamTimeout <= 0 {
		cfg.UpstreamTimeout = 60 * time.Second
	}
	if cfg.CopyConcurrency <= 0 {
		cfg.CopyConcurrency = 8
	}
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = 32
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.UpstreamTimeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Rand == nil {
		return nil, errors.New("esp api: no randomness source")
	}
	return &Server{cfg: cfg, slots: make(chan struct{}, cfg.MaxCalls)}, nil
}

// Handler serves every ESP under its prefix; anything else is 404.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Post("/sendgrid/v3/mail/send", s.serve(SendGrid, s.sendgrid))
	r.Post("/mailgun/v3/{domain}/messages", s.serve(Mailgun, s.mailgunForm))
	r.Post("/mailgun/v3/{domain}/messages.mime", s.serve(Mailgun, s.mailgunMIME))
	r.Post("/postmark/email", s.serve(Postmark, s.postmarkEmail))
	r.Post("/postmark/email/batch", s.serve(Postmark, s.postmarkBatch))
	r.Post("/postmark/email/withTemplate", s.serve(Postmark, s.postmarkTemplate))
	r.Post("/postmark/email/batchWithTemplates", s.serve(Postmark, s.postmarkTemplate))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "pixelgate ESP API front: no such route (see docs/operator-guide.md, \"ESP HTTP API front\")", http.StatusNotFound)
	})
	return r
}

// call is one client call as every ESP handler sees it.
type call struct {
	esp  ESP
	r    *http.Request
	body []byte
	// ledgerBody, when set, stands for body in the call's ledger id: the
	// call's content in an encoding that a client's retry reproduces
	// (a multipart body is drawn with a new random boundary each time).
	ledgerBody []byte
	log        *slog.Logger
	sum        *callSummary
}

type handlerFunc func(w http.ResponseWriter, c *call) error

// serve checks who calls, reads the body within its limit, and turns what
// a handler returns into the ESP's own error format.
func (s *Server) serve(esp ESP, h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := s.cfg.Now()
		sum := &callSummary{esp: esp}
		c := &call{esp: esp, r: r, log: s.cfg.Logger.With("esp", string(esp)), sum: sum}
		err := s.authorize(r)
		if err == nil {
			select {
			case s.slots <- struct{}{}:
				defer func() { <-s.slots }()
			default:
				err = &apiError{status: http.StatusTooManyRequests, retryAfter: 5, reason: "busy",
					msg: "pixelgate: too many calls at once (--esp-api-max-calls); nothing was sent, try again shortly"}
			}
		}
		if err == nil {
			c.body, err = readBody(w, r, s.cfg.MaxBodyBytes)
		}
		if err == nil {
			err = h(w, c)
		}
		if err != nil {
			writeError(w, esp, err)
			sum.fail(err)
		}
		s.cfg.Metrics.observe(sum)
		c.log.Info("esp api call", sum.attrs(s.cfg.Now().Sub(start))...)
	}
}

// authorize lets RelayNetworks in, and others with an smtp-user account
// in Proxy-Authorization (throttled as SMTP AUTH is, R10).
func (s *Server) authorize(r *http.Request) error {
	ip := remoteIP(r)
	for _, p := range s.cfg.RelayNetworks {
		if ip.IsValid() && p.Contains(ip) {
			return nil
		}
	}
	if r.TLS == nil {
		return &apiError{status: http.StatusForbidden, reason: "plain-http",
			msg: "pixelgate: outside the relay networks the ESP API front takes HTTPS only (an API key must not cross a network in clear)"}
	}
	user, pass, ok := proxyBasicAuth(r)
	if !ok {
		return &apiError{status: http.StatusProxyAuthRequired, authChallenge: true, reason: "no-credentials",
			msg: "pixelgate: this address is not in the relay networks; send an smtp-user account's name and password as HTTP Basic in the Proxy-Authorization header"}
	}
	if s.cfg.Credentials == nil {
		return &apiError{status: http.StatusForbidden, reason: "no-accounts", msg: "pixelgate: no smtp-user accounts are configured; call from the relay networks"}
	}
	err := s.cfg.Credentials.Check(r.Context(), ip.String(), user, pass)
	var se *smtp.SMTPError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se) && se.Code == 535:
		return &apiError{status: http.StatusProxyAuthRequired, authChallenge: true, reason: "wrong-credentials", msg: "pixelgate: wrong smtp-user name or password"}
	case errors.As(err, &se):
		return &apiError{status: http.StatusServiceUnavailable, retryAfter: 30, reason: "auth-unavailable", msg: "pixelgate: " + se.Message}
	}
	return &apiError{status: http.StatusServiceUnavailable, retryAfter: 30, reason: "auth-unavailable", msg: "pixelgate: authentication unavailable, try again later"}
}

func proxyBasicAuth(r *http.Request) (user, pass string, ok bool) {
	// net/http parses Basic credentials only from Authorization; the same
	// parser reads Proxy-Authorization through a shallow request copy.
	h := r.Header.Get("Proxy-Authorization")
	if h == "" {
		return "", "", false
	}
	probe := &http.Request{Header: http.Header{"Authorization": {h}}}
	return probe.BasicAuth()
}

func remoteIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, _ := netip.ParseAddr(host)
	return ip.Unmap()
}

// readBody reads the whole body or refuses it: a call is judged whole,
// never streamed half-checked to the ESP.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, &apiError{status: http.StatusRequestEntityTooLarge, reason: "too-large",
			msg: fmt.Sprintf("pixelgate: the request body is larger than %d bytes (--esp-api-max-body)", max)}
	case err != nil:
		return nil, &apiError{status: http.StatusBadRequest, reason: "bad-body", msg: "pixelgate: reading the request body: " + err.Error()}
	}
	return body, nil
}
