package boltstore

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/storetest"
)

// rawFile edits the audit records in the bbolt file of a store.
type rawFile struct {
	path string
	opts consent.StoreOptions
	st   *Store
}

func (r *rawFile) edit(t testing.TB, fn func(tx *bolt.Tx) error) {
	t.Helper()
	if err := r.st.db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func recordName(role consent.AuditRole) []byte {
	if role == consent.AuditHead {
		return metaAuditHead
	}
	return metaAuditStart
}

func (r *rawFile) Record(t testing.TB, role consent.AuditRole) []byte {
	var out []byte
	r.edit(t, func(tx *bolt.Tx) error {
		if v := tx.Bucket(bMeta).Get(recordName(role)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out
}

func (r *rawFile) SetRecord(t testing.TB, role consent.AuditRole, raw []byte) {
	r.edit(t, func(tx *bolt.Tx) error {
		if raw == nil {
			return tx.Bucket(bMeta).Delete(recordName(role))
		}
		return tx.Bucket(bMeta).Put(recordName(role), raw)
	})
}

func (r *rawFile) PutEntry(t testing.TB, seq uint64, raw []byte) {
	r.edit(t, func(tx *bolt.Tx) error { return tx.Bucket(bAudit).Put(seqKey(seq), raw) })
}

func (r *rawFile) DeleteEntries(t testing.TB, from, to uint64) {
	r.edit(t, func(tx *bolt.Tx) error {
		for seq := from; seq <= to; seq++ {
			if err := tx.Bucket(bAudit).Delete(seqKey(seq)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (r *rawFile) Reopen(t testing.TB) consent.Store {
	t.Helper()
	if err := r.st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := Open(r.path, Options{StoreOptions: r.opts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	r.st = st
	return st
}

// TestAuditEndsTampered edits the audit records in the bbolt file.
func TestAuditEndsTampered(t *testing.T) {
	storetest.RunAuditTamper(t, func(t testing.TB, o consent.StoreOptions) (consent.Store, storetest.RawAudit) {
		path := filepath.Join(t.TempDir(), "pixelgate.db")
		st, err := Open(path, Options{StoreOptions: o})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st, &rawFile{path: path, opts: o, st: st}
	})
}
