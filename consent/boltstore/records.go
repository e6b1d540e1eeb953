package boltstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pixelgate/pixelgate/consent"
)

// records is the SharedKV view of a Store. A value is stored as expiry unix
// nanos (8, 0 = never) followed by the bytes; expiry is judged by the
// store's clock and Purge deletes what has expired.
type records struct{ s *Store }

// SharedKV implements consent.Store.
func (s *Store) SharedKV() consent.SharedKV { return records{s} }

func recordArgs(ns, key string) error {
	if ns == "" || key == "" {
		return invalid("a record needs a namespace and a key")
	}
	return nil
}

func (r records) expiry(ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return r.s.now().Add(ttl)
}

// live returns the value of a stored record, or nil when missing or expired.
func (r records) live(raw []byte) []byte {
	if len(raw) < 8 {
		return nil
	}
	if exp := fromNanos(raw); !exp.IsZero() && !r.s.now().Before(exp) {
		return nil
	}
	return raw[8:]
}

func encodeRecord(exp time.Time, val []byte) []byte {
	return append(nanos(exp), val...)
}

func (r records) Get(ctx context.Context, ns, key string) ([]byte, error) {
	if err := recordArgs(ns, key); err != nil {
		return nil, fmt.Errorf("get record: %w", err)
	}
	var out []byte
	err := r.s.view(ctx, "get record", func(tx *bolt.Tx) error {
		b := tx.Bucket(bRecords).Bucket([]byte(ns))
		var val []byte
		if b != nil {
			val = r.live(b.Get([]byte(key)))
		}
		if val == nil {
			return fmt.Errorf("record %s/%s: %w", ns, key, consent.ErrNotFound)
		}
		out = append([]byte{}, val...)
		return nil
	})
	return out, err
}

func (r records) Put(ctx context.Context, ns, key string, val []byte, ttl time.Duration) error {
	if err := recordArgs(ns, key); err != nil {
		return fmt.Errorf("put record: %w", err)
	}
	return r.s.update(ctx, "put record", func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bRecords).CreateBucketIfNotExists([]byte(ns))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), encodeRecord(r.expiry(ttl), val))
	})
}

func (r records) PutIfAbsent(ctx context.Context, ns, key string, val []byte, ttl time.Duration) (bool, error) {
	if err := recordArgs(ns, key); err != nil {
		return false, fmt.Errorf("put record: %w", err)
	}
	stored := false
	err := r.s.update(ctx, "put new record", func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bRecords).CreateBucketIfNotExists([]byte(ns))
		if err != nil {
			return err
		}
		if r.live(b.Get([]byte(key))) != nil {
			return nil
		}
		stored = true
		return b.Put([]byte(key), encodeRecord(r.expiry(ttl), val))
	})
	return stored, err
}

func (r records) Delete(ctx context.Context, ns, key string) error {
	if err := recordArgs(ns, key); err != nil {
		return fmt.Errorf("delete record: %w", err)
	}
	return r.s.update(ctx, "delete record", func(tx *bolt.Tx) error {
		if b := tx.Bucket(bRecords).Bucket([]byte(ns)); b != nil {
			return b.Delete([]byte(key))
		}
		return nil
	})
}

func (r records) List(ctx context.Context, ns string) ([]string, error) {
	if ns == "" {
		return nil, fmt.Errorf("list records: %w", invalid("no namespace"))
	}
	var out []string
	err := r.s.view(ctx, "list records", func(tx *bolt.Tx) error {
		b := tx.Bucket(bRecords).Bucket([]byte(ns))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if r.live(v) != nil {
				out = append(out, string(k))
			}
			return nil
		})
	})
	return out, err
}

// Incr keeps the counter as decimal text, as Redis INCRBY does, so Get
// returns the same bytes from both stores.
func (r records) Incr(ctx context.Context, ns, key string, delta int64, ttl time.Duration) (int64, error) {
	if err := recordArgs(ns, key); err != nil {
		return 0, fmt.Errorf("increment record: %w", err)
	}
	var n int64
	err := r.s.batch(ctx, "increment record", func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bRecords).CreateBucketIfNotExists([]byte(ns))
		if err != nil {
			return err
		}
		raw := b.Get([]byte(key))
		exp := r.expiry(ttl)
		n = delta
		if val := r.live(raw); val != nil {
			cur, err := strconv.ParseInt(string(val), 10, 64)
			if err != nil {
				return fmt.Errorf("record %s/%s: %w", ns, key, invalid("not a counter"))
			}
			n, exp = cur+delta, fromNanos(raw)
		}
		return b.Put([]byte(key), encodeRecord(exp, []byte(strconv.FormatInt(n, 10))))
	})
	return n, err
}
