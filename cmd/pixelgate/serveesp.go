package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixelgate/pixelgate/proxy/espapi"
)

// espAPIFlags configure the ESP HTTP API front (off unless --esp-api-addr).
type espAPIFlags struct {
	addr, upstream *string
	maxBody        *int64
	maxCalls       *int
	timeout        *time.Duration
}

func addESPAPIFlags(fs *flagSet) espAPIFlags {
	return espAPIFlags{
		addr: fs.String("esp-api-addr", "", "address of the ESP HTTP API front for SendGrid, Mailgun and Postmark SDKs, e.g. 127.0.0.1:8587 (HTTPS with the relay's certificate, and plain HTTP from --relay-networks; empty: off)"),
		upstream: fs.String("esp-api-upstream", "", "ESP API base URLs, comma-separated esp=URL or esp=region (us, eu): e.g. mailgun=eu,sendgrid=https://api.sendgrid.com "+
			"(default: each ESP's public API, US region)"),
		maxBody:  fs.Int64("esp-api-max-body", 30<<20, "largest request body the ESP API front reads (bytes)"),
		maxCalls: fs.Int("esp-api-max-calls", 32, "calls the ESP API front handles at once; more get 429 with Retry-After"),
		timeout:  fs.Duration("esp-api-timeout", time.Minute, "time allowed for one call to the ESP's API"),
	}
}

func (f espAPIFlags) validate() error {
	var errs []error
	if *f.addr != "" {
		if _, _, err := net.SplitHostPort(*f.addr); err != nil {
			errs = append(errs, fmt.Errorf("--esp-api-addr: %w", err))
		}
	}
	if _, err := espapi.ParseUpstreams(*f.upstream); err != nil {
		errs = append(errs, fmt.Errorf("--esp-api-upstream: %w", err))
	}
	if *f.maxBody < 1024 || *f.timeout <= 0 || *f.maxCalls < 1 {
		errs = append(errs, errors.New("--esp-api-max-body must be at least 1024, --esp-api-timeout and --esp-api-max-calls positive"))
	}
	return errors.Join(errs...)
}

// espAPIServer builds and opens the ESP API front; nil when it is off.
func espAPIServer(set *serveSettings, c checked, sp relayParts, reg *prometheus.Registry, logger *slog.Logger) (*http.Server, net.Listener, error) {
	f := set.espAPI
	if *f.addr == "" {
		return nil, nil, nil
	}
	ups, err := espapi.ParseUpstreams(*f.upstream)
	if err != nil {
		return nil, nil, err
	}
	srv, err := espapi.New(espapi.Config{
		Relay:           sp.relay,
		Upstreams:       ups,
		RelayNetworks:   c.networks,
		Credentials:     sp.creds,
		MaxBodyBytes:    *f.maxBody,
		UpstreamTimeout: *f.timeout,
		CopyConcurrency: *set.copyConcurrency,
		MaxCalls:        *f.maxCalls,
		Rand:            rand.Reader,
		Metrics:         espapi.NewMetrics(reg),
		Logger:          logger.With("part", "esp-api"),
		Now:             time.Now,
	})
	if err != nil {
		return nil, nil, err
	}
	l, err := net.Listen("tcp", *f.addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen ESP API: %w", err)
	}
	// The read timeout covers a whole body of --esp-api-max-body.
	hs := newHTTPServer(srv.Handler(), 5*time.Minute, logger)
	return hs, espapi.Listen(l, sp.cert.TLSConfig()), nil
}
