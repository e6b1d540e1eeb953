package pixel

import (
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/internal/lang"
	"github.com/pixelgate/pixelgate/internal/urlpath"
	"github.com/prometheus/client_golang/prometheus"
)

// LinkConfig is what the click redirect needs.
type LinkConfig struct {
	Store   consent.Store
	Keyring *consent.Keyring
	// StylesheetURL is linked from the neutral page shown for a bad token
	// (static.URL("base.css")); empty means an unstyled page.
	StylesheetURL string
	StoreTimeout  time.Duration // default 2s
	// RecordQueue and RecordWorkers: as in PixelConfig.
	RecordQueue   int
	RecordWorkers int
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
	Now           func() time.Time
}

// LinkHandler serves GET /l/{token}. Close it after the HTTP server has
// stopped, so that the clicks it answered get recorded.
type LinkHandler struct {
	cfg     LinkConfig
	clicks  *prometheus.CounterVec
	invalid []byte
	rec     *recorder
}

// NewLinkHandler builds GET /l/{token}, pixelgate's click redirect (R12).
// It records a click only when the recipient's consent holds at that moment
// (one atomic store call) and always redirects to the destination sealed in
// the token, so a refusal never costs the recipient the link. The store is
// called after the redirect has gone, from a bounded queue, so that its
// timing does not tell a withdrawal either (R3). A token that does not open
// redirects nowhere: an open redirect would let anyone use pixelgate's
// domain to disguise a link.
func NewLinkHandler(cfg LinkConfig) (*LinkHandler, error) {
	if cfg.Store == nil || cfg.Keyring == nil {
		return nil, errors.New("link handler: Store and Keyring are required")
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	clicks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pixelgate_link_hits_total",
		Help: "Hits on the click redirect by outcome.",
	}, []string{"outcome"})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(clicks); err != nil {
			return nil, fmt.Errorf("register link metrics: %w", err)
		}
	}
	for _, o := range []string{outcomeRecorded, outcomeRepeat, outcomeNotGranted, outcomeBadToken, outcomeExpiredToken, outcomeStoreError} {
		clicks.WithLabelValues(o)
	}
	rec, err := newRecorder(linkRecorder, cfg.RecordQueue, cfg.RecordWorkers, cfg.StoreTimeout, cfg.Logger, cfg.Registerer,
		func(outcome string) { clicks.WithLabelValues(outcome).Inc() })
	if err != nil {
		return nil, err
	}
	return &LinkHandler{cfg: cfg, clicks: clicks, invalid: invalidLinkPage(cfg.StylesheetURL), rec: rec}, nil
}

// Close records the clicks already answered, until ctx ends; what is left
// then is counted in pixelgate_link_records_lost_total{reason="shutdown"}.
func (h *LinkHandler) Close(ctx context.Context) error { return h.rec.Close(ctx) }

func (h *LinkHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	tok, err := h.cfg.Keyring.Open(urlpath.LinkToken(r.URL.Path), consent.PurposeLink)
	var dest string
	if err == nil {
		dest, err = linkDestination(tok.URL)
	}
	if err != nil {
		outcome := outcomeBadToken
		if errors.Is(err, consent.ErrTokenExpired) || errors.Is(err, consent.ErrTokenRetired) {
			outcome = outcomeExpiredToken
		}
		h.clicks.WithLabelValues(outcome).Inc()
		h.writeInvalid(w, r)
		return
	}
	at := h.cfg.Now()
	hd := w.Header()
	hd.Set("Cache-Control", "no-store, private")
	// The destination must not learn pixelgate's URL (and so the token).
	hd.Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, dest, http.StatusFound)
	// Like the pixel, a HEAD is a probe (link scanners), not a click.
	if r.Method != http.MethodGet {
		h.clicks.WithLabelValues(outcomeHead).Inc()
		return
	}
	// After the answer, never waited for (R3).
	h.rec.add(func(ctx context.Context) string { return h.record(ctx, tok, at) })
}

// record is the store call of a click, made by the recorder.
func (h *LinkHandler) record(ctx context.Context, tok consent.Token, at time.Time) string {
	res, err := h.cfg.Store.RecordClick(ctx, consent.Click{Key: tok.Key, Campaign: tok.Campaign, At: at})
	switch {
	case err != nil:
		// The recipient still gets the link; the click is lost and counted.
		h.cfg.Logger.Warn("link: store call failed; redirected without recording", "err", err)
		return outcomeStoreError
	case res == consent.Recorded:
		return outcomeRecorded
	case res == consent.Repeat:
		return outcomeRepeat
	default:
		return outcomeNotGranted
	}
}

// linkDestination checks the sealed destination once more: only absolute
// http and https URLs are redirected to.
func linkDestination(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("link token: destination is not an http(s) URL")
	}
	return u.String(), nil
}

func (h *LinkHandler) writeInvalid(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store, private")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusNotFound)
	if r.Method != http.MethodHead {
		_, _ = w.Write(h.invalid)
	}
}

// invalidLinkPage is the neutral page for a link that does not open. It
// names no destination and no recipient, in every language pixelgate
// speaks (the default first), since nothing in a bad token can be trusted
// to choose one.
func invalidLinkPage(stylesheet string) []byte {
	langs := lang.All()
	titles := make([]string, len(langs))
	for i, l := range langs {
		titles[i] = l.BadLink.Title
	}
	var b strings.Builder
	b.WriteString(`<!doctype html><html lang="` + lang.Default + `"><head><meta charset="utf-8">` +
		`<meta name="viewport" content="width=device-width, initial-scale=1">` +
		`<title>` + html.EscapeString(strings.Join(titles, " · ")) + `</title>`)
	if stylesheet != "" {
		b.WriteString(`<link rel="stylesheet" href="`)
		b.WriteString(html.EscapeString(stylesheet))
		b.WriteString(`">`)
	}
	b.WriteString(`</head><body><main>`)
	for _, l := range langs {
		heading, body := html.EscapeString(l.BadLink.Heading), html.EscapeString(l.BadLink.Body)
		if l.Code == lang.Default {
			b.WriteString(`<h1>` + heading + `</h1><p>` + body + `</p>`)
			continue
		}
		b.WriteString(`<div lang="` + l.Code + `"><h2>` + heading + `</h2><p>` + body + `</p></div>`)
	}
	b.WriteString(`</main></body></html>`)
	return []byte(b.String())
}
