package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/pixelgate/pixelgate/proxy/pixel"
	"github.com/pixelgate/pixelgate/web/consentpage"
	"github.com/pixelgate/pixelgate/web/static"
)

// pixelFlags are the settings of the recipient-facing HTTP side: pixel,
// click redirect and consent pages.
type pixelFlags struct {
	forward            *bool
	forwardTimeout     *time.Duration
	forwardConcurrency *int
	consentTexts       *string
	trustedProxies     *string
}

func addPixelFlags(fs *flagSet) pixelFlags {
	return pixelFlags{
		forward: fs.Bool("pixel-forward", false,
			"forward a consenting recipient's open to the ESP's original pixel, server-side, without the recipient's IP or client (SSRF-guarded: public addresses only)"),
		forwardTimeout:     fs.Duration("pixel-forward-timeout", 5*time.Second, "time allowed to one forwarded open, redirects included"),
		forwardConcurrency: fs.Int("pixel-forward-concurrency", 16, "forwarded opens in flight; beyond it they are dropped and counted"),
		consentTexts: fs.String("consent-texts", "",
			"JSON file of the consent page's versioned information texts and controller details (default: embedded texts with placeholder controller details)"),
		trustedProxies: fs.String("trusted-proxies", "",
			"comma-separated networks of reverse proxies in front of the HTTP side; their X-Forwarded-For gives the client address, used only to recognise image proxies (Apple, Google) and never kept"),
	}
}

// validate checks the settings without side effects, for serve and
// check-config alike.
func (f pixelFlags) validate() error {
	var errs []error
	if _, err := parsePrefixes(*f.trustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("--trusted-proxies: %w", err))
	}
	if _, err := loadConsentTexts(*f.consentTexts, nil); err != nil {
		errs = append(errs, err)
	}
	if *f.forwardTimeout <= 0 || *f.forwardConcurrency < 1 {
		errs = append(errs, errors.New("--pixel-forward-timeout and --pixel-forward-concurrency must be positive"))
	}
	return errors.Join(errs...)
}

// pixelParts are what the recipient-facing handlers hold open.
type pixelParts struct {
	pixel     *pixel.PixelHandler
	link      *pixel.LinkHandler
	forwarder *pixel.Forwarder
	// home is the page at "/", built from the same consent texts.
	home http.Handler
}

// close, once the HTTP server has stopped, records the opens and clicks
// already answered and lets forwarded opens in flight finish, for a few
// seconds at most: what is left is counted as lost in the metrics.
func (p *pixelParts) close() {
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The pixel's store calls may forward opens: they finish first.
	if p.pixel != nil {
		_ = p.pixel.Close(ctx)
	}
	if p.link != nil {
		_ = p.link.Close(ctx)
	}
	if p.forwarder != nil {
		_ = p.forwarder.Close(ctx)
	}
}

// recipientHandlers builds the pixel, the click redirect, the consent pages
// and the shared stylesheet. Their logger never receives anything of a
// request (R8).
func recipientHandlers(d *serveDeps, f pixelFlags) (pixelHandler, linkHandler, consentPages, css http.Handler, parts *pixelParts, err error) {
	parts = &pixelParts{}
	defer func() {
		if err != nil { // the workers and the forwarder started so far stop
			parts.close()
			parts = nil
		}
	}()
	logger := d.logger.With("part", "pixel")
	if *f.forward {
		parts.forwarder, err = pixel.NewForwarder(pixel.ForwardConfig{
			Timeout: *f.forwardTimeout, Concurrency: *f.forwardConcurrency,
		}, d.registry)
		if err != nil {
			return nil, nil, nil, nil, nil, err
		}
	}
	trusted, err := parsePrefixes(*f.trustedProxies)
	if err != nil {
		return nil, nil, nil, nil, nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	if parts.pixel, err = pixel.NewPixelHandler(pixel.PixelConfig{Store: d.store, Keyring: d.keyring,
		Forwarder: parts.forwarder, ClientAddr: pixel.ForwardedClientAddr(trusted),
		Logger: logger, Registerer: d.registry, Now: d.now}); err != nil {
		return nil, nil, nil, nil, nil, err
	}
	if parts.link, err = pixel.NewLinkHandler(pixel.LinkConfig{Store: d.store, Keyring: d.keyring,
		StylesheetURL: static.URL("base.css"), Logger: logger, Registerer: d.registry, Now: d.now}); err != nil {
		return nil, nil, nil, nil, nil, err
	}
	pixelHandler, linkHandler = parts.pixel, parts.link
	pageLog := d.logger.With("part", "consent-page")
	texts, err := loadConsentTexts(*f.consentTexts, pageLog)
	if err != nil {
		return nil, nil, nil, nil, nil, err
	}
	consentPages, err = consentpage.New(consentpage.Config{Texts: texts,
		Logger: pageLog, Registerer: d.registry}, d.store, d.keyring)
	if err != nil {
		return nil, nil, nil, nil, nil, err
	}
	if parts.home, err = consentpage.Home(consentpage.Config{Texts: texts}); err != nil {
		return nil, nil, nil, nil, nil, err
	}
	return pixelHandler, linkHandler, consentPages, static.Handler(), parts, nil
}

// parsePrefixes reads a comma-separated list of networks.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(list, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// loadConsentTexts reads --consent-texts; "" means the embedded texts.
// What the file leaves out is filled in from the embedded texts, with a
// warning on logger (nil: none).
func loadConsentTexts(path string, logger *slog.Logger) (*consentpage.Texts, error) {
	if path == "" {
		return consentpage.DefaultTexts()
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--consent-texts: %w", err)
	}
	defer fh.Close()
	t, err := consentpage.ParseTexts(fh, logger)
	if err != nil {
		return nil, fmt.Errorf("--consent-texts %s: %w", path, err)
	}
	return t, nil
}
