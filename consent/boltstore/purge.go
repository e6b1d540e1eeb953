package boltstore

import (
	"context"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pixelgate/pixelgate/consent"
)

// Purge implements consent.Store: it deletes everything whose retention
// (consent.Retention, R9) has run out by the store's clock, in one
// transaction.
func (s *Store) Purge(ctx context.Context) error {
	now := s.now()
	r := s.ret
	return s.update(ctx, "purge expired data", func(tx *bolt.Tx) error {
		steps := []func(*bolt.Tx) error{
			// Opens: 13 months after the record was created (R7: later
			// opens do not move Created).
			func(tx *bolt.Tx) error {
				return deleteWhere(tx.Bucket(bOpens), func(_, v []byte) bool {
					return !now.Before(decodeOpenEntry(v).Created.Add(r.Opens))
				})
			},
			func(tx *bolt.Tx) error {
				return tx.Bucket(bHourly).ForEachBucket(func(name []byte) error {
					return deleteWhere(tx.Bucket(bHourly).Bucket(name), func(k, _ []byte) bool {
						return !now.Before(fromUnixKey(k).Add(r.Opens))
					})
				})
			},
			func(tx *bolt.Tx) error {
				return deleteWhere(tx.Bucket(bDeliv), func(_, v []byte) bool {
					return !now.Before(fromUnixKey(v).Add(r.Deliverability))
				})
			},
			func(tx *bolt.Tx) error {
				return deleteWhere(tx.Bucket(bAsked), func(_, v []byte) bool {
					return !now.Before(fromNanos(v).Add(r.AskQuiet))
				})
			},
			func(tx *bolt.Tx) error { return s.purgeEvidence(tx, now) },
			func(tx *bolt.Tx) error { return s.purgeAudit(tx, now) },
			func(tx *bolt.Tx) error { return purgeLedger(tx, now) },
			func(tx *bolt.Tx) error {
				rb := tx.Bucket(bRecords)
				return rb.ForEachBucket(func(name []byte) error {
					return deleteWhere(rb.Bucket(name), func(_, v []byte) bool {
						exp := fromNanos(v)
						return !exp.IsZero() && !now.Before(exp)
					})
				})
			},
		}
		for _, step := range steps {
			if err := step(tx); err != nil {
				return err
			}
		}
		return nil
	})
}

// deleteWhere deletes the entries of b for which expired is true.
func deleteWhere(b *bolt.Bucket, expired func(k, v []byte) bool) error {
	var doomed [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if v != nil && expired(k, v) {
			doomed = append(doomed, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// purgeEvidence forgets keys whose consent ended (refused or withdrawn)
// longer ago than Retention.Evidence; erasure tombstones stay.
func (s *Store) purgeEvidence(tx *bolt.Tx, now time.Time) error {
	var doomed []consent.Key
	err := tx.Bucket(bStatus).ForEach(func(k, v []byte) error {
		st := decodeStatus(v)
		ended := st.State == consent.Refused || st.State == consent.Withdrawn
		if ended && !st.Tomb && !now.Before(st.Since.Add(s.ret.Evidence)) && len(k) == len(consent.Key{}) {
			doomed = append(doomed, consent.Key(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range doomed {
		if err := tx.Bucket(bHistory).Delete(k[:]); err != nil {
			return err
		}
		if err := setStatus(tx, k, status{}); err != nil {
			return err
		}
	}
	return nil
}

// purgeAudit deletes the oldest entries past Retention.Audit, stopping at
// the first one to keep so the log stays a contiguous chain, and moves the
// start anchor to the last deleted entry so VerifyAudit still checks every
// kept entry.
func (s *Store) purgeAudit(tx *bolt.Tx, now time.Time) error {
	c := tx.Bucket(bAudit).Cursor()
	var last *consent.AuditEntry
	for k, v := c.First(); k != nil; k, v = c.First() {
		var e consent.AuditEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		if now.Before(e.At.Add(s.ret.Audit)) {
			break
		}
		if err := c.Delete(); err != nil {
			return err
		}
		last = &e
	}
	if last == nil {
		return nil
	}
	return writeAnchor(tx, metaAuditStart, s.opts.Audit.Trim(*last))
}
