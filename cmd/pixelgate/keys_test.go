package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
)

// TestKeysRotation follows the operator guide's procedure: a link sealed
// before a rotation still opens after it, new links use the new key, the
// newest key cannot be retired, and a retired key's links are refused as
// retired. Each change is audited.
func TestKeysRotation(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	seedStore(t, dir)
	if code, out := cli("keys", "list", "--data-dir", dir); code != 0 || !strings.Contains(out, "token key 1: seals new tokens") {
		t.Fatalf("keys list on a new deployment: exit %d:\n%s", code, out)
	}
	load := func() *consent.Keyring {
		kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: keys, NoCreate: true})
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	sent, err := load().Seal(consent.Token{Purpose: consent.PurposeOpen, Key: consent.Key{1}, Campaign: "spring"})
	if err != nil {
		t.Fatal(err)
	}

	if code, out := cli("keys", "rotate", "--data-dir", dir); code != 0 || !strings.Contains(out, "token key 2 added") {
		t.Fatalf("rotate: exit %d:\n%s", code, out)
	}
	kr := load()
	if tok, err := kr.Open(sent, consent.PurposeOpen); err != nil || tok.KeyID != 1 || tok.Campaign != "spring" {
		t.Fatalf("link sent before the rotation: %+v %v; want it to open with key 1", tok, err)
	}
	fresh, _ := kr.Seal(consent.Token{Purpose: consent.PurposeOpen, Key: consent.Key{1}, Campaign: "summer"})
	if tok, err := kr.Open(fresh, consent.PurposeOpen); err != nil || tok.KeyID != 2 {
		t.Fatalf("new link: %+v %v; want it sealed with key 2", tok, err)
	}
	if code, out := cli("keys", "list", "--data-dir", dir); !strings.Contains(out, "token key 1: opens older tokens") || !strings.Contains(out, "token key 2: seals new tokens") {
		t.Errorf("keys list after rotation: exit %d:\n%s", code, out)
	}

	if code, out := cli("keys", "retire", "--data-dir", dir, "2"); code != 1 || !strings.Contains(out, "newest") {
		t.Errorf("retiring the newest key: exit %d, want a refusal:\n%s", code, out)
	}
	if code, out := cli("keys", "retire", "--data-dir", dir, "one"); code != 2 {
		t.Errorf("retire with a bad id: exit %d:\n%s", code, out)
	}
	if code, out := cli("keys", "retire", "--data-dir", dir, "1"); code != 0 {
		t.Fatalf("retire 1: exit %d:\n%s", code, out)
	}
	if _, err := load().Open(sent, consent.PurposeOpen); !errors.Is(err, consent.ErrTokenRetired) {
		t.Errorf("link sealed with the retired key: %v, want ErrTokenRetired", err)
	}

	st, err := boltstore.Open(filepath.Join(dir, "pixelgate.db"), boltstore.Options{StoreOptions: consent.StoreOptions{Audit: load().AuditChain()}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	entries, err := st.ReadAudit(t.Context(), consent.AuditQuery{Action: "keys."})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Action+" "+e.Target+" "+strings.SplitN(e.Result, ":", 2)[0])
	}
	want := []string{"keys.rotate token-key:2 ok", "keys.retire token-key:2 error", "keys.retire token-key:1 ok"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
