package proxy

import "github.com/prometheus/client_golang/prometheus"

// RelayMetrics are the relay's Prometheus metrics. No label ever carries a
// recipient, sender or address (R8).
type RelayMetrics struct {
	// Messages by outcome, one per recipient's copy: delivered,
	// already-delivered (skipped on a retry: the ledger), unparseable,
	// refused-content, upstream-temporary, upstream-permanent,
	// internal-error; and per transaction whose copies ended differently:
	// partial-deferred (4xx, the retry sends the rest) or
	// partial-refused-dsn (250 and a report to the sender).
	Messages *prometheus.CounterVec
	// Recipients by the consent decision used for the rewrite: granted,
	// refused, withdrawn, none, fail-closed.
	Recipients *prometheus.CounterVec
	// Findings counts resources and links found by the rewrite, by reason
	// code, vendor and action (bounded sets from mailrewrite and its rules).
	Findings *prometheus.CounterVec
	// FailClosed counts consent lookups that failed and were treated as
	// "not granted" (R1).
	FailClosed prometheus.Counter
	// UpstreamSeconds is the time the upstream took to accept a message.
	UpstreamSeconds prometheus.Histogram
	// UpstreamErrors by kind: temporary (4xx), permanent (5xx), unreachable.
	UpstreamErrors *prometheus.CounterVec
	// DKIM by action: resigned, removed, signed.
	DKIM *prometheus.CounterVec
	// AuthFailures counts failed or throttled AUTH attempts.
	AuthFailures prometheus.Counter
	// ConnectionsRefused counts connections turned away at the limit.
	ConnectionsRefused prometheus.Counter
	// Transactions is the number of mail transactions in progress.
	Transactions prometheus.Gauge
	// SendTally counts delivered messages in the campaign send tally by
	// event: written to the store, write-failed (kept for the next write,
	// counted again at each failure) and dropped (lost after repeated
	// failures, beyond the tally's bound, or at shutdown).
	SendTally *prometheus.CounterVec
	// LedgerErrors counts delivery ledger calls that failed.
	LedgerErrors prometheus.Counter
}

// NewRelayMetrics creates the metrics and registers them on reg.
func NewRelayMetrics(reg prometheus.Registerer) *RelayMetrics {
	m := &RelayMetrics{
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pixelgate_relay_messages_total", Help: "Messages received by the SMTP relay, by outcome.",
		}, []string{"outcome"}),
		Recipients: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pixelgate_relay_recipients_total", Help: "Recipients rewritten, by the consent decision applied.",
		}, []string{"decision"}),
		Findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pixelgate_relay_findings_total", Help: "Trackers, identifiers and tracked links found in relayed messages, by reason code, vendor (none when unknown) and action.",
		}, []string{"reason", "vendor", "action"}),
		FailClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pixelgate_relay_consent_fail_closed_total", Help: "Consent lookups that failed and were treated as not granted.",
		}),
		UpstreamSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pixelgate_relay_upstream_seconds", Help: "Time for the upstream (or outbox) to accept a message.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
		UpstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pixelgate_relay_upstream_errors_total", Help: "Upstream delivery failures, by kind.",
		}, []string{"kind"}),
		DKIM: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pixelgate_relay_dkim_total", Help: "DKIM signatures re-signed, removed (broken, no key) or added.",
		}, []string{"action"}),
		AuthFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pixelgate_relay_auth_failures_total", Help: "Failed or throttled SMTP AUTH attempts.",
		}),
		ConnectionsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pixelgate_relay_connections_refused_total", Help: "SMTP connections refused at the connection limit.",
		}),
		Transactions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pixelgate_relay_transactions", Help: "Mail transactions in progress.",
		}),
		SendTally: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pixelgate_relay_send_counts_total",
			Help: "Delivered messages in the campaign send counts, by event: written to the store, write-failed (kept for the next write) or dropped.",
		}, []string{"event"}),
		LedgerErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pixelgate_relay_ledger_errors_total",
			Help: "Delivery ledger calls that failed (a many-recipient transaction is then deferred, or a delivered copy left unrecorded).",
		}),
	}
	reg.MustRegister(m.LedgerErrors, m.Messages, m.Recipients, m.Findings, m.FailClosed, m.UpstreamSeconds, m.UpstreamErrors,
		m.DKIM, m.AuthFailures, m.ConnectionsRefused, m.Transactions, m.SendTally)
	return m
}
