package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/meteredstore"
	"github.com/pixelgate/pixelgate/consent/passhash"
	"github.com/pixelgate/pixelgate/internal/tlscert"
	"github.com/pixelgate/pixelgate/mailrewrite"
	"github.com/pixelgate/pixelgate/proxy"
	"github.com/pixelgate/pixelgate/proxy/upstream"
	"github.com/pixelgate/pixelgate/web"
)

// serveSettings are the settings of `serve`, shared with check-config so
// both read and validate exactly the same thing.
type serveSettings struct {
	store storeFlags

	smtpAddr, smtpsAddr, httpAddr, publicURL *string
	hostname, relayNetworks, proxyFrom       *string
	tlsCert, tlsKey                          *string

	upstream, upstreamCA, esp, sesConfigSet *string
	upstreamPool                            *int

	maxMessageBytes *int64
	maxConnections  *int
	maxRecipients   *int
	copyConcurrency *int
	maxPerAddress   *int
	smtpTimeout     *time.Duration
	preauthTimeout  *time.Duration
	storeTimeout    *time.Duration
	deliveryTimeout *time.Duration
	shutdownGrace   *time.Duration

	dkimDir, dkimSelector *string
	dkimSignAll           *bool

	campaignHeader *string
	defaultLang    *string
	deliverability *bool
	trackClicks    *bool
	learn          *bool
	learnTTL       *time.Duration

	logFormat        *string
	logRecipientKeys *bool
	bareLF           *string

	httpReadTimeout *time.Duration

	dashboard dashboardFlags
	pixel     pixelFlags
	logins    loginFlags
	espAPI    espAPIFlags
}

func addServeFlags(fs *flagSet) *serveSettings {
	pu := addPublicURLFlags(fs, "base URL of pixel and consent links as recipients reach it")
	return &serveSettings{
		store:         addStoreFlags(fs),
		smtpAddr:      fs.String("smtp-addr", "127.0.0.1:2525", "SMTP relay address (STARTTLS offered)"),
		smtpsAddr:     fs.String("smtps-addr", "", "optional implicit-TLS SMTP address (RFC 8314), e.g. 127.0.0.1:4650"),
		httpAddr:      pu.httpAddr,
		publicURL:     pu.publicURL,
		hostname:      fs.String("hostname", "", "name in the SMTP greeting and Received field (default: the host name)"),
		relayNetworks: fs.String("relay-networks", "127.0.0.0/8,::1/128", "comma-separated networks that may relay without AUTH"),
		proxyFrom:     fs.String("proxy-protocol-from", "", "comma-separated load balancer networks that must send a PROXY protocol v1/v2 header on SMTP; its address is then the client's (empty: off)"),
		tlsCert:       fs.String("tls-cert", "", "PEM certificate chain for STARTTLS/implicit TLS (default: self-signed, made once in --data-dir)"),
		tlsKey:        fs.String("tls-key", "", "PEM private key of --tls-cert"),

		upstream:     fs.String("upstream", "", "ESP SMTP URL: smtp://user:pass@host:port (STARTTLS; ?tls=none for plain), smtps://...; empty = write DATA_DIR/outbox/*.eml"),
		upstreamCA:   fs.String("upstream-ca", "", "PEM file of extra CAs to trust for the upstream's certificate"),
		upstreamPool: fs.Int("upstream-pool", 8, "idle upstream connections kept for reuse; below --copy-concurrency, copies sent at once beyond it each open a connection of their own"),
		esp:          fs.String("esp", "generic", "ESP profile adding its tracking-off headers: "+strings.Join(proxy.ESPs(), ", ")),
		sesConfigSet: fs.String("ses-configuration-set", "", "with --esp ses: a configuration set without open/click tracking"),

		maxMessageBytes: fs.Int64("max-message-bytes", 25<<20, "largest message the upstream accepts; clients may send up to 64 KiB less (SIZE), room for what the rewrite adds"),
		maxConnections:  fs.Int("max-connections", 100, "simultaneous SMTP connections; more get 421; the last quarter only go to addresses holding none"),
		maxRecipients:   fs.Int("max-recipients", 100, "recipients per SMTP transaction, each sent its own rewritten copy; more get 452 (RFC 5321 §4.5.3.1.10)"),
		copyConcurrency: fs.Int("copy-concurrency", 8, "recipients' copies of one transaction rewritten and sent upstream at once"),
		maxPerAddress:   fs.Int("max-connections-per-address", 20, "simultaneous SMTP connections from one client address (IPv6: one /64); --relay-networks are exempt"),
		bareLF:          fs.String("smtp-bare-lf", string(proxy.BareLFNormalize), "a DATA line ending in LF alone: normalize (read as CRLF, as Postfix 3.9 does; the end of data stays CRLF.CRLF) or reject (554)"),
		smtpTimeout:     fs.Duration("smtp-timeout", 5*time.Minute, "SMTP command read/write timeout"),
		preauthTimeout:  fs.Duration("smtp-preauth-timeout", 30*time.Second, "time a client outside --relay-networks has from connecting to authenticate; past it 421"),
		storeTimeout:    fs.Duration("store-timeout", 2*time.Second, "consent lookup timeout; past it the relay fails closed"),
		deliveryTimeout: fs.Duration("delivery-timeout", 10*time.Minute, "time allowed to hand one message to the upstream, its final reply included (RFC 5321: 10 min)"),
		shutdownGrace:   fs.Duration("shutdown-grace", 30*time.Second, "on SIGTERM, time given to transactions in progress; a message being handed to the upstream is waited for up to --delivery-timeout"),

		dkimDir:      fs.String("dkim-keys-dir", "", "directory of DKIM keys named DOMAIN.pem, to re-sign messages whose signature the rewrite breaks"),
		dkimSelector: fs.String("dkim-selector", "pixelgate", "DKIM selector of the keys in --dkim-keys-dir"),
		dkimSignAll:  fs.Bool("dkim-sign-all", false, "sign every message whose From domain has a key"),

		campaignHeader: fs.String("campaign-header", proxy.DefaultCampaignHeader, "header holding the campaign id"),
		defaultLang:    fs.String("default-language", mailrewrite.DefaultLanguage, "language of the footer link and consent request added to a message that names none pixelgate has texts for ("+strings.Join(mailrewrite.FooterLanguages(), ", ")+"); a message names it with X-Pixelgate-Language, Content-Language or <html lang>"),
		deliverability: fs.Bool("deliverability", false, "R4 exemption: date-only deliverability pixel for non-consenting recipients"),
		trackClicks:    fs.Bool("track-clicks", false, "route consenting recipients' links through pixelgate's redirect"),
		learn:          fs.Bool("learn", true, "learn, per campaign, which URL parts differ between recipients' copies and treat them as identifiers"),
		learnTTL:       fs.Duration("learn-ttl", 30*24*time.Hour, "how long a campaign's learned URL shapes are kept after its last copy"),

		logFormat:        fs.String("log-format", "text", "log format on stderr: text or json"),
		logRecipientKeys: fs.Bool("log-recipient-keys", false, "also log one line per recipient's copy with its pseudonymous recipient key (debugging; off by default, R8 minimisation)"),

		httpReadTimeout: fs.Duration("http-read-timeout", 30*time.Second, "time an HTTP client has to send a whole request, body included (headers: at most 10s)"),

		dashboard: addDashboardFlags(fs),
		pixel:     addPixelFlags(fs),
		logins:    addLoginFlags(fs),
		espAPI:    addESPAPIFlags(fs),
	}
}

// checked are the settings that validate() turned into values.
type checked struct {
	networks  []netip.Prefix
	publicURL string
	// derived: publicURL follows the HTTP listener (no --public-url).
	derived    bool
	proxyFrom  []netip.Prefix
	hostname   string
	upstreamCA *x509.CertPool
}

// validate checks every setting that can be checked without side effects.
func (s *serveSettings) validate() (checked, error) {
	var c checked
	var errs []error
	var err error
	if c.networks, err = parseNetworks("--relay-networks", *s.relayNetworks); err != nil {
		errs = append(errs, err)
	}
	if c.proxyFrom, err = parseNetworks("--proxy-protocol-from", *s.proxyFrom); err != nil {
		errs = append(errs, err)
	}
	c.hostname = *s.hostname
	if c.hostname == "" {
		c.hostname, _ = os.Hostname()
	}
	pu, err := publicURLFlags{httpAddr: s.httpAddr, publicURL: s.publicURL}.resolve(c.hostname)
	if err != nil {
		errs = append(errs, err)
	}
	c.publicURL, c.derived = pu.url, pu.derived
	if *s.upstream != "" {
		if _, err := upstream.ParseUpstream(upstream.UpstreamConfig{URL: *s.upstream}); err != nil {
			errs = append(errs, fmt.Errorf("--upstream: %w", err))
		}
	}
	if *s.upstreamCA != "" {
		pem, err := os.ReadFile(*s.upstreamCA)
		c.upstreamCA = x509.NewCertPool()
		if err != nil || !c.upstreamCA.AppendCertsFromPEM(pem) {
			errs = append(errs, fmt.Errorf("--upstream-ca %s: no PEM certificates readable", *s.upstreamCA))
		}
	}
	if err := proxy.CheckESP(proxy.ESP(*s.esp), s.espOptions()); err != nil {
		errs = append(errs, fmt.Errorf("--esp: %w", err))
	}
	if (*s.tlsCert == "") != (*s.tlsKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	} else if *s.tlsCert != "" {
		if _, err := tlscert.LoadCertificate(*s.tlsCert, *s.tlsKey); err != nil {
			errs = append(errs, err)
		}
	}
	if *s.dkimDir != "" {
		if _, err := proxy.LoadDKIMKeys(*s.dkimDir, *s.dkimSelector, *s.dkimSignAll); err != nil {
			errs = append(errs, err)
		}
	}
	if *s.maxMessageBytes < 1024 || *s.maxConnections < 1 || *s.maxPerAddress < 1 || *s.upstreamPool < 0 {
		errs = append(errs, errors.New("--max-message-bytes, --max-connections, --max-connections-per-address and --upstream-pool must be positive"))
	}
	if !mailrewrite.SupportedLanguage(*s.defaultLang) {
		errs = append(errs, fmt.Errorf("--default-language %q: footer texts exist for %s", *s.defaultLang, strings.Join(mailrewrite.FooterLanguages(), ", ")))
	}
	if _, err := proxy.ParseBareLF(*s.bareLF); err != nil {
		errs = append(errs, fmt.Errorf("--smtp-bare-lf: %w", err))
	}
	if *s.preauthTimeout <= 0 {
		errs = append(errs, errors.New("--smtp-preauth-timeout must be positive"))
	}
	if *s.maxRecipients < 1 || *s.copyConcurrency < 1 {
		errs = append(errs, errors.New("--max-recipients and --copy-concurrency must be at least 1"))
	}
	for _, a := range []struct{ name, addr string }{{"--smtp-addr", *s.smtpAddr}, {"--http-addr", *s.httpAddr}, {"--smtps-addr", *s.smtpsAddr}} {
		if a.addr == "" && a.name == "--smtps-addr" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a.name, err))
		}
	}
	if *s.httpReadTimeout <= 0 {
		errs = append(errs, errors.New("--http-read-timeout must be positive"))
	}
	if *s.logFormat != "text" && *s.logFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", *s.logFormat))
	}
	errs = append(errs, s.pixel.validate(), s.logins.validate(), s.espAPI.validate())
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("%w: %w", errUsage, err)
	}
	return c, nil
}

// parseNetworks is parsePrefixes for a flag: errors name it, and an empty
// list is empty, never "everybody".
func parseNetworks(flag, list string) ([]netip.Prefix, error) {
	nets, err := parsePrefixes(list)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if nets == nil {
		nets = []netip.Prefix{}
	}
	return nets, nil
}

func (s *serveSettings) espOptions() proxy.ESPOptions {
	return proxy.ESPOptions{SESConfigurationSet: *s.sesConfigSet}
}

// certificate returns the configured certificate or the self-signed one.
func (s *serveSettings) certificate(hostname string) (*tlscert.Certificate, error) {
	if *s.tlsCert != "" {
		return tlscert.LoadCertificate(*s.tlsCert, *s.tlsKey)
	}
	return tlscert.SelfSignedCertificate(*s.store.dataDir, hostname, time.Now(), rand.Reader)
}

// outboxDir is where messages go when no upstream is configured; "" when
// one is.
func (s *serveSettings) outboxDir() string {
	if *s.upstream != "" {
		return ""
	}
	return filepath.Join(*s.store.dataDir, "outbox")
}

// delivery is the upstream, or the outbox when none is configured.
func (s *serveSettings) delivery(c checked, logger *slog.Logger) (upstream.Deliverer, error) {
	if dir := s.outboxDir(); dir != "" {
		return upstream.NewOutbox(dir, time.Now)
	}
	tc := &tls.Config{RootCAs: c.upstreamCA}
	return upstream.ParseUpstream(upstream.UpstreamConfig{URL: *s.upstream, HelloName: c.hostname,
		Timeout: min(*s.deliveryTimeout, 5*time.Minute), DataTimeout: *s.deliveryTimeout, MaxIdle: *s.upstreamPool, TLS: tc,
		Logger: logger.With("part", "upstream")})
}

// serveDeps is what the HTTP handlers are built from.
type serveDeps struct {
	store     consent.Store
	delivery  upstream.Deliverer
	keyring   *consent.Keyring
	hashes    *passhash.Gate
	publicURL string
	dataDir   string
	registry  *prometheus.Registry
	logger    *slog.Logger
	now       func() time.Time

	// embedded says the store is the file in dataDir; outboxDir is where
	// messages are written ("" with an upstream); both need disk room
	// for a message of maxMessageBytes to be ready. ready is the full
	// readiness check, for the dashboard's admins.
	embedded        bool
	outboxDir       string
	maxMessageBytes int64
	ready           func(context.Context) error

	// dashboardFlags and env configure the dashboard; httpHandlers sets
	// dash so serve can print the first-run link and close the SIEM file.
	dashboardFlags dashboardFlags
	env            *environ
	dash           *dashboard

	// pixelFlags configure the recipient-facing handlers; httpHandlers
	// sets pixel so serve can let forwarded opens finish.
	pixelFlags pixelFlags
	pixel      *pixelParts
}

// httpHandlers assembles the HTTP side. Each part adds its own lines in its
// own block below.
func httpHandlers(d *serveDeps) (web.Handlers, error) {
	h := web.Handlers{
		Metrics: promhttp.HandlerFor(d.registry, promhttp.HandlerOpts{}),
		Ready:   upstream.NewReadiness(d.logger.With("part", "ready"), d.readyChecks()...).Ready,
	}
	if pub, err := url.Parse(d.publicURL); err == nil && pub.Scheme == "https" {
		h.HSTS = true
	}
	d.ready = h.Ready

	// Pixel endpoint and click redirect (proxy/pixel*.go).
	// Consent pages (web/consentpage).
	var err error
	if h.Pixel, h.Link, h.Consent, h.Static, d.pixel, err = recipientHandlers(d, d.pixelFlags); err != nil {
		return h, err
	}
	h.Home = d.pixel.home

	// Dashboard and JSON API (web/admin, web/api).
	dash, err := newDashboard(d, d.env, d.dashboardFlags)
	if err != nil {
		return h, err
	}
	h.Admin, h.API, d.dash = dash.admin, dash.api, dash

	return h, nil
}

// newRelayRewrite is the rewrite engine with its embedded tracker rules.
func newRelayRewrite() (proxy.RewriteFunc, error) {
	rw, err := mailrewrite.New(mailrewrite.Options{})
	if err != nil {
		return nil, err
	}
	return proxy.MailRewrite(rw), nil
}

// newHTTPServer bounds how long a client may take to send a request:
// without ReadTimeout a body sent a byte at a time held its connection and
// goroutine forever. There is no WriteTimeout: it would also cut the
// dashboard's long exports, and a response is written at the client's pace
// only once its request was read in time.
func newHTTPServer(h http.Handler, readTimeout time.Duration, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(readTimeout, 10*time.Second),
		ReadTimeout:       readTimeout,
		// Keep-alive connections between requests.
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

func runServe(ctx context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "serve [flags]", "Run the SMTP relay and the HTTP side (pixel, consent pages, dashboard).\n"+
		"Zero config: SMTP on 127.0.0.1:2525, HTTP on 127.0.0.1:8080, embedded store and outbox in ./data.")
	set := addServeFlags(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.wantArgs("serve", 0, ""); err != nil {
		return err
	}
	c, err := set.validate()
	if err != nil {
		return err
	}
	logger := newServeLogger(*set.logFormat, env)

	httpL, err := listenHTTP(set, &c, logger)
	if err != nil {
		return err
	}
	defer httpL.Close()

	st, store, reg, err := openMeteredStore(ctx, env, set, logger)
	if err != nil {
		return err
	}
	defer st.close()

	sp, err := buildRelay(set, c, st, store, reg, logger)
	if err != nil {
		return err
	}
	defer sp.delivery.Close()

	deps, httpSrv, err := buildHTTPSide(env, set, c, st, store, reg, sp, logger)
	if err != nil {
		return err
	}
	defer deps.dash.close()
	defer deps.pixel.close()

	smtpL, smtpsL, err := listenSMTP(set)
	if err != nil {
		return err
	}
	espSrv, espL, err := espAPIServer(set, c, sp, reg, logger)
	if err != nil {
		return err
	}
	var extra []servedHTTP
	if espSrv != nil {
		extra = append(extra, servedHTTP{espSrv, espL})
		fmt.Fprintf(env.stdout, "pixelgate: ESP API front on %s (HTTPS; plain HTTP from --relay-networks)\n", espL.Addr())
	}

	announce(env, set, c, st, sp, smtpL, smtpsL, httpL)
	if err := deps.dash.printFirstRunLink(ctx, env.stdout, c.publicURL); err != nil {
		return err
	}

	return serveUntilDone(ctx, sp.relay, smtpL, smtpsL, append([]servedHTTP{{httpSrv, httpL}}, extra...), *set.shutdownGrace, logger)
}

// newServeLogger is serve's logger, in the --log-format asked for.
func newServeLogger(format string, env *environ) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(env.stderr, nil))
	}
	return slog.New(slog.NewTextHandler(env.stderr, nil))
}

// listenHTTP opens the HTTP listener. It comes first: without --public-url
// the links in every email follow the port it actually got (port 0 = any
// free one), so it sets c.publicURL then.
func listenHTTP(set *serveSettings, c *checked, logger *slog.Logger) (net.Listener, error) {
	httpL, err := net.Listen("tcp", *set.httpAddr)
	if err != nil {
		return nil, fmt.Errorf("listen HTTP: %w", err)
	}
	if c.derived {
		pu, err := derivePublicURL(httpL.Addr().String(), c.hostname)
		if err != nil {
			httpL.Close()
			return nil, err
		}
		c.publicURL = pu.url
	}
	for _, w := range publicURLWarnings(publicURL{url: c.publicURL, derived: c.derived}, *set.pixel.consentTexts) {
		logger.Warn(w)
	}
	return httpL, nil
}

// openMeteredStore opens the store and the metrics registry, and returns
// the store every part below uses: through the meter, so store latency and
// failures show before the relay starts failing closed. The caller closes
// st.
func openMeteredStore(ctx context.Context, env *environ, set *serveSettings, logger *slog.Logger) (*storeHandle, consent.Store, *prometheus.Registry, error) {
	st, err := openServeStore(ctx, env, set.store, logger)
	if err != nil {
		return nil, nil, nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metered, err := meteredstore.Wrap(st.store, reg, time.Now)
	if err != nil {
		st.close()
		return nil, nil, nil, err
	}
	// A separate value, not st.store: the admin socket and purge goroutines
	// keep reading st.store, so it must not be reassigned.
	return st, consent.Store(metered), reg, nil
}

// relayParts is the SMTP side: the relay and what serve shares with the
// HTTP side or shows at start.
type relayParts struct {
	relay    *proxy.Relay
	cert     *tlscert.Certificate
	delivery upstream.Deliverer // the caller closes it
	hashes   *passhash.Gate
	// creds are the smtp-user accounts, for SMTP AUTH and the ESP API front.
	creds *proxy.Credentials
}

// buildRelay builds the SMTP relay: TLS certificate, DKIM keys, delivery
// upstream, rewrite engine, learner and SMTP credentials.
func buildRelay(set *serveSettings, c checked, st *storeHandle, store consent.Store, reg *prometheus.Registry, logger *slog.Logger) (relayParts, error) {
	cert, err := set.certificate(c.hostname)
	if err != nil {
		return relayParts{}, err
	}
	dkimKeys, err := proxy.LoadDKIMKeys(*set.dkimDir, *set.dkimSelector, *set.dkimSignAll)
	if err != nil {
		return relayParts{}, err
	}
	delivery, err := set.delivery(c, logger)
	if err != nil {
		return relayParts{}, err
	}
	sp := relayParts{cert: cert, delivery: delivery, hashes: set.logins.hashGate()}
	if sp.creds, err = relayCredentials(store, st.keyring, sp.hashes, time.Now); err != nil {
		delivery.Close()
		return relayParts{}, err
	}
	if sp.relay, err = newRelay(set, c, st, store, reg, logger, sp, dkimKeys); err != nil {
		delivery.Close()
		return relayParts{}, err
	}
	return sp, nil
}

// newRelay configures the relay from the settings and the parts built.
func newRelay(set *serveSettings, c checked, st *storeHandle, store consent.Store, reg *prometheus.Registry, logger *slog.Logger,
	sp relayParts, dkimKeys *proxy.DKIMKeys) (*proxy.Relay, error) {
	rewrite, err := newRelayRewrite()
	if err != nil {
		return nil, err
	}
	learner, err := set.learner(store, st.keyring, reg, logger)
	if err != nil {
		return nil, err
	}
	return proxy.NewRelay(proxy.Config{
		Hostname:                 c.hostname,
		Cert:                     sp.cert,
		RelayNetworks:            c.networks,
		Credentials:              sp.creds,
		MaxMessageBytes:          *set.maxMessageBytes,
		ReadTimeout:              *set.smtpTimeout,
		WriteTimeout:             *set.smtpTimeout,
		MaxConnections:           *set.maxConnections,
		MaxRecipients:            *set.maxRecipients,
		CopyConcurrency:          *set.copyConcurrency,
		MaxConnectionsPerAddress: *set.maxPerAddress,
		PreAuthTimeout:           *set.preauthTimeout,
		ProxyProtocolFrom:        c.proxyFrom,
		StoreTimeout:             *set.storeTimeout,
		BareLF:                   proxy.BareLF(*set.bareLF),
		DeliveryTimeout:          *set.deliveryTimeout,
		Store:                    store,
		RecipientKey:             st.keyring.RecipientKey,
		Rewrite:                  rewrite,
		URLs:                     proxy.URLFactoryFor(st.keyring, c.publicURL),
		CampaignHeader:           *set.campaignHeader,
		DefaultLanguage:          *set.defaultLang,
		Deliverability:           *set.deliverability,
		TrackClicks:              *set.trackClicks,
		Learn:                    learner,
		ESP:                      proxy.ESP(*set.esp),
		ESPOptions:               set.espOptions(),
		DKIM:                     dkimKeys,
		Delivery:                 sp.delivery,
		Metrics:                  proxy.NewRelayMetrics(reg),
		Logger:                   logger.With("part", "relay"),
		LogRecipientKeys:         *set.logRecipientKeys,
		Now:                      time.Now,
	})
}

// buildHTTPSide assembles the pixel endpoint, consent pages, dashboard and
// API behind one HTTP server. The caller closes deps.dash and deps.pixel.
func buildHTTPSide(env *environ, set *serveSettings, c checked, st *storeHandle, store consent.Store, reg *prometheus.Registry,
	sp relayParts, logger *slog.Logger) (*serveDeps, *http.Server, error) {
	deps := &serveDeps{store: store, delivery: sp.delivery, keyring: st.keyring, hashes: sp.hashes, publicURL: c.publicURL,
		dataDir: *set.store.dataDir, embedded: *set.store.redisURL == "", outboxDir: set.outboxDir(),
		maxMessageBytes: *set.maxMessageBytes, registry: reg, logger: logger, now: time.Now,
		dashboardFlags: set.dashboard, env: env, pixelFlags: set.pixel}
	handlers, err := httpHandlers(deps)
	if err != nil {
		return nil, nil, err
	}
	return deps, newHTTPServer(web.NewRouter(handlers), *set.httpReadTimeout, logger), nil
}

// listenSMTP opens the SMTP listener, and the implicit-TLS one when
// --smtps-addr is set (smtpsL nil otherwise).
func listenSMTP(set *serveSettings) (smtpL, smtpsL net.Listener, err error) {
	smtpL, err = net.Listen("tcp", *set.smtpAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen SMTP: %w", err)
	}
	if *set.smtpsAddr != "" {
		if smtpsL, err = net.Listen("tcp", *set.smtpsAddr); err != nil {
			smtpL.Close()
			return nil, nil, fmt.Errorf("listen SMTPS: %w", err)
		}
	}
	return smtpL, smtpsL, nil
}

// announce tells the operator where each part listens and what it uses.
func announce(env *environ, set *serveSettings, c checked, st *storeHandle, sp relayParts, smtpL, smtpsL, httpL net.Listener) {
	certFile, _ := sp.cert.Files()
	tlsNote := "STARTTLS with " + certFile
	if smtpsL != nil {
		tlsNote += ", implicit TLS on " + smtpsL.Addr().String()
	}
	fmt.Fprintf(env.stdout, "pixelgate: SMTP relay on %s (%s)\n", smtpL.Addr(), tlsNote)
	fmt.Fprintf(env.stdout, "pixelgate: HTTP on %s, public URL %s\n", httpL.Addr(), c.publicURL)
	fmt.Fprintf(env.stdout, "pixelgate: store %s\n", st.describe)
	fmt.Fprintf(env.stdout, "pixelgate: delivering to %s (esp %s)\n", sp.delivery.Describe(), *set.esp)
}

// servedHTTP is an HTTP server and its listener.
type servedHTTP struct {
	srv *http.Server
	l   net.Listener
}

// serveUntilDone serves SMTP and HTTP until ctx ends or a server fails,
// reloading certificates and DKIM keys on SIGHUP; then it stops accepting,
// lets transactions in progress finish (bounded by grace), and closes
// everything (SIGTERM must not lose a message being relayed).
func serveUntilDone(ctx context.Context, relay *proxy.Relay, smtpL, smtpsL net.Listener, servers []servedHTTP,
	grace time.Duration, logger *slog.Logger) error {
	errc := make(chan error, 2+len(servers))
	var wg sync.WaitGroup
	serve := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errc <- err
			}
		}()
	}
	serve(func() error { return relay.Serve(smtpL) })
	if smtpsL != nil {
		serve(func() error { return relay.ServeTLS(smtpsL) })
	}
	for _, hs := range servers {
		serve(func() error {
			if err := hs.srv.Serve(hs.l); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var runErr error
loop:
	for {
		select {
		case <-hup:
			if err := relay.Reload(); err != nil {
				logger.Error("reload failed, keeping the previous certificates and keys", "err", err)
			} else {
				logger.Info("reloaded TLS certificate and DKIM keys")
			}
		case err := <-errc:
			runErr = err
			break loop
		case <-ctx.Done():
			break loop
		}
	}

	// Stop accepting, let transactions in progress finish (bounded), then
	// close everything (SIGTERM, operator guide §3).
	logger.Info("shutting down", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := relay.Shutdown(sctx); err != nil {
		logger.Warn("transactions cut at the end of the grace period", "err", err)
	}
	for _, hs := range servers {
		_ = hs.srv.Shutdown(sctx)
	}
	wg.Wait()
	return runErr
}
