package consent

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testKeyring(t *testing.T, dir string, now func() time.Time) *Keyring {
	t.Helper()
	kr, err := OpenKeyring(KeyringOptions{Dir: dir, Rand: rand.NewChaCha8([32]byte{1}), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestKeyringGeneratesPrivateFilesOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	kr := testKeyring(t, dir, nil)
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("keys dir mode %v, want 0700", st.Mode().Perm())
	}
	for _, name := range []string{"recipient.key", "audit.key", "token-001.key"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s not generated: %v", name, err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, st.Mode().Perm())
		}
	}
	// A second start (different randomness) must load, not regenerate.
	again, err := OpenKeyring(KeyringOptions{Dir: dir, Rand: rand.NewChaCha8([32]byte{2})})
	if err != nil {
		t.Fatal(err)
	}
	if kr.Fingerprint() != again.Fingerprint() {
		t.Error("secrets changed across restarts")
	}
	k1, _ := kr.RecipientKey("a@example.com")
	k2, _ := again.RecipientKey("a@example.com")
	if k1 != k2 {
		t.Error("recipient key changed across restarts")
	}
	other := testKeyring(t, filepath.Join(t.TempDir(), "keys"), nil)
	if other.Fingerprint() == kr.Fingerprint() {
		// Same seed, so same secrets: expected; different seed differs.
		o2, err := OpenKeyring(KeyringOptions{Dir: filepath.Join(t.TempDir(), "k"), Rand: rand.NewChaCha8([32]byte{3})})
		if err != nil {
			t.Fatal(err)
		}
		if o2.Fingerprint() == kr.Fingerprint() {
			t.Error("different secrets give the same fingerprint")
		}
	}
}

func TestKeyringRefusesReadableSecretAndMissingWithNoCreate(t *testing.T) {
	dir := t.TempDir()
	testKeyring(t, dir, nil)
	if err := os.Chmod(filepath.Join(dir, "audit.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := OpenKeyring(KeyringOptions{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable secret accepted: %v", err)
	}
	_, err = OpenKeyring(KeyringOptions{Dir: filepath.Join(t.TempDir(), "none"), NoCreate: true})
	if err == nil {
		t.Error("NoCreate generated secrets")
	}
}

func TestKeyringConfiguredFiles(t *testing.T) {
	shared := testKeyring(t, t.TempDir(), nil)
	src := shared.dir
	// Another replica names the same recipient and audit secrets in config.
	kr, err := OpenKeyring(KeyringOptions{
		Dir:                 t.TempDir(),
		RecipientSecretFile: filepath.Join(src, "recipient.key"),
		AuditKeyFile:        filepath.Join(src, "audit.key"),
		Rand:                rand.NewChaCha8([32]byte{9}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if kr.Fingerprint() != shared.Fingerprint() {
		t.Error("configured secret files not used")
	}
	if _, err := OpenKeyring(KeyringOptions{Dir: t.TempDir(), AuditKeyFile: filepath.Join(src, "missing")}); err == nil {
		t.Error("missing configured file accepted")
	}
}

func TestRecipientKeyNormalisation(t *testing.T) {
	kr := testKeyring(t, t.TempDir(), nil)
	same := [][2]string{
		{"anna@example.com", "  anna@EXAMPLE.com \n"},
		{"anna@example.com", "<anna@Example.COM>"},
		{"jo@xn--bcher-kva.example", "jo@Bücher.example"},
	}
	for _, p := range same {
		a, err := kr.RecipientKey(p[0])
		if err != nil {
			t.Fatal(err)
		}
		b, err := kr.RecipientKey(p[1])
		if err != nil {
			t.Fatal(err)
		}
		if a != b {
			t.Errorf("%q and %q should be one recipient", p[0], p[1])
		}
	}
	a, _ := kr.RecipientKey("Anna@example.com")
	b, _ := kr.RecipientKey("anna@example.com")
	if a == b {
		t.Error("local part was case-folded; only the domain may be (RFC 5321 §2.4)")
	}
	for _, bad := range []string{"", "anna", "@example.com", "anna@", "an na@example.com", "a@exa mple.com"} {
		if _, err := kr.RecipientKey(bad); !errors.Is(err, ErrBadAddress) {
			t.Errorf("RecipientKey(%q) = %v, want ErrBadAddress", bad, err)
		}
	}
	if strings.Contains(a.String(), "anna") || len(a.String()) != 32 {
		t.Errorf("key %s is not an opaque 128-bit hex value", a)
	}
}

// FuzzNormalizeAddress: addresses come from SMTP envelopes and the CLI; the
// normal form must never panic and must be stable (normalising twice changes
// nothing), or one person could get two recipient keys.
func FuzzNormalizeAddress(f *testing.F) {
	for _, s := range []string{"anna@example.com", " <Jo@Bücher.Example> ", "a@b@c.example", "x@xn--bcher-kva.example", "@", "a@.", "\"q uoted\"@example.com", "a@exämple.com."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeAddress(s)
		if err != nil {
			if !errors.Is(err, ErrBadAddress) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		again, err := NormalizeAddress(n)
		if err != nil || again != n {
			t.Fatalf("normalising %q twice: %q then %q (%v)", s, n, again, err)
		}
	})
}
