// Package auditlog writes the dashboard's and API's audit entries: every
// entry goes to the store's HMAC-chained audit log (R10), which is the record
// of truth, and is then copied as one JSON line to an optional writer for a
// SIEM.
package auditlog

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixelgate/pixelgate/consent"
)

// Results used in entries besides "ok".
const (
	ResultOK     = "ok"
	ResultDenied = "denied"
	ResultFailed = "failed"
)

// Recorder appends audit entries. It is safe for concurrent use.
type Recorder struct {
	st      consent.Store
	logger  *slog.Logger
	metrics metrics

	mu   sync.Mutex // one JSON line at a time on siem
	siem io.Writer
}

// metrics count what an operator must be alerted to: entries that could
// not be written (accesses refused for it) and SIEM copies lost.
type metrics struct {
	entries      *prometheus.CounterVec
	siemFailures prometheus.Counter
}

// New returns a recorder over st; siem, logger and reg may be nil.
func New(st consent.Store, siem io.Writer, logger *slog.Logger, reg prometheus.Registerer) *Recorder {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := metrics{
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pixelgate_audit_entries_total",
			Help: "Audit entries by outcome: recorded, or failed (the store could not append them)."}, []string{"outcome"}),
		siemFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "pixelgate_audit_siem_failures_total",
			Help: "Audit entries recorded in the store but not copied to the --audit-log output."}),
	}
	if reg != nil {
		reg.MustRegister(m.entries, m.siemFailures)
	}
	return &Recorder{st: st, siem: siem, logger: logger, metrics: m}
}

// siemLine is the SIEM form: the chained entry plus a type tag so the
// collector can route it.
type siemLine struct {
	Type string `json:"type"`
	consent.AuditEntry
}

// Record appends e. Callers that are about to show personal data must treat
// an error as "do not show it": an access that cannot be recorded does not
// happen (R10).
func (r *Recorder) Record(ctx context.Context, e consent.AuditEntry) (consent.AuditEntry, error) {
	if e.Result == "" {
		e.Result = ResultOK
	}
	got, err := r.st.AppendAudit(ctx, e)
	if err != nil {
		r.metrics.entries.WithLabelValues("failed").Inc()
		r.logger.Error("audit entry not recorded", "action", e.Action, "actor", e.Actor, "err", err)
		return got, fmt.Errorf("record audit entry %s: %w", e.Action, err)
	}
	r.metrics.entries.WithLabelValues("recorded").Inc()
	if r.siem != nil {
		b, err := json.Marshal(siemLine{Type: "pixelgate.audit", AuditEntry: got})
		if err == nil {
			r.mu.Lock()
			_, err = r.siem.Write(append(b, '\n'))
			r.mu.Unlock()
		}
		if err != nil {
			// The chained store entry exists; the copy is best effort.
			r.metrics.siemFailures.Inc()
			r.logger.Warn("audit entry not copied to the SIEM output", "seq", got.Seq, "err", err)
		}
	}
	return got, nil
}

// Note is Record for entries whose failure must not stop the request
// (logins, refusals, the outcome of a change already made): the failure is
// logged by Record and otherwise ignored.
func (r *Recorder) Note(ctx context.Context, e consent.AuditEntry) {
	_, _ = r.Record(ctx, e)
}
