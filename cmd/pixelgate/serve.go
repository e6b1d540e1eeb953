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
	"github.com/pixelgate/pixelgate/mailrewrite"
	"github.com/pixelgate/pixelgate/proxy"
	"github.com/pixelgate/pixelgate/web"
)

// serveSettings are the settings of `serve`, shared with check-config so
// both read and validate exactly the same thing (DESIGN §7).
type serveSettings struct {
	store storeFlags

	smtpAddr, smtpsAddr, httpAddr, publicURL *string
	hostname, relayNetworks                  *string
	tlsCert, tlsKey                          *string

	upstream, upstreamCA, esp, sesConfigSet *string
	upstreamPool                            *int

	maxMessageBytes *int64
	maxConnections  *int
	maxRecipients   *int
	copyConcurrency *int
	smtpTimeout     *time.Duration
	storeTimeout    *time.Duration
	deliveryTimeout *time.Duration
	shutdownGrace   *time.Duration

	dkimDir, dkimSelector *string
	dkimSignAll           *bool

	campaignHeader *string
	deliverability *bool
	trackClicks    *bool
	learn          *bool
	learnTTL       *time.Duration

	logFormat *string

	dashboard dashboardFlags
	pixel     pixelFlags
}

func addServeFlags(fs *flagSet) *serveSettings {
	return &serveSettings{
		store:         addStoreFlags(fs),
		smtpAddr:      fs.String("smtp-addr", "127.0.0.1:2525", "SMTP relay address (STARTTLS offered)"),
		smtpsAddr:     fs.String("smtps-addr", "", "optional implicit-TLS SMTP address (RFC 8314), e.g. 127.0.0.1:4650"),
		httpAddr:      fs.String("http-addr", "127.0.0.1:8080", "HTTP address: pixel, consent pages, dashboard, metrics"),
		publicURL:     fs.String("public-url", "http://127.0.0.1:8080", "base URL of pixel and consent links as recipients reach it"),
		hostname:      fs.String("hostname", "", "name in the SMTP greeting and Received field (default: the host name)"),
		relayNetworks: fs.String("relay-networks", "127.0.0.0/8,::1/128", "comma-separated networks that may relay without AUTH"),
		tlsCert:       fs.String("tls-cert", "", "PEM certificate chain for STARTTLS/implicit TLS (default: self-signed, made once in --data-dir)"),
		tlsKey:        fs.String("tls-key", "", "PEM private key of --tls-cert"),

		upstream:     fs.String("upstream", "", "ESP SMTP URL: smtp://user:pass@host:port (STARTTLS; ?tls=none for plain), smtps://...; empty = write DATA_DIR/outbox/*.eml"),
		upstreamCA:   fs.String("upstream-ca", "", "PEM file of extra CAs to trust for the upstream's certificate"),
		upstreamPool: fs.Int("upstream-pool", 4, "idle upstream connections kept for reuse"),
		esp:          fs.String("esp", "generic", "ESP profile adding its tracking-off headers: "+strings.Join(proxy.ESPs(), ", ")),
		sesConfigSet: fs.String("ses-configuration-set", "", "with --esp ses: a configuration set without open/click tracking"),

		maxMessageBytes: fs.Int64("max-message-bytes", 25<<20, "largest message the upstream accepts; clients may send up to 64 KiB less (SIZE), room for what the rewrite adds"),
		maxConnections:  fs.Int("max-connections", 100, "simultaneous SMTP connections; more get 421"),
		maxRecipients:   fs.Int("max-recipients", 100, "recipients per SMTP transaction, each sent its own rewritten copy; more get 452 (RFC 5321 §4.5.3.1.10)"),
		copyConcurrency: fs.Int("copy-concurrency", 8, "recipients' copies of one transaction rewritten and sent upstream at once"),
		smtpTimeout:     fs.Duration("smtp-timeout", 5*time.Minute, "SMTP command read/write timeout"),
		storeTimeout:    fs.Duration("store-timeout", 2*time.Second, "consent lookup timeout; past it the relay fails closed"),
		deliveryTimeout: fs.Duration("delivery-timeout", 3*time.Minute, "time allowed to hand one message to the upstream"),
		shutdownGrace:   fs.Duration("shutdown-grace", 30*time.Second, "on SIGTERM, time given to transactions in progress"),

		dkimDir:      fs.String("dkim-keys-dir", "", "directory of DKIM keys named DOMAIN.pem, to re-sign messages whose signature the rewrite breaks"),
		dkimSelector: fs.String("dkim-selector", "pixelgate", "DKIM selector of the keys in --dkim-keys-dir"),
		dkimSignAll:  fs.Bool("dkim-sign-all", false, "sign every message whose From domain has a key"),

		campaignHeader: fs.String("campaign-header", proxy.DefaultCampaignHeader, "header holding the campaign id"),
		deliverability: fs.Bool("deliverability", false, "R4 exemption: date-only deliverability pixel for non-consenting recipients"),
		trackClicks:    fs.Bool("track-clicks", false, "route consenting recipients' links through pixelgate's redirect"),
		learn:          fs.Bool("learn", true, "learn, per campaign, which URL parts differ between recipients' copies and treat them as identifiers"),
		learnTTL:       fs.Duration("learn-ttl", 30*24*time.Hour, "how long a campaign's learned URL shapes are kept after its last copy"),

		logFormat: fs.String("log-format", "text", "log format on stderr: text or json"),

		dashboard: addDashboardFlags(fs),
		pixel:     addPixelFlags(fs),
	}
}

// checked are the settings that validate() turned into values.
type checked struct {
	networks   []netip.Prefix
	publicURL  string
	hostname   string
	upstreamCA *x509.CertPool
}

// validate checks every setting that can be checked without side effects.
func (s *serveSettings) validate() (checked, error) {
	var c checked
	var errs []error
	for _, part := range strings.Split(*s.relayNetworks, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			errs = append(errs, fmt.Errorf("--relay-networks: %w", err))
			continue
		}
		c.networks = append(c.networks, p.Masked())
	}
	if c.networks == nil {
		// An empty list means "nobody without AUTH", never "everybody".
		c.networks = []netip.Prefix{}
	}
	u, err := url.Parse(*s.publicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("--public-url %q: want http(s)://host[:port][/path]", *s.publicURL))
	}
	c.publicURL = strings.TrimRight(*s.publicURL, "/")
	c.hostname = *s.hostname
	if c.hostname == "" {
		c.hostname, _ = os.Hostname()
	}
	if *s.upstream != "" {
		if _, err := proxy.ParseUpstream(proxy.UpstreamConfig{URL: *s.upstream}); err != nil {
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
		if _, err := proxy.LoadCertificate(*s.tlsCert, *s.tlsKey); err != nil {
			errs = append(errs, err)
		}
	}
	if *s.dkimDir != "" {
		if _, err := proxy.LoadDKIMKeys(*s.dkimDir, *s.dkimSelector, *s.dkimSignAll); err != nil {
			errs = append(errs, err)
		}
	}
	if *s.maxMessageBytes < 1024 || *s.maxConnections < 1 || *s.upstreamPool < 0 {
		errs = append(errs, errors.New("--max-message-bytes, --max-connections and --upstream-pool must be positive"))
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
	if *s.logFormat != "text" && *s.logFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", *s.logFormat))
	}
	errs = append(errs, s.pixel.validate())
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("%w: %w", errUsage, err)
	}
	return c, nil
}

func (s *serveSettings) espOptions() proxy.ESPOptions {
	return proxy.ESPOptions{SESConfigurationSet: *s.sesConfigSet}
}

// certificate returns the configured certificate or the self-signed one.
func (s *serveSettings) certificate(hostname string) (*proxy.Certificate, error) {
	if *s.tlsCert != "" {
		return proxy.LoadCertificate(*s.tlsCert, *s.tlsKey)
	}
	return proxy.SelfSignedCertificate(*s.store.dataDir, hostname, time.Now(), rand.Reader)
}

// delivery is the upstream, or the outbox when none is configured.
func (s *serveSettings) delivery(c checked) (proxy.Deliverer, error) {
	if *s.upstream == "" {
		return proxy.NewOutbox(filepath.Join(*s.store.dataDir, "outbox"), time.Now)
	}
	tc := &tls.Config{RootCAs: c.upstreamCA}
	return proxy.ParseUpstream(proxy.UpstreamConfig{URL: *s.upstream, HelloName: c.hostname,
		Timeout: min(*s.deliveryTimeout, time.Minute), DataTimeout: *s.deliveryTimeout, MaxIdle: *s.upstreamPool, TLS: tc})
}

// serveDeps is what the HTTP handlers are built from.
type serveDeps struct {
	store     consent.Store
	delivery  proxy.Deliverer
	keyring   *consent.Keyring
	publicURL string
	dataDir   string
	registry  *prometheus.Registry
	logger    *slog.Logger
	now       func() time.Time

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
		Ready: func(ctx context.Context) error {
			if err := d.store.Ping(ctx); err != nil {
				return fmt.Errorf("store: %w", err)
			}
			return d.delivery.Ready(ctx)
		},
	}

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

func runServe(ctx context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "serve [flags]", "Run the SMTP relay and the HTTP side (pixel, consent pages, dashboard).\n"+
		"Zero config: SMTP on 127.0.0.1:2525, HTTP on 127.0.0.1:8080, embedded store and outbox in ./data.")
	set := addServeFlags(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	c, err := set.validate()
	if err != nil {
		return err
	}
	var logger *slog.Logger
	if *set.logFormat == "json" {
		logger = slog.New(slog.NewJSONHandler(env.stderr, nil))
	} else {
		logger = slog.New(slog.NewTextHandler(env.stderr, nil))
	}

	st, err := openServeStore(ctx, env, set.store, logger)
	if err != nil {
		return err
	}
	defer st.close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Every part below reaches the store through the meter, so store
	// latency and failures show before the relay starts failing closed.
	metered, err := meteredstore.Wrap(st.store, reg, time.Now)
	if err != nil {
		return err
	}
	// A local name: the admin socket and purge goroutines keep reading
	// st.store, so it must not be reassigned.
	store := consent.Store(metered)

	cert, err := set.certificate(c.hostname)
	if err != nil {
		return err
	}
	dkimKeys, err := proxy.LoadDKIMKeys(*set.dkimDir, *set.dkimSelector, *set.dkimSignAll)
	if err != nil {
		return err
	}
	delivery, err := set.delivery(c)
	if err != nil {
		return err
	}
	defer delivery.Close()
	rewrite, err := newRelayRewrite()
	if err != nil {
		return err
	}
	learner, err := set.learner(store, st.keyring, reg, logger)
	if err != nil {
		return err
	}
	relay, err := proxy.NewRelay(proxy.Config{
		Hostname:        c.hostname,
		Cert:            cert,
		RelayNetworks:   c.networks,
		Credentials:     proxy.NewCredentials(store.Records(), rand.Reader),
		MaxMessageBytes: *set.maxMessageBytes,
		ReadTimeout:     *set.smtpTimeout,
		WriteTimeout:    *set.smtpTimeout,
		MaxConnections:  *set.maxConnections,
		MaxRecipients:   *set.maxRecipients,
		CopyConcurrency: *set.copyConcurrency,
		StoreTimeout:    *set.storeTimeout,
		DeliveryTimeout: *set.deliveryTimeout,
		Store:           store,
		RecipientKey:    st.keyring.RecipientKey,
		Rewrite:         rewrite,
		URLs:            proxy.URLFactoryFor(st.keyring, c.publicURL),
		CampaignHeader:  *set.campaignHeader,
		Deliverability:  *set.deliverability,
		TrackClicks:     *set.trackClicks,
		Learn:           learner,
		ESP:             proxy.ESP(*set.esp),
		ESPOptions:      set.espOptions(),
		DKIM:            dkimKeys,
		Delivery:        delivery,
		Metrics:         proxy.NewRelayMetrics(reg),
		Logger:          logger.With("part", "relay"),
		Now:             time.Now,
	})
	if err != nil {
		return err
	}
	deps := &serveDeps{store: store, delivery: delivery, keyring: st.keyring, publicURL: c.publicURL,
		dataDir: *set.store.dataDir, registry: reg, logger: logger, now: time.Now,
		dashboardFlags: set.dashboard, env: env, pixelFlags: set.pixel}
	handlers, err := httpHandlers(deps)
	if err != nil {
		return err
	}
	defer deps.dash.close()
	defer deps.pixel.close()

	smtpL, err := net.Listen("tcp", *set.smtpAddr)
	if err != nil {
		return fmt.Errorf("listen SMTP: %w", err)
	}
	var smtpsL net.Listener
	if *set.smtpsAddr != "" {
		if smtpsL, err = net.Listen("tcp", *set.smtpsAddr); err != nil {
			smtpL.Close()
			return fmt.Errorf("listen SMTPS: %w", err)
		}
	}
	httpL, err := net.Listen("tcp", *set.httpAddr)
	if err != nil {
		smtpL.Close()
		if smtpsL != nil {
			smtpsL.Close()
		}
		return fmt.Errorf("listen HTTP: %w", err)
	}
	httpSrv := &http.Server{Handler: web.NewRouter(handlers), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}

	certFile, _ := cert.Files()
	tlsNote := "STARTTLS with " + certFile
	if smtpsL != nil {
		tlsNote += ", implicit TLS on " + smtpsL.Addr().String()
	}
	fmt.Fprintf(env.stdout, "pixelgate: SMTP relay on %s (%s)\n", smtpL.Addr(), tlsNote)
	fmt.Fprintf(env.stdout, "pixelgate: HTTP on %s, public URL %s\n", httpL.Addr(), c.publicURL)
	fmt.Fprintf(env.stdout, "pixelgate: store %s\n", st.describe)
	fmt.Fprintf(env.stdout, "pixelgate: delivering to %s (esp %s)\n", delivery.Describe(), *set.esp)
	if err := deps.dash.printFirstRunLink(ctx, env.stdout, c.publicURL); err != nil {
		return err
	}

	errc := make(chan error, 3)
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
	serve(func() error {
		if err := httpSrv.Serve(httpL); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})

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
	// close everything (issue 4: SIGTERM).
	logger.Info("shutting down", "grace", set.shutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), *set.shutdownGrace)
	defer cancel()
	if err := relay.Shutdown(sctx); err != nil {
		logger.Warn("transactions cut at the end of the grace period", "err", err)
	}
	_ = httpSrv.Shutdown(sctx)
	wg.Wait()
	return runErr
}
