package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
)

func tester() (string, error) { return "dpo-anna", nil }

// runAudited runs a consent or dsar command in-process as OS user dpo-anna.
func runAudited(t *testing.T, cmd string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &environ{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	run := consentCommand(tester)
	if cmd == "dsar" {
		run = dsarCommand(tester)
	}
	err := run(context.Background(), env, args)
	return out.String(), err
}

// cliDataDir is a short data directory: the admin socket path must fit the
// Unix socket limit.
func cliDataDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "pgcli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return filepath.Join(d, "data")
}

const addr = "Anna.Martin@Exemple.FR"

func mustRun(t *testing.T, cmd string, args ...string) string {
	t.Helper()
	out, err := runAudited(t, cmd, args...)
	if err != nil {
		t.Fatalf("%s %v: %v", cmd, args, err)
	}
	return out
}

// exercise runs the whole consent/dsar flow against the store flags given
// and checks what a DPO would see.
func exercise(t *testing.T, flags ...string) {
	with := func(verb string) []string { return append(append([]string{verb}, flags...), addr) }

	out := mustRun(t, "consent", with("show")...)
	if !strings.Contains(out, "open tracking: none") || !strings.Contains(out, "evidence: none") {
		t.Errorf("show of an unknown recipient:\n%s", out)
	}
	out = mustRun(t, "consent", append(append([]string{"grant", "--policy-version", "2026-04"}, flags...), addr)...)
	if !strings.Contains(out, "granted") {
		t.Errorf("grant output: %s", out)
	}
	mustRun(t, "consent", with("withdraw")...)
	out = mustRun(t, "consent", with("show")...)
	for _, want := range []string{"open tracking: withdrawn since", "granted", "withdrawn", "cli:dpo-anna", "2026-04", "cli"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}

	var x consent.Export
	if err := json.Unmarshal([]byte(mustRun(t, "dsar", with("export")...)), &x); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	if x.State != "withdrawn" || len(x.History) != 2 || x.History[0].StateName != "granted" || x.History[0].Actor != "cli:dpo-anna" {
		t.Errorf("export: %+v", x)
	}
	mustRun(t, "dsar", with("erase")...)
	if err := json.Unmarshal([]byte(mustRun(t, "dsar", with("export")...)), &x); err != nil {
		t.Fatal(err)
	}
	if x.State != "withdrawn" || len(x.History) != 0 {
		t.Errorf("export after erasure: %+v", x)
	}
}

// auditOf reads the audit log with the same flags, as an admin would.
func auditOf(t *testing.T, flags ...string) []consent.AuditEntry {
	t.Helper()
	fs := newFlagSet(&environ{stderr: &bytes.Buffer{}, getenv: func(string) string { return "" }}, "x", "")
	sf := addStoreFlags(fs)
	if err := fs.parse(flags); err != nil {
		t.Fatal(err)
	}
	h, err := openStore(t.Context(), sf)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	got, err := h.store.ReadAudit(t.Context(), consent.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := h.store.VerifyAudit(t.Context()); err != nil || !v.OK {
		t.Errorf("audit chain: %+v %v", v, err)
	}
	return got
}

func checkAudit(t *testing.T, entries []consent.AuditEntry) {
	t.Helper()
	want := []string{"consent.show", "consent.grant", "consent.withdraw", "consent.show", "dsar.export", "dsar.erase", "dsar.export"}
	if len(entries) != len(want) {
		t.Fatalf("audit has %d entries, want %d: %+v", len(entries), len(want), entries)
	}
	for i, e := range entries {
		if e.Action != want[i] || e.Actor != "cli:dpo-anna" || e.Result != "ok" || len(e.Target) != 32 {
			t.Errorf("audit entry %d: %+v, want %s by cli:dpo-anna on a recipient key", i, e, want[i])
		}
		raw, _ := json.Marshal(e)
		if strings.Contains(strings.ToLower(string(raw)), "anna.martin") {
			t.Errorf("audit entry holds the plain address (R8): %s", raw)
		}
	}
}

func TestConsentAndDSAROnEmbeddedStore(t *testing.T) {
	dir := cliDataDir(t)
	seedStore(t, dir)
	exercise(t, "--data-dir", dir)
	checkAudit(t, auditOf(t, "--data-dir", dir))
	for _, p := range []string{dir, filepath.Join(dir, "keys")} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v %v, want 0700", p, fi.Mode().Perm(), err)
		}
	}
}

// TestConsentWhileServerRuns: the server holds the bbolt file, the CLI goes
// through its admin socket (consent/remote).
func TestConsentWhileServerRuns(t *testing.T) {
	dir := cliDataDir(t)
	fs := newFlagSet(&environ{stderr: &bytes.Buffer{}, getenv: func(string) string { return "" }}, "serve", "")
	sf := addStoreFlags(fs)
	if err := fs.parse([]string{"--data-dir", dir}); err != nil {
		t.Fatal(err)
	}
	srv, err := openServeStore(t.Context(), nil, sf, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(srv.describe, "admin socket") {
		t.Errorf("serve describes its store as %q", srv.describe)
	}
	exercise(t, "--data-dir", dir)
	got, err := srv.store.ReadAudit(t.Context(), consent.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	checkAudit(t, got)
	k, _ := srv.keyring.RecipientKey(addr)
	if st, _ := srv.store.Lookup(t.Context(), []consent.Key{k}); st[0].State != consent.Withdrawn {
		t.Errorf("server sees %v after the CLI's erasure", st[0].State)
	}
	if err := srv.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "admin.sock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("admin socket left after the server stopped: %v", err)
	}
	// Once the server is gone the CLI opens the file itself.
	if out := mustRun(t, "consent", "show", "--data-dir", dir, addr); !strings.Contains(out, "withdrawn") {
		t.Errorf("show after the server stopped:\n%s", out)
	}
}

func TestConsentLockedFileWithoutServer(t *testing.T) {
	dir := cliDataDir(t)
	seedStore(t, dir)
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: filepath.Join(dir, "keys")})
	if err != nil {
		t.Fatal(err)
	}
	other, err := boltstore.Open(filepath.Join(dir, "pixelgate.db"), boltstore.Options{StoreOptions: consent.StoreOptions{Audit: kr.AuditChain()}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = runAudited(t, "consent", "grant", "--data-dir", dir, addr)
	if err == nil || !strings.Contains(err.Error(), "locked") || !strings.Contains(err.Error(), "admin.sock") {
		t.Errorf("locked file and no server: %v, want an error naming the lock and the admin socket", err)
	}
}

func TestConsentOnRedis(t *testing.T) {
	srv := redistest.Start(t)
	keys := filepath.Join(t.TempDir(), "keys")
	flags := []string{"--redis-url", srv.URL(), "--keys-dir", keys, "--data-dir", cliDataDir(t)}
	exercise(t, flags...)
	checkAudit(t, auditOf(t, flags...))
	// Another machine with other secrets must be refused (operator guide §6).
	_, err := runAudited(t, "consent", "grant", "--redis-url", srv.URL(), "--keys-dir", filepath.Join(t.TempDir(), "k2"), addr)
	if err == nil || !errors.Is(err, consent.ErrSecretsMismatch) || !strings.Contains(err.Error(), "--keys-dir") {
		t.Errorf("other secrets: %v, want a clear mismatch error", err)
	}
}

func TestConsentCommandLineErrors(t *testing.T) {
	dir := cliDataDir(t)
	cases := [][]string{
		{"consent"},
		{"consent", "revoke", addr},
		{"consent", "grant", "--data-dir", dir},
		{"consent", "grant", "--data-dir", dir, "not-an-address"},
		{"dsar", "export", "--data-dir", dir, addr, "extra"},
	}
	for _, c := range cases {
		if _, err := runAudited(t, c[0], c[1:]...); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", c, err)
		}
	}
	if _, err := runAudited(t, "dsar", "-h"); !errors.Is(err, errHelpShown) {
		t.Errorf("dsar -h: %v", err)
	}
}
