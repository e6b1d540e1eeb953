package boltstore

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pixelgate/pixelgate/consent"
)

// TestWriteBackupWhileWriting copies the store while another goroutine keeps
// granting and auditing, then opens the copy as a store: everything written
// before the backup started is there and the audit chain verifies.
func TestWriteBackupWhileWriting(t *testing.T) {
	ctx := t.Context()
	opts := Options{StoreOptions: consent.StoreOptions{Audit: consent.NewAuditChain([]byte("0123456789abcdef0123456789abcdef"))}}
	dir := t.TempDir()
	st, err := Open(filepath.Join(dir, "pixelgate.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	grant := func(i int) {
		k := consent.Key{byte(i), byte(i >> 8), 1}
		if _, err := st.Grant(ctx, k, consent.Evidence{Source: consent.SourceCLI, Actor: "test"}); err != nil {
			t.Error(err)
		}
		if _, err := st.AppendAudit(ctx, consent.AuditEntry{Actor: "cli:test", Action: "consent.grant", Target: k.String(), Result: "ok"}); err != nil {
			t.Error(err)
		}
	}
	const before = 200
	for i := range before {
		grant(i)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := before; ; i++ {
			select {
			case <-stop:
				return
			default:
				grant(i)
			}
		}
	})
	out := filepath.Join(dir, "backup.db")
	n, err := st.WriteBackup(ctx, out)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() != n || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v, want %d bytes mode 0600", fi, err, n)
	}
	if _, err := st.WriteBackup(ctx, out); err == nil {
		t.Error("a second backup overwrote the first")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".backup.db.partial-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	restored, err := Open(out, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	keys := make([]consent.Key, before)
	for i := range keys {
		keys[i] = consent.Key{byte(i), byte(i >> 8), 1}
	}
	got, err := restored.Lookup(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range got {
		if s.State != consent.Granted {
			t.Fatalf("restored key %d: %v, want granted", i, s.State)
		}
	}
	v, err := restored.VerifyAudit(ctx)
	if err != nil || !v.OK || v.Checked < before {
		t.Errorf("restored audit: %+v, %v; want a verified chain of at least %d", v, err, before)
	}
}
