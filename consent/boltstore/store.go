// Package boltstore is the embedded consent.Store: one bbolt file in the data
// directory, the zero-setup default of `pixelgate serve` (operator guide §1). It
// mirrors the Redis data model (consent/redisstore/keys.go) in buckets and enforces retention
// with Purge, which the server runs periodically (consent.RunPurge).
package boltstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/pixelgate/pixelgate/consent"
)

// ErrLocked: another process (normally `pixelgate serve`) holds the file.
// CLI commands then go through the server's admin socket (consent/remote).
var ErrLocked = errors.New("store file is locked by another process")

// Options configure Open.
type Options struct {
	consent.StoreOptions
	// LockTimeout is how long Open waits for the file lock; 0 means 1 s.
	LockTimeout time.Duration
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
}

// batchDelay is how long a write waits for others to share its commit.
const batchDelay = 2 * time.Millisecond

// Buckets. Recipient keys are the 16 raw bytes of consent.Key; no plain
// address is ever a key or a value (R6, R8).
var (
	bStatus    = []byte("status")    // rk -> status
	bHistory   = []byte("history")   // rk -> JSON []storedEvent
	bAsked     = []byte("asked")     // rk -> unix nanos of the last unanswered request
	bDeliv     = []byte("deliv")     // rk -> unix seconds of the last open's UTC date (R4)
	bOpens     = []byte("opens")     // rk || campaign -> openEntry
	bCampaigns = []byte("campaigns") // id -> JSON campaign
	bHourly    = []byte("hourly")    // sub-bucket per campaign: hour unix (8) -> 3 counters
	bDays      = []byte("days")      // day unix (8) || source -> 3 counters
	bCurrent   = []byte("current")   // state (1) -> count
	bAudit     = []byte("audit")     // seq (8) -> JSON AuditEntry
	bMeta      = []byte("meta")      // fingerprint, audit anchors
	bRecords   = []byte("records")   // sub-bucket per namespace: key -> expiry (8) || value
	allBuckets = [][]byte{bStatus, bHistory, bAsked, bDeliv, bOpens, bCampaigns, bHourly, bDays, bCurrent, bAudit, bMeta, bRecords, bLedger}
)

// Store is the bbolt implementation of consent.Store. It is safe for
// concurrent use by many goroutines of one process.
type Store struct {
	db   *bolt.DB
	opts consent.StoreOptions
	ret  consent.Retention
}

var _ consent.Store = (*Store)(nil)

// Open opens (creating if needed) the store file at path. The file is
// locked for this process; a second opener gets ErrLocked after
// o.LockTimeout.
func Open(path string, o Options) (*Store, error) {
	if !o.Audit.Valid() {
		return nil, errors.New("open store: no audit chain key")
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.LockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: create buckets: %w", path, err)
	}
	// Concurrent opens are committed together (Batch); the pixel endpoint's
	// callers are all waiting on the previous commit, so a short gathering
	// delay loses nothing in batch size and saves latency.
	db.MaxBatchDelay = batchDelay
	opts := o.StoreOptions.WithDefaults()
	s := &Store{db: db, opts: opts, ret: opts.Retention}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	// Open takes no context: the seal is one local transaction.
	sealed, err := s.sealLegacyAudit(context.Background())
	consent.LogAuditSeal(o.Logger, sealed, err)
	return s, nil
}

func (s *Store) now() time.Time { return s.opts.Now() }

// view, update and batch run fn in a transaction after checking ctx:
// bbolt itself cannot be interrupted, so a cancelled caller is refused up
// front and can fail closed. batch coalesces concurrent writers into one
// fsync (the pixel endpoint under load); its fn may run twice and so must
// only write to tx and to variables it sets from scratch.
func (s *Store) view(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	return s.run(ctx, op, s.db.View, fn)
}

func (s *Store) update(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	return s.run(ctx, op, s.db.Update, fn)
}

func (s *Store) batch(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	return s.run(ctx, op, s.db.Batch, fn)
}

func (s *Store) run(ctx context.Context, op string, txn func(func(*bolt.Tx) error) error, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w: %w", op, consent.ErrUnavailable, err)
	}
	if err := txn(fn); err != nil {
		return wrap(op, err)
	}
	return nil
}

// wrap keeps the contract's typed errors and marks bbolt's own failures
// (closed database, disk errors) as unavailable so callers fail closed.
func wrap(op string, err error) error {
	for _, typed := range []error{consent.ErrNotFound, consent.ErrInvalid, consent.ErrSecretsMismatch, consent.ErrUnavailable} {
		if errors.Is(err, typed) {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	return fmt.Errorf("%s: %w: %w", op, consent.ErrUnavailable, err)
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", consent.ErrInvalid, fmt.Sprintf(format, a...))
}

// CheckFingerprint implements consent.Store.
func (s *Store) CheckFingerprint(ctx context.Context, fp string) error {
	if fp == "" {
		return fmt.Errorf("check fingerprint: %w: empty fingerprint", consent.ErrInvalid)
	}
	return s.update(ctx, "check fingerprint", func(tx *bolt.Tx) error {
		b := tx.Bucket(bMeta)
		stored := b.Get([]byte("fingerprint"))
		if stored == nil {
			return b.Put([]byte("fingerprint"), []byte(fp))
		}
		if string(stored) != fp {
			return consent.ErrSecretsMismatch
		}
		return nil
	})
}

// Ping implements consent.Store.
func (s *Store) Ping(ctx context.Context) error {
	return s.view(ctx, "ping", func(tx *bolt.Tx) error { return nil })
}

// Close releases the file.
func (s *Store) Close() error { return s.db.Close() }
