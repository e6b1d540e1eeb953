package boltstore

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/pixelgate/pixelgate/consent/storetest"
)

// BenchmarkStore is the embedded store's Lookup and RecordOpen at
// storetest.Callers concurrent callers.
func BenchmarkStore(b *testing.B) { storetest.Bench(b, openTemp) }

// BenchmarkBoltReference is what the store's figures are measured against,
// in the same run and with the same callers: a bare bbolt read of one small
// value (Lookup's floor) and a bare batched write of one (RecordOpen's
// floor, dominated by the fsync that makes an open durable).
func BenchmarkBoltReference(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "ref.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.MaxBatchDelay = batchDelay
	bucket := []byte("ref")
	const keys = 4096
	err = db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucket(bucket)
		if err != nil {
			return err
		}
		for i := range keys {
			if err := bk.Put(binary.BigEndian.AppendUint64(nil, uint64(i)), make([]byte, 10)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Get", func(b *testing.B) {
		storetest.RunParallel(b, func(_ context.Context, i uint64) error {
			return db.View(func(tx *bolt.Tx) error {
				_ = tx.Bucket(bucket).Get(binary.BigEndian.AppendUint64(nil, i%keys))
				return nil
			})
		})
	})
	b.Run("BatchPut", func(b *testing.B) {
		storetest.RunParallel(b, func(_ context.Context, i uint64) error {
			return db.Batch(func(tx *bolt.Tx) error {
				return tx.Bucket(bucket).Put(binary.BigEndian.AppendUint64(nil, i%keys), binary.BigEndian.AppendUint64(nil, i))
			})
		})
	})
}
