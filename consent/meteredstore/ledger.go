package meteredstore

import (
	"context"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

// Ledger measures the delivery ledger under "ledger_*" operations.
func (s *Store) Ledger() consent.Ledger { return ledger{s: s, next: s.next.Ledger()} }

type ledger struct {
	s    *Store
	next consent.Ledger
}

func (l ledger) Check(ctx context.Context, m consent.MessageID, keys []consent.Key) ([]consent.CopyState, error) {
	return observe(l.s, "ledger_check", func() ([]consent.CopyState, error) { return l.next.Check(ctx, m, keys) })
}

func (l ledger) Claim(ctx context.Context, m consent.MessageID, keys []consent.Key, holder string, hold time.Duration) ([]consent.CopyState, error) {
	return observe(l.s, "ledger_claim", func() ([]consent.CopyState, error) { return l.next.Claim(ctx, m, keys, holder, hold) })
}

func (l ledger) Delivered(ctx context.Context, m consent.MessageID, keys []consent.Key) error {
	return observeErr(l.s, "ledger_delivered", func() error { return l.next.Delivered(ctx, m, keys) })
}

func (l ledger) Release(ctx context.Context, m consent.MessageID, keys []consent.Key, holder string) error {
	return observeErr(l.s, "ledger_release", func() error { return l.next.Release(ctx, m, keys, holder) })
}
