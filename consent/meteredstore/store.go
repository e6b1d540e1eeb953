// Package meteredstore measures a consent.Store: every call's latency and
// outcome go to pixelgate_store_seconds{op,outcome}, so an operator sees a
// slow or failing Redis before the relay starts failing closed, and every
// consent change to pixelgate_consent_changes_total{state,source}. The
// labels are method names, outcome classes, states and evidence sources,
// never a key or a value (R8).
package meteredstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixelgate/pixelgate/consent"
)

// Store wraps a consent.Store; it behaves exactly like the wrapped one.
type Store struct {
	next    consent.Store
	seconds *prometheus.HistogramVec
	changes *prometheus.CounterVec
	now     func() time.Time
}

var _ consent.Store = (*Store)(nil)

// Wrap measures st on reg. now is the clock for durations (time.Now in
// production).
func Wrap(st consent.Store, reg prometheus.Registerer, now func() time.Time) (*Store, error) {
	s := &Store{
		next: st,
		now:  now,
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pixelgate_store_seconds",
			Help: "Consent store call latency by operation and outcome (ok, not-found, invalid, unavailable, error).",
			// From a local bbolt read (tens of µs) to a Redis timeout (s).
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
		}, []string{"op", "outcome"}),
		// Every consent change made through this process, whatever part
		// made it (consent page, one-click, API, import, dashboard).
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pixelgate_consent_changes_total",
			Help: "Consent changes recorded, by new state (granted, refused, withdrawn, erased) and evidence source.",
		}, []string{"state", "source"}),
	}
	for _, c := range []prometheus.Collector{s.seconds, s.changes} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register store metrics: %w", err)
		}
	}
	return s, nil
}

// Unwrap returns the measured store (for capabilities beyond the
// interface, such as the embedded store's backup).
func (s *Store) Unwrap() consent.Store { return s.next }

// outcome classes errors by the contract's typed errors.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, consent.ErrNotFound):
		return "not-found"
	case errors.Is(err, consent.ErrInvalid):
		return "invalid"
	case errors.Is(err, consent.ErrUnavailable):
		return "unavailable"
	default:
		return "error"
	}
}

func observe[R any](s *Store, op string, f func() (R, error)) (R, error) {
	start := s.now()
	r, err := f()
	s.seconds.WithLabelValues(op, outcome(err)).Observe(s.now().Sub(start).Seconds())
	return r, err
}

func observeErr(s *Store, op string, f func() error) error {
	_, err := observe(s, op, func() (struct{}, error) { return struct{}{}, f() })
	return err
}

func (s *Store) Lookup(ctx context.Context, keys []consent.Key) ([]consent.Status, error) {
	return observe(s, "lookup", func() ([]consent.Status, error) { return s.next.Lookup(ctx, keys) })
}

// changed counts a successful consent change. The source is one of the
// contract's Source constants, so the label set stays small.
func (s *Store) changed(state string, src consent.Source, err error) {
	if err == nil {
		s.changes.WithLabelValues(state, string(src)).Inc()
	}
}

func (s *Store) Grant(ctx context.Context, k consent.Key, ev consent.Evidence) (consent.Event, error) {
	e, err := observe(s, "grant", func() (consent.Event, error) { return s.next.Grant(ctx, k, ev) })
	s.changed("granted", ev.Source, err)
	return e, err
}

func (s *Store) Refuse(ctx context.Context, k consent.Key, ev consent.Evidence) (consent.Event, error) {
	e, err := observe(s, "refuse", func() (consent.Event, error) { return s.next.Refuse(ctx, k, ev) })
	s.changed("refused", ev.Source, err)
	return e, err
}

func (s *Store) Withdraw(ctx context.Context, k consent.Key, ev consent.Evidence) (consent.Event, error) {
	e, err := observe(s, "withdraw", func() (consent.Event, error) { return s.next.Withdraw(ctx, k, ev) })
	s.changed("withdrawn", ev.Source, err)
	return e, err
}

func (s *Store) History(ctx context.Context, k consent.Key) ([]consent.Event, error) {
	return observe(s, "history", func() ([]consent.Event, error) { return s.next.History(ctx, k) })
}

func (s *Store) EligibleToAsk(ctx context.Context, k consent.Key) (bool, error) {
	return observe(s, "eligible_to_ask", func() (bool, error) { return s.next.EligibleToAsk(ctx, k) })
}

func (s *Store) MarkAsked(ctx context.Context, k consent.Key) error {
	return observeErr(s, "mark_asked", func() error { return s.next.MarkAsked(ctx, k) })
}

func (s *Store) RecordOpen(ctx context.Context, o consent.Open) (consent.OpenResult, error) {
	return observe(s, "record_open", func() (consent.OpenResult, error) { return s.next.RecordOpen(ctx, o) })
}

func (s *Store) RecordDeliverabilityOpen(ctx context.Context, k consent.Key, day time.Time) error {
	return observeErr(s, "record_deliverability_open", func() error { return s.next.RecordDeliverabilityOpen(ctx, k, day) })
}

func (s *Store) RecordClick(ctx context.Context, c consent.Click) (consent.OpenResult, error) {
	return observe(s, "record_click", func() (consent.OpenResult, error) { return s.next.RecordClick(ctx, c) })
}

func (s *Store) RecordSend(ctx context.Context, sd consent.Send) error {
	return observeErr(s, "record_send", func() error { return s.next.RecordSend(ctx, sd) })
}

func (s *Store) Campaigns(ctx context.Context) ([]consent.CampaignStats, error) {
	return observe(s, "campaigns", func() ([]consent.CampaignStats, error) { return s.next.Campaigns(ctx) })
}

func (s *Store) Campaign(ctx context.Context, id string) (consent.CampaignStats, error) {
	return observe(s, "campaign", func() (consent.CampaignStats, error) { return s.next.Campaign(ctx, id) })
}

func (s *Store) ConsentStats(ctx context.Context, from, to time.Time) (consent.ConsentStats, error) {
	return observe(s, "consent_stats", func() (consent.ConsentStats, error) { return s.next.ConsentStats(ctx, from, to) })
}

func (s *Store) AppendAudit(ctx context.Context, e consent.AuditEntry) (consent.AuditEntry, error) {
	return observe(s, "append_audit", func() (consent.AuditEntry, error) { return s.next.AppendAudit(ctx, e) })
}

func (s *Store) ReadAudit(ctx context.Context, q consent.AuditQuery) ([]consent.AuditEntry, error) {
	return observe(s, "read_audit", func() ([]consent.AuditEntry, error) { return s.next.ReadAudit(ctx, q) })
}

func (s *Store) VerifyAudit(ctx context.Context) (consent.AuditVerification, error) {
	return observe(s, "verify_audit", func() (consent.AuditVerification, error) { return s.next.VerifyAudit(ctx) })
}

func (s *Store) Export(ctx context.Context, k consent.Key) (consent.Export, error) {
	return observe(s, "export", func() (consent.Export, error) { return s.next.Export(ctx, k) })
}

func (s *Store) Erase(ctx context.Context, k consent.Key, ev consent.Evidence) error {
	err := observeErr(s, "erase", func() error { return s.next.Erase(ctx, k, ev) })
	s.changed("erased", ev.Source, err)
	return err
}

func (s *Store) Purge(ctx context.Context) error {
	return observeErr(s, "purge", func() error { return s.next.Purge(ctx) })
}

func (s *Store) CheckFingerprint(ctx context.Context, fp string) error {
	return observeErr(s, "check_fingerprint", func() error { return s.next.CheckFingerprint(ctx, fp) })
}

func (s *Store) Ping(ctx context.Context) error {
	return observeErr(s, "ping", func() error { return s.next.Ping(ctx) })
}

// Close is not measured: it happens once, at shutdown.
func (s *Store) Close() error { return s.next.Close() }

func (s *Store) SharedKV() consent.SharedKV { return records{s: s, next: s.next.SharedKV()} }

// records measures the shared keyed space under "records_*" operations.
type records struct {
	s    *Store
	next consent.SharedKV
}

func (r records) Get(ctx context.Context, ns, key string) ([]byte, error) {
	return observe(r.s, "records_get", func() ([]byte, error) { return r.next.Get(ctx, ns, key) })
}

func (r records) Put(ctx context.Context, ns, key string, val []byte, ttl time.Duration) error {
	return observeErr(r.s, "records_put", func() error { return r.next.Put(ctx, ns, key, val, ttl) })
}

func (r records) PutIfAbsent(ctx context.Context, ns, key string, val []byte, ttl time.Duration) (bool, error) {
	return observe(r.s, "records_put_if_absent", func() (bool, error) { return r.next.PutIfAbsent(ctx, ns, key, val, ttl) })
}

func (r records) Delete(ctx context.Context, ns, key string) error {
	return observeErr(r.s, "records_delete", func() error { return r.next.Delete(ctx, ns, key) })
}

func (r records) List(ctx context.Context, ns string) ([]string, error) {
	return observe(r.s, "records_list", func() ([]string, error) { return r.next.List(ctx, ns) })
}

func (r records) Incr(ctx context.Context, ns, key string, delta int64, ttl time.Duration) (int64, error) {
	return observe(r.s, "records_incr", func() (int64, error) { return r.next.Incr(ctx, ns, key, delta, ttl) })
}
