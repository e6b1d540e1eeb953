package espapi

import (
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the front's Prometheus series. Labels are ESP names,
// outcomes and setting names: never an address, a key or a campaign (R8).
type Metrics struct {
	Calls           *prometheus.CounterVec
	Recipients      *prometheus.CounterVec
	UpstreamCalls   *prometheus.CounterVec
	TrackingForced  *prometheus.CounterVec
	UpstreamSeconds *prometheus.HistogramVec
}

// NewMetrics registers the front's series with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pixelgate_esp_api_calls_total",
			Help: "Client calls to the ESP API front, by ESP and outcome (forwarded, refused, upstream-error, partial...).",
		}, []string{"esp", "outcome"}),
		Recipients: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pixelgate_esp_api_recipients_total",
			Help: "Recipients of calls forwarded by the ESP API front, by ESP and consent decision.",
		}, []string{"esp", "decision"}),
		UpstreamCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pixelgate_esp_api_upstream_calls_total",
			Help: "Calls the ESP API front made to the ESP, by ESP and HTTP status class (2xx, 4xx, 5xx, error).",
		}, []string{"esp", "status"}),
		TrackingForced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pixelgate_esp_api_tracking_overridden_total",
			Help: "Calls in which the client asked the ESP for open or click tracking and pixelgate turned it off, by ESP and setting.",
		}, []string{"esp", "setting"}),
		UpstreamSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pixelgate_esp_api_upstream_seconds",
			Help:    "Time the ESP took to answer one upstream call.",
			Buckets: prometheus.DefBuckets,
		}, []string{"esp"}),
	}
	if reg != nil {
		reg.MustRegister(m.Calls, m.Recipients, m.UpstreamCalls, m.TrackingForced, m.UpstreamSeconds)
	}
	return m
}

// callSummary gathers one call's log line and metrics.
type callSummary struct {
	esp        ESP
	outcome    string
	reason     string
	status     int
	recipients int
	decisions  map[string]int
	// upstreamCalls and delivered are counted by the concurrent upstream
	// calls of a split call: under mu.
	mu            sync.Mutex
	upstreamCalls int
	overridden    []string
	delivered     int
	earlier       int
}

func (c *callSummary) decision(class string) {
	if c.decisions == nil {
		c.decisions = map[string]int{}
	}
	c.decisions[class]++
}

// upstreamCall and deliveredCopies count from concurrent upstream calls.
func (c *callSummary) upstreamCall() {
	c.mu.Lock()
	c.upstreamCalls++
	c.mu.Unlock()
}

func (c *callSummary) deliveredCopies(n int) {
	c.mu.Lock()
	c.delivered += n
	c.mu.Unlock()
}

func (c *callSummary) override(setting string) { c.overridden = append(c.overridden, setting) }

func (c *callSummary) fail(err error) {
	var e *apiError
	if errors.As(err, &e) {
		if c.outcome == "" {
			c.outcome = "refused"
		}
		c.status = e.status
		if c.reason == "" {
			c.reason = e.reason
		}
		return
	}
	c.outcome, c.reason, c.status = "internal-error", "internal-error", 500
}

func (c *callSummary) attrs(took time.Duration) []any {
	a := []any{"outcome", c.outcome, "status", c.status, "recipients", c.recipients,
		"upstream_calls", c.upstreamCalls, "ms", took.Milliseconds()}
	if c.reason != "" {
		a = append(a, "reason", c.reason)
	}
	for k, n := range c.decisions {
		a = append(a, slog.Int(k, n))
	}
	if c.earlier > 0 {
		a = append(a, "already_delivered", c.earlier)
	}
	if len(c.overridden) > 0 {
		a = append(a, "tracking_overridden", c.overridden)
	}
	return a
}

func (m *Metrics) observe(c *callSummary) {
	esp := string(c.esp)
	outcome := c.outcome
	if outcome == "" {
		outcome = "unknown"
	}
	m.Calls.WithLabelValues(esp, outcome).Inc()
	for k, n := range c.decisions {
		m.Recipients.WithLabelValues(esp, k).Add(float64(n))
	}
	for _, s := range c.overridden {
		m.TrackingForced.WithLabelValues(esp, s).Inc()
	}
}

func statusClass(status int, err error) string {
	if err != nil {
		return "error"
	}
	return strconv.Itoa(status/100) + "xx"
}
