package boltstore

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/storetest"
)

func fileOptions(clock *storetest.Clock) Options {
	return Options{StoreOptions: storetest.Options(clock), LockTimeout: 100 * time.Millisecond}
}

func TestFilePrivateLockedAndPersistent(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "pixelgate.db")
	clock := storetest.NewClock(storetest.Start())
	st, err := Open(path, fileOptions(clock))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("store file mode: %v %v, want 0600", fi.Mode().Perm(), err)
	}
	var k consent.Key
	k[0] = 1
	if _, err := st.Grant(ctx, k, consent.Evidence{Source: consent.SourceCLI, Actor: "cli:root"}); err != nil {
		t.Fatal(err)
	}
	// The running server holds the file; a CLI call must learn that quickly
	// and go through the admin socket instead (consent/remote).
	if _, err := Open(path, fileOptions(clock)); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Lookup(ctx, []consent.Key{k}); !errors.Is(err, consent.ErrUnavailable) {
		t.Errorf("lookup on a closed store: %v, want ErrUnavailable (fail closed)", err)
	}
	st, err = Open(path, fileOptions(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.Lookup(ctx, []consent.Key{k})
	if err != nil || s[0].State != consent.Granted {
		t.Errorf("after reopening: %+v %v, want granted", s, err)
	}
}

// TestAuditTamperingLocated edits the file behind the store's back, as an
// attacker with disk access would, and checks VerifyAudit names the entry.
func TestAuditTamperingLocated(t *testing.T) {
	ctx := t.Context()
	clock := storetest.NewClock(storetest.Start())
	setup := func(t *testing.T) *Store {
		st, err := Open(filepath.Join(t.TempDir(), "pixelgate.db"), fileOptions(clock))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		for _, a := range []string{"login", "consent.grant", "dsar.export", "consent.withdraw", "logout"} {
			if _, err := st.AppendAudit(ctx, consent.AuditEntry{Actor: "admin:alice", Action: a, Result: "ok"}); err != nil {
				t.Fatal(err)
			}
		}
		return st
	}
	edit := func(t *testing.T, st *Store, fn func(b *bolt.Bucket) error) {
		if err := st.db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket(bAudit)) }); err != nil {
			t.Fatal(err)
		}
	}
	rewrite := func(b *bolt.Bucket, seq uint64, fn func(e *consent.AuditEntry)) error {
		var e consent.AuditEntry
		if err := json.Unmarshal(b.Get(seqKey(seq)), &e); err != nil {
			return err
		}
		fn(&e)
		raw, _ := json.Marshal(e)
		return b.Put(seqKey(seq), raw)
	}
	cases := []struct {
		name    string
		tamper  func(b *bolt.Bucket) error
		seq     uint64
		problem string
	}{
		{"changed", func(b *bolt.Bucket) error {
			return rewrite(b, 3, func(e *consent.AuditEntry) { e.Action = "campaign.view" })
		}, 3, "changed"},
		{"removed", func(b *bolt.Bucket) error { return b.Delete(seqKey(2)) }, 2, "removed"},
		{"last removed", func(b *bolt.Bucket) error { return b.Delete(seqKey(5)) }, 5, "removed"},
		{"reordered", func(b *bolt.Bucket) error {
			two, four := append([]byte(nil), b.Get(seqKey(2))...), append([]byte(nil), b.Get(seqKey(4))...)
			if err := b.Put(seqKey(2), four); err != nil {
				return err
			}
			return b.Put(seqKey(4), two)
		}, 2, "reordered"}, // the first entry out of place
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := setup(t)
			if v, err := st.VerifyAudit(ctx); err != nil || !v.OK {
				t.Fatalf("before tampering: %+v %v", v, err)
			}
			edit(t, st, c.tamper)
			v, err := st.VerifyAudit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if v.OK || v.BadSeq != c.seq || v.Problem != c.problem {
				t.Errorf("got %+v, want entry %d %s", v, c.seq, c.problem)
			}
		})
	}
}
