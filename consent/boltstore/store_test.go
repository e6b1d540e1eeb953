package boltstore

import (
	"path/filepath"
	"testing"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/storetest"
)

func openTemp(t testing.TB, o consent.StoreOptions) consent.Store {
	t.Helper()
	st, err := Open(filepath.Join(t.TempDir(), "pixelgate.db"), Options{StoreOptions: o})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestContract(t *testing.T) { storetest.Run(t, openTemp) }
