package redisstore

import (
	"os"
	"testing"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
)

// TestSnapshotRestores takes a snapshot while the store is in use, starts a
// fresh redis-server from the file Snapshot names, and finds every consent
// and audit entry there, with the audit chain intact.
func TestSnapshotRestores(t *testing.T) {
	ctx := t.Context()
	opts := Options{StoreOptions: consent.StoreOptions{Audit: consent.NewAuditChain([]byte("0123456789abcdef0123456789abcdef"))}}
	src := redistest.Start(t)
	st, err := Open(ctx, src.URL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys := []consent.Key{{1}, {2}, {3}}
	for i, k := range keys {
		if _, err := st.Grant(ctx, k, consent.Evidence{Source: consent.SourceConsentPage, PolicyVersion: "v1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AppendAudit(ctx, consent.AuditEntry{Actor: "cli:test", Action: "consent.grant", Target: k.String(), Result: "ok"}); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if _, err := st.Withdraw(ctx, k, consent.Evidence{Source: consent.SourceConsentPage}); err != nil {
				t.Fatal(err)
			}
		}
	}
	snaps, err := st.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 1 || snaps[0].File == "" || snaps[0].Saved.IsZero() {
		t.Fatalf("snapshot = %+v, want one file with its time", snaps)
	}
	if fi, err := os.Stat(snaps[0].File); err != nil || fi.Size() == 0 {
		t.Fatalf("snapshot file %s: %v", snaps[0].File, err)
	}
	// A write after the snapshot is not in it.
	if _, err := st.Grant(ctx, consent.Key{9}, consent.Evidence{Source: consent.SourceAPI}); err != nil {
		t.Fatal(err)
	}

	restored := redistest.StartFromRDB(t, snaps[0].File)
	rst, err := Open(ctx, restored.URL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer rst.Close()
	got, err := rst.Lookup(ctx, append(keys, consent.Key{9}))
	if err != nil {
		t.Fatal(err)
	}
	want := []consent.State{consent.Granted, consent.Granted, consent.Withdrawn, consent.None}
	for i, s := range got {
		if s.State != want[i] {
			t.Errorf("restored key %d: %v, want %v", i, s.State, want[i])
		}
	}
	hist, err := rst.History(ctx, keys[2])
	if err != nil || len(hist) != 2 {
		t.Errorf("restored history of the withdrawn key: %d events, %v; want grant and withdrawal", len(hist), err)
	}
	audit, err := rst.ReadAudit(ctx, consent.AuditQuery{})
	if err != nil || len(audit) != len(keys) {
		t.Errorf("restored audit: %d entries, %v; want %d", len(audit), err, len(keys))
	}
	if v, err := rst.VerifyAudit(ctx); err != nil || !v.OK {
		t.Errorf("restored audit chain: %+v, %v", v, err)
	}
}
