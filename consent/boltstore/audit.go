package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/pixelgate/pixelgate/consent"
)

// Meta keys of the audit chain: the last entry appended and the entry the
// first kept one chains from (zero until retention purges the oldest).
var (
	metaAuditHead  = []byte("audit_head")
	metaAuditStart = []byte("audit_start")
)

// readAnchor reads a head or anchor record; nil when the store holds none.
func readAnchor(tx *bolt.Tx, name []byte) (*consent.AuditAnchor, error) {
	raw := tx.Bucket(bMeta).Get(name)
	if raw == nil {
		return nil, nil
	}
	var a consent.AuditAnchor
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("decode audit anchor %s: %w", name, err)
	}
	return &a, nil
}

func writeAnchor(tx *bolt.Tx, name []byte, a consent.AuditAnchor) error {
	raw, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return tx.Bucket(bMeta).Put(name, raw)
}

// putAudit stores entries and the head naming the last of them.
func putAudit(tx *bolt.Tx, entries []consent.AuditEntry, head consent.AuditAnchor) error {
	for _, e := range entries {
		raw, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bAudit).Put(seqKey(e.Seq), raw); err != nil {
			return err
		}
	}
	return writeAnchor(tx, metaAuditHead, head)
}

// tailAnchor names the last stored entry; nil when there is none. An entry
// that no longer parses still has its sequence number, so the chain is
// never continued over it.
func tailAnchor(tx *bolt.Tx) *consent.AuditAnchor {
	k, v := tx.Bucket(bAudit).Cursor().Last()
	if k == nil {
		return nil
	}
	e, _ := decodeAudit(v)
	return &consent.AuditAnchor{Seq: binary.BigEndian.Uint64(k), MAC: e.MAC}
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// AppendAudit implements consent.Store (R10).
func (s *Store) AppendAudit(ctx context.Context, e consent.AuditEntry) (consent.AuditEntry, error) {
	if e.Actor == "" || e.Action == "" {
		return consent.AuditEntry{}, fmt.Errorf("append audit entry: %w", invalid("an audit entry needs an actor and an action"))
	}
	var out consent.AuditEntry
	err := s.update(ctx, "append audit entry", func(tx *bolt.Tx) error {
		head, err := readAnchor(tx, metaAuditHead)
		if err != nil {
			return err
		}
		var tail *consent.AuditAnchor
		if head == nil || !s.opts.Audit.Sealed(consent.AuditHead, *head) {
			// Only then does the chain continue from the last entry.
			tail = tailAnchor(tx)
		}
		entries, newHead := s.opts.Audit.Append(head, tail, e, s.now())
		out = entries[len(entries)-1]
		return putAudit(tx, entries, newHead)
	})
	return out, err
}

func decodeAudit(v []byte) (consent.AuditEntry, error) {
	var e consent.AuditEntry
	if err := json.Unmarshal(v, &e); err != nil {
		return e, fmt.Errorf("decode audit entry: %w", err)
	}
	return e, nil
}

func matches(q consent.AuditQuery, e consent.AuditEntry) bool {
	return (q.Since.IsZero() || !e.At.Before(q.Since)) &&
		(q.Until.IsZero() || e.At.Before(q.Until)) &&
		(q.Actor == "" || e.Actor == q.Actor) &&
		strings.HasPrefix(e.Action, q.Action) &&
		(q.Target == "" || e.Target == q.Target) &&
		e.Seq > q.AfterSeq
}

// ReadAudit implements consent.Store.
func (s *Store) ReadAudit(ctx context.Context, q consent.AuditQuery) ([]consent.AuditEntry, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []consent.AuditEntry
	err := s.view(ctx, "read audit log", func(tx *bolt.Tx) error {
		c := tx.Bucket(bAudit).Cursor()
		k, v := c.Seek(seqKey(q.AfterSeq + 1))
		next := c.Next
		if q.Newest {
			k, v = c.Last()
			next = c.Prev
		}
		for ; k != nil && len(out) < limit; k, v = next() {
			e, err := decodeAudit(v)
			if err != nil {
				return err
			}
			if q.Newest && e.Seq <= q.AfterSeq {
				break
			}
			if matches(q, e) {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}

// VerifyAudit implements consent.Store.
func (s *Store) VerifyAudit(ctx context.Context) (consent.AuditVerification, error) {
	var v consent.AuditVerification
	err := s.view(ctx, "verify audit log", func(tx *bolt.Tx) error {
		stored, err := loadAudit(tx)
		if err != nil {
			return err
		}
		v = s.opts.Audit.VerifyStored(stored, s.now(), s.ret.Audit)
		return nil
	})
	return v, err
}

// loadAudit reads the whole log as stored.
func loadAudit(tx *bolt.Tx) (consent.StoredAudit, error) {
	var out consent.StoredAudit
	var err error
	if out.Start, err = readAnchor(tx, metaAuditStart); err != nil {
		return out, err
	}
	if out.Head, err = readAnchor(tx, metaAuditHead); err != nil {
		return out, err
	}
	err = tx.Bucket(bAudit).ForEach(func(_, val []byte) error {
		e, err := decodeAudit(val)
		if err != nil {
			// An entry that no longer parses was changed.
			e = consent.AuditEntry{}
		}
		out.Entries = append(out.Entries, e)
		return nil
	})
	return out, err
}

// sealLegacyAudit seals the head and anchor an earlier version wrote
// without a MAC, recording that in the chain (R10); it runs when the store
// is opened. A log that does not verify against them is left as it is for
// VerifyAudit to report, and so the error is only for the caller to log.
func (s *Store) sealLegacyAudit(ctx context.Context) (bool, error) {
	sealed := false
	err := s.update(ctx, "seal audit log", func(tx *bolt.Tx) error {
		head, err := readAnchor(tx, metaAuditHead)
		if err != nil {
			return err
		}
		start, err := readAnchor(tx, metaAuditStart)
		if err != nil || !consent.NeedsSeal(head, start) {
			return err
		}
		stored, err := loadAudit(tx)
		if err != nil {
			return err
		}
		sealedStart, note, sealedHead, err := s.opts.Audit.SealLegacy(stored, s.now())
		if err != nil {
			return err
		}
		if sealedStart != nil {
			if err := writeAnchor(tx, metaAuditStart, *sealedStart); err != nil {
				return err
			}
		}
		sealed = true
		return putAudit(tx, []consent.AuditEntry{note}, sealedHead)
	})
	return sealed, err
}
