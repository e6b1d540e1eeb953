package pixel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/internal/urlpath"
	"github.com/prometheus/client_golang/prometheus"
)

// PixelConfig is what the pixel endpoint needs.
type PixelConfig struct {
	Store   consent.Store
	Keyring *consent.Keyring
	// Machines tells image proxies from people; nil means
	// DefaultMachineDetector.
	Machines *MachineDetector
	// Forwarder, when set, forwards a consenting recipient's hit to the
	// ESP's original pixel URL carried in the token. Nil (the default)
	// forwards nothing.
	Forwarder *Forwarder
	// ClientAddr is the address the machine detector looks at; nil means
	// the TCP peer (RemoteAddr). A deployment behind a reverse proxy sets
	// it to read the proxy's header. The address is used for that one
	// comparison and then dropped (R8).
	ClientAddr func(*http.Request) netip.Addr
	// StoreTimeout bounds the one store call of a hit. Default 2s.
	StoreTimeout time.Duration
	// RecordQueue bounds the hits answered and waiting for their store
	// call (default 4096); beyond it a hit is answered and not recorded,
	// and counted. RecordWorkers make the store calls (default 32).
	RecordQueue   int
	RecordWorkers int
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
	Now           func() time.Time
}

// PixelHandler serves GET and HEAD /o/{token}.gif. Close it after the
// HTTP server has stopped, so that the opens it answered get recorded.
type PixelHandler struct {
	cfg     PixelConfig
	metrics *pixelMetrics
	rec     *recorder
}

// Outcomes of a hit: the values of pixelgate_pixel_hits_total{outcome}. They
// exist only in metrics; the response never differs (no oracle), nor does
// its timing, since the store is called after the answer.
const (
	outcomeRecorded      = "recorded"       // first open of the campaign by a consenting recipient
	outcomeRepeat        = "repeat"         // a later open by a consenting recipient
	outcomeNotGranted    = "not-granted"    // no consent at that moment: nothing written
	outcomeDeliverable   = "deliverability" // R4 date-only record
	outcomeMachineSkip   = "deliverability-machine-skipped"
	outcomeHead          = "head"          // HEAD: answered, nothing recorded
	outcomeBadToken      = "bad-token"     // truncated, tampered, wrong purpose
	outcomeExpiredToken  = "expired-token" // expired or sealed with a retired key
	outcomeStoreError    = "store-error"
	outcomeMachineSuffix = "-machine"
)

type pixelMetrics struct {
	hits     *prometheus.CounterVec
	machines *prometheus.CounterVec
	duration prometheus.Histogram
}

func newPixelMetrics(reg prometheus.Registerer, listVersion string) (*pixelMetrics, error) {
	m := &pixelMetrics{
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pixelgate_pixel_hits_total",
			Help: "Hits on the pixel endpoint by outcome; the response is identical for all of them.",
		}, []string{"outcome"}),
		machines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "pixelgate_pixel_machine_hits_total",
			Help:        "Pixel hits recognised as image proxies, by provider.",
			ConstLabels: prometheus.Labels{"list_version": listVersion},
		}, []string{"provider"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pixelgate_pixel_duration_seconds",
			Help:    "Time to answer a pixel hit; the store call comes after the answer.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 2.5},
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.hits, m.machines, m.duration} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register pixel metrics: %w", err)
			}
		}
	}
	for _, o := range []string{outcomeRecorded, outcomeRepeat, outcomeNotGranted, outcomeDeliverable,
		outcomeMachineSkip, outcomeHead, outcomeBadToken, outcomeExpiredToken, outcomeStoreError} {
		m.hits.WithLabelValues(o)
	}
	return m, nil
}

// NewPixelHandler builds the handler of GET|HEAD /o/{token}.gif.
//
// Whatever happens the answer is the same 43-byte transparent GIF with the
// same headers, so nobody can learn from it whether a token is valid or a
// recipient consented; and it goes before the store is asked anything, so
// nobody can learn it from the answer's timing either (R3). The token's
// recipient and campaign then go to one atomic store call, made from a
// bounded queue, that writes nothing unless consent is granted at that
// moment (R1, R3); a deliverability token records the date only (R4).
// Nothing about the request (address, user agent, token) is logged or
// stored (R8).
func NewPixelHandler(cfg PixelConfig) (*PixelHandler, error) {
	if cfg.Store == nil || cfg.Keyring == nil {
		return nil, errors.New("pixel handler: Store and Keyring are required")
	}
	if cfg.Machines == nil {
		d, err := DefaultMachineDetector()
		if err != nil {
			return nil, fmt.Errorf("pixel handler: %w", err)
		}
		cfg.Machines = d
	}
	if cfg.ClientAddr == nil {
		cfg.ClientAddr = peerAddr
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
	m, err := newPixelMetrics(cfg.Registerer, cfg.Machines.Version())
	if err != nil {
		return nil, err
	}
	rec, err := newRecorder(pixelRecorder, cfg.RecordQueue, cfg.RecordWorkers, cfg.StoreTimeout, cfg.Logger, cfg.Registerer,
		func(outcome string) { m.hits.WithLabelValues(outcome).Inc() })
	if err != nil {
		return nil, err
	}
	return &PixelHandler{cfg: cfg, metrics: m, rec: rec}, nil
}

// Close records the opens already answered, until ctx ends; what is left
// then is counted in pixelgate_pixel_records_lost_total{reason="shutdown"}.
func (h *PixelHandler) Close(ctx context.Context) error { return h.rec.Close(ctx) }

// peerAddr is the TCP peer's address, or the zero Addr.
func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err == nil {
		return ap.Addr()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a, _ := netip.ParseAddr(host)
	return a
}

var gifLength = strconv.Itoa(len(transparentGIF))

// writeGIF is the one response of the endpoint.
func writeGIF(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "image/gif")
	h.Set("Content-Length", gifLength)
	h.Set("Cache-Control", "no-store, private")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(transparentGIF)
	}
}

func (h *PixelHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	start := time.Now()
	outcome, job := h.hit(r)
	writeGIF(w, r)
	// The store call is queued after the answer is written and never
	// waited for: granted, withdrawn and unknown recipients, and a store
	// that is slow or down, all cost the answer the same (R3).
	if job != nil {
		h.rec.add(job)
	} else {
		h.metrics.hits.WithLabelValues(outcome).Inc()
	}
	h.metrics.duration.Observe(time.Since(start).Seconds())
}

// hit reads a request: either the outcome of a hit that records nothing,
// or the store call that records it (run later; it returns the outcome).
func (h *PixelHandler) hit(r *http.Request) (string, recordJob) {
	// Done for every request, valid or not, so that what differs between
	// tokens costs as little as can be.
	provider, machine := h.cfg.Machines.Detect(r.UserAgent(), h.cfg.ClientAddr(r))
	// One decryption whatever the token's purpose.
	tok, err := h.cfg.Keyring.OpenEither(urlpath.PixelToken(r.URL.Path), consent.PurposeOpen, consent.PurposeDeliverability)
	switch {
	case errors.Is(err, consent.ErrTokenExpired), errors.Is(err, consent.ErrTokenRetired):
		return outcomeExpiredToken, nil
	case err != nil:
		return outcomeBadToken, nil
	}
	// A HEAD shows nothing to anyone, so it is not an open: link checkers
	// and scanners probe with it.
	if r.Method == http.MethodHead {
		return outcomeHead, nil
	}
	if machine {
		h.metrics.machines.WithLabelValues(provider).Inc()
	}
	// The time of the open is the hit's, not the store call's.
	now := h.cfg.Now()
	if tok.Purpose == consent.PurposeDeliverability {
		// A prefetching proxy says nothing about whether the person reads
		// the mail, and the date exists only to stop mailing inactive
		// recipients (R4), so it is not refreshed by a machine.
		if machine {
			return outcomeMachineSkip, nil
		}
		day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		return "", func(ctx context.Context) string {
			if err := h.cfg.Store.RecordDeliverabilityOpen(ctx, tok.Key, day); err != nil {
				h.storeFailed(err)
				return outcomeStoreError
			}
			return outcomeDeliverable
		}
	}
	return "", func(ctx context.Context) string { return h.recordOpen(ctx, tok, now, machine) }
}

// recordOpen is the store call of an open token's hit.
func (h *PixelHandler) recordOpen(ctx context.Context, tok consent.Token, at time.Time, machine bool) string {
	res, err := h.cfg.Store.RecordOpen(ctx, consent.Open{Key: tok.Key, Campaign: tok.Campaign, At: at, Machine: machine})
	if err != nil {
		h.storeFailed(err)
		return outcomeStoreError
	}
	if res == consent.NotRecorded {
		return outcomeNotGranted
	}
	// Consent held at this moment: the ESP may see the hit, from here and
	// without anything of the recipient's request.
	if h.cfg.Forwarder != nil && tok.URL != "" {
		h.cfg.Forwarder.Forward(tok.URL)
	}
	outcome := outcomeRepeat
	if res == consent.Recorded {
		outcome = outcomeRecorded
	}
	if machine {
		outcome += outcomeMachineSuffix
	}
	return outcome
}

// storeFailed logs a store error without anything of the request (R8).
func (h *PixelHandler) storeFailed(err error) {
	h.cfg.Logger.Warn("pixel: store call failed; answered without recording", "err", err)
}
