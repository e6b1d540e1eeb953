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

func readAnchor(tx *bolt.Tx, name []byte) (consent.AuditAnchor, error) {
	var a consent.AuditAnchor
	raw := tx.Bucket(bMeta).Get(name)
	if raw == nil {
		return a, nil
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, fmt.Errorf("decode audit anchor: %w", err)
	}
	return a, nil
}

func writeAnchor(tx *bolt.Tx, name []byte, a consent.AuditAnchor) error {
	raw, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return tx.Bucket(bMeta).Put(name, raw)
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
		out = s.opts.Audit.Next(head, e, s.now())
		raw, err := json.Marshal(out)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bAudit).Put(seqKey(out.Seq), raw); err != nil {
			return err
		}
		return writeAnchor(tx, metaAuditHead, consent.AuditAnchor{Seq: out.Seq, MAC: out.MAC})
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
		start, err := readAnchor(tx, metaAuditStart)
		if err != nil {
			return err
		}
		head, err := readAnchor(tx, metaAuditHead)
		if err != nil {
			return err
		}
		var entries []consent.AuditEntry
		err = tx.Bucket(bAudit).ForEach(func(_, val []byte) error {
			e, err := decodeAudit(val)
			if err != nil {
				// An entry that no longer parses was changed.
				e = consent.AuditEntry{}
			}
			entries = append(entries, e)
			return nil
		})
		if err != nil {
			return err
		}
		v = s.opts.Audit.Verify(start, entries, head)
		return nil
	})
	return v, err
}
