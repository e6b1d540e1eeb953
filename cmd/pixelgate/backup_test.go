package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/consent/redisstore"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
)

// cli runs one command in-process and returns its exit code and output.
func cli(args ...string) (int, string) {
	var out bytes.Buffer
	env := &environ{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: func(string) string { return "" }}
	code := runMain(context.Background(), env, args)
	return code, out.String()
}

// shortTempDir: the admin socket's path must stay under ~104 bytes.
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "pgb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// copyTree copies the keys directory with its modes (secrets are 0600).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm())
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
		if err != nil {
			return err
		}
		_, err = io.Copy(out, in)
		return errorsJoin(err, out.Close())
	})
	if err != nil {
		t.Fatal(err)
	}
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// TestBackupWhileServingRestores: consents are granted and withdrawn through
// the CLI while serve holds the store, `pixelgate backup` runs while more
// grants keep coming, and the copy restored into a fresh data directory
// holds every consent and every audit entry written before it, with the
// audit chain intact.
func TestBackupWhileServingRestores(t *testing.T) {
	dir := shortTempDir(t)
	srv := startServe(t, "--data-dir", dir)

	const n = 12
	addr := func(i int) string { return fmt.Sprintf("reader%d@example.org", i) }
	for i := range n {
		if code, out := cli("consent", "grant", "--data-dir", dir, "--policy-version", "v1", addr(i)); code != 0 {
			t.Fatalf("grant %d: exit %d: %s", i, code, out)
		}
	}
	if code, out := cli("consent", "withdraw", "--data-dir", dir, addr(0)); code != 0 {
		t.Fatalf("withdraw: exit %d: %s", code, out)
	}

	// Writers keep going while the backup runs.
	stopWriting := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stopWriting:
				return
			default:
			}
			if code, out := cli("consent", "grant", "--data-dir", dir, fmt.Sprintf("late%d@example.org", i)); code != 0 {
				t.Errorf("grant during backup: exit %d: %s", code, out)
				return
			}
		}
	})
	backup := filepath.Join(dir, "backup.db")
	code, out := cli("backup", "--data-dir", dir, "--out", backup)
	close(stopWriting)
	wg.Wait()
	if code != 0 || !strings.Contains(out, "consistent copy") {
		t.Fatalf("backup while serving: exit %d:\n%s", code, out)
	}
	if code, out := cli("backup", "--data-dir", dir, "--out", backup); code != 2 || !strings.Contains(out, "already exists") {
		t.Errorf("second backup to the same file: exit %d: %s; want a refusal", code, out)
	}
	if code := srv.shutdown(t); code != 0 {
		t.Fatalf("serve exited with %d", code)
	}

	// The live store after the backup, for comparison.
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: filepath.Join(dir, "keys"), NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	opts := boltstore.Options{StoreOptions: consent.StoreOptions{Audit: kr.AuditChain()}}
	live, err := boltstore.Open(filepath.Join(dir, "pixelgate.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	liveAudit, err := live.ReadAudit(t.Context(), consent.AuditQuery{Limit: 100000})
	live.Close()
	if err != nil {
		t.Fatal(err)
	}

	// Restore into a fresh data directory: the copy plus the keys.
	fresh := shortTempDir(t)
	copyTree(t, filepath.Join(dir, "keys"), filepath.Join(fresh, "keys"))
	if err := os.Rename(backup, filepath.Join(fresh, "pixelgate.db")); err != nil {
		t.Fatal(err)
	}
	restored, err := boltstore.Open(filepath.Join(fresh, "pixelgate.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := restored.ReadAudit(t.Context(), consent.AuditQuery{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	v, verr := restored.VerifyAudit(t.Context())
	restored.Close()
	if verr != nil || !v.OK {
		t.Errorf("restored audit chain: %+v %v", v, verr)
	}
	// Every entry written before the backup is there, identical, in order:
	// the copy is a prefix of the live log (the backup's own entry and the
	// late grants come after it).
	if len(got) < n+1 || len(got) > len(liveAudit) {
		t.Fatalf("restored audit has %d entries, live %d; want at least the %d grants and the withdrawal", len(got), len(liveAudit), n)
	}
	for i, e := range got {
		if e != liveAudit[i] {
			t.Fatalf("restored audit entry %d = %+v, live %+v", i, e, liveAudit[i])
		}
	}
	if last := liveAudit[len(liveAudit)-1]; !slicesContainsAction(liveAudit, "store.backup") {
		t.Errorf("the backup is not in the live audit log (last entry %+v)", last)
	}
	for i := range n {
		code, out := cli("consent", "show", "--data-dir", fresh, addr(i))
		want := "open tracking: granted"
		if i == 0 {
			want = "open tracking: withdrawn"
		}
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("restored %s: exit %d, want %q:\n%s", addr(i), code, want, out)
		}
	}
}

func slicesContainsAction(entries []consent.AuditEntry, action string) bool {
	for _, e := range entries {
		if e.Action == action && e.Result == "ok" {
			return true
		}
	}
	return false
}

// TestBackupRedis: on Redis, backup makes the server write a snapshot now,
// says where it is, copies it to --out when it is on this host, and records
// the backup in the audit log; a second backup never replaces the first.
func TestBackupRedis(t *testing.T) {
	rd := redistest.Start(t)
	dir := t.TempDir()
	common := []string{"--redis-url", rd.URL(), "--data-dir", dir}
	if code, out := cli(append([]string{"consent", "grant"}, append(common, "reader@example.org")...)...); code != 0 {
		t.Fatalf("grant: exit %d: %s", code, out)
	}
	out := filepath.Join(dir, "redis.rdb")
	code, text := cli(append([]string{"backup", "--out", out}, common...)...)
	if code != 0 || !strings.Contains(text, filepath.Join(rd.Dir(), "dump.rdb")) || !strings.Contains(text, "copied it to "+out) {
		t.Fatalf("backup on Redis: exit %d:\n%s", code, text)
	}
	raw, err := os.ReadFile(out)
	if err != nil || !bytes.HasPrefix(raw, []byte("REDIS")) {
		t.Fatalf("copied snapshot: %v, starts %q; want an RDB file", err, raw[:min(len(raw), 9)])
	}
	if code, text := cli(append([]string{"backup", "--out", out}, common...)...); code != 2 {
		t.Errorf("second backup to the same file: exit %d:\n%s", code, text)
	}
	// Without --out it only says where the snapshot is.
	if code, text := cli(append([]string{"backup"}, common...)...); code != 0 || !strings.Contains(text, "copy that file off the Redis host") {
		t.Errorf("backup without --out: exit %d:\n%s", code, text)
	}
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: filepath.Join(dir, "keys"), NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	live, err := redisstore.Open(t.Context(), rd.URL(), redisstore.Options{StoreOptions: consent.StoreOptions{Audit: kr.AuditChain()}})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if !slicesContainsAction(mustReadAudit(t, live), "store.backup") {
		t.Error("the Redis backup is not in the audit log")
	}
	restored := redistest.StartFromRDB(t, out)
	if code, text := cli("consent", "show", "--redis-url", restored.URL(), "--data-dir", dir, "reader@example.org"); code != 0 || !strings.Contains(text, "open tracking: granted") {
		t.Errorf("consent in the restored snapshot: exit %d:\n%s", code, text)
	}
}

func mustReadAudit(t *testing.T, st consent.Store) []consent.AuditEntry {
	t.Helper()
	entries, err := st.ReadAudit(t.Context(), consent.AuditQuery{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	return entries
}
