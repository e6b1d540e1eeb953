package boltstore

import (
	"bytes"
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pixelgate/pixelgate/consent"
)

// bLedger holds the delivery ledger: MessageID (16) || rk (16) -> kind
// (1: 'd' delivered, 'c' claimed) || expiry unix nanos (8) || holder.
// Expiry is judged by the store's clock on every read; Purge deletes what
// has expired.
var bLedger = []byte("ledger")

const (
	ledgerDelivered = 'd'
	ledgerClaimed   = 'c'
)

// ledger is the Ledger view of a Store.
type ledger struct{ s *Store }

// Ledger implements consent.Store.
func (s *Store) Ledger() consent.Ledger { return ledger{s} }

func ledgerKey(m consent.MessageID, k consent.Key) []byte {
	return append(append(make([]byte, 0, 32), m[:]...), k[:]...)
}

func ledgerValue(kind byte, exp time.Time, holder string) []byte {
	return append(append([]byte{kind}, nanos(exp)...), holder...)
}

// ledgerEntry decodes a live entry; ok is false when missing or expired.
func ledgerEntry(raw []byte, now time.Time) (kind byte, holder []byte, ok bool) {
	if len(raw) < 9 || !now.Before(fromNanos(raw[1:9])) {
		return 0, nil, false
	}
	return raw[0], raw[9:], true
}

// state is what a live entry means to holder ("" for Check).
func ledgerState(raw []byte, now time.Time, holder string) consent.CopyState {
	kind, h, ok := ledgerEntry(raw, now)
	switch {
	case !ok:
		return consent.CopyFree
	case kind == ledgerDelivered:
		return consent.CopyDelivered
	case holder != "" && bytes.Equal(h, []byte(holder)):
		return consent.CopyFree
	}
	return consent.CopyBusy
}

func (l ledger) Check(ctx context.Context, m consent.MessageID, keys []consent.Key) ([]consent.CopyState, error) {
	out := make([]consent.CopyState, len(keys))
	now := l.s.now()
	err := l.s.view(ctx, "check delivery ledger", func(tx *bolt.Tx) error {
		b := tx.Bucket(bLedger)
		for i, k := range keys {
			out[i] = ledgerState(b.Get(ledgerKey(m, k)), now, "")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (l ledger) Claim(ctx context.Context, m consent.MessageID, keys []consent.Key, holder string, hold time.Duration) ([]consent.CopyState, error) {
	if err := consent.CheckLedgerArgs(holder, hold, true); err != nil {
		return nil, wrap("claim delivery ledger", err)
	}
	out := make([]consent.CopyState, len(keys))
	now := l.s.now()
	// batch: the copies of concurrent transactions share one commit.
	err := l.s.batch(ctx, "claim delivery ledger", func(tx *bolt.Tx) error {
		b := tx.Bucket(bLedger)
		for i, k := range keys {
			key := ledgerKey(m, k)
			st := ledgerState(b.Get(key), now, holder)
			if st == consent.CopyFree {
				if err := b.Put(key, ledgerValue(ledgerClaimed, now.Add(hold), holder)); err != nil {
					return err
				}
				st = consent.CopyClaimed
			}
			out[i] = st
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (l ledger) Delivered(ctx context.Context, m consent.MessageID, keys []consent.Key) error {
	exp := l.s.now().Add(l.s.ret.Ledger)
	return l.s.batch(ctx, "mark delivered in ledger", func(tx *bolt.Tx) error {
		b := tx.Bucket(bLedger)
		for _, k := range keys {
			if err := b.Put(ledgerKey(m, k), ledgerValue(ledgerDelivered, exp, "")); err != nil {
				return err
			}
		}
		return nil
	})
}

func (l ledger) Release(ctx context.Context, m consent.MessageID, keys []consent.Key, holder string) error {
	if err := consent.CheckLedgerArgs(holder, time.Second, true); err != nil {
		return wrap("release delivery ledger", err)
	}
	now := l.s.now()
	return l.s.batch(ctx, "release delivery ledger", func(tx *bolt.Tx) error {
		b := tx.Bucket(bLedger)
		for _, k := range keys {
			key := ledgerKey(m, k)
			kind, h, ok := ledgerEntry(b.Get(key), now)
			if ok && kind == ledgerClaimed && bytes.Equal(h, []byte(holder)) {
				if err := b.Delete(key); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// purgeLedger deletes expired ledger entries.
func purgeLedger(tx *bolt.Tx, now time.Time) error {
	return deleteWhere(tx.Bucket(bLedger), func(_, v []byte) bool {
		_, _, ok := ledgerEntry(v, now)
		return !ok
	})
}
