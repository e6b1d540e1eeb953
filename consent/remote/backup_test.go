package remote

import (
	"path/filepath"
	"testing"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/consent/storetest"
)

// TestBackupThroughSocket: the server holds the file lock, so the CLI asks
// it for the copy; the copy opens as a store holding what was granted.
func TestBackupThroughSocket(t *testing.T) {
	ctx := t.Context()
	opts := storetest.Options(storetest.NewClock(storetest.Start()))
	c, err := Dial(serveBolt(t, opts))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k := consent.Key{7}
	if _, err := c.Grant(ctx, k, consent.Evidence{Source: consent.SourceCLI, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "copy.db")
	n, err := c.WriteBackup(ctx, out)
	if err != nil || n == 0 {
		t.Fatalf("backup through the socket: %d bytes, %v", n, err)
	}
	if _, err := c.WriteBackup(ctx, out); err == nil {
		t.Error("backup overwrote an existing file")
	}
	st, err := boltstore.Open(out, boltstore.Options{StoreOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.Lookup(ctx, []consent.Key{k})
	if err != nil || got[0].State != consent.Granted {
		t.Errorf("restored copy: %v %v, want granted", got, err)
	}
}
