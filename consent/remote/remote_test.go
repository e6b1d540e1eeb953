package remote

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/consent/storetest"
)

// shortDir: a Unix socket path must stay under ~104 bytes, which t.TempDir
// can exceed.
func shortDir(t testing.TB) string {
	d, err := os.MkdirTemp("", "pg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// serveBolt runs a bbolt store behind an admin socket, as `pixelgate serve`
// does, and returns the socket path.
func serveBolt(t testing.TB, o consent.StoreOptions) string {
	t.Helper()
	dir := shortDir(t)
	st, err := boltstore.Open(filepath.Join(dir, "pixelgate.db"), boltstore.Options{StoreOptions: o})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, SocketName)
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, st, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		_ = st.Close()
	})
	return sock
}

func openRemote(t testing.TB, o consent.StoreOptions) consent.Store {
	t.Helper()
	c, err := Dial(serveBolt(t, o))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestContractThroughSocket(t *testing.T) { storetest.Run(t, openRemote) }

func TestSocketPrivateAndSingle(t *testing.T) {
	clock := storetest.NewClock(storetest.Start())
	sock := serveBolt(t, storetest.Options(clock))
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("admin socket mode %v, want a 0600 socket", fi.Mode())
	}
	if _, err := Listen(sock); err == nil {
		t.Error("a second server took over a live admin socket")
	}
	// No stray temporary directories are left beside it.
	entries, _ := os.ReadDir(filepath.Dir(sock))
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("leftover %s", e.Name())
		}
	}
}

func TestStaleSocketReplacedAndRemovedOnStop(t *testing.T) {
	dir := shortDir(t)
	sock := filepath.Join(dir, SocketName)
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(sock)
	if err != nil {
		t.Fatalf("stale socket file not replaced: %v", err)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after stop: %v", err)
	}
	if _, err := Dial(sock); !errors.Is(err, ErrNoServer) {
		t.Errorf("dial without server: %v, want ErrNoServer", err)
	}
}

func TestServerGoneFailsClosed(t *testing.T) {
	clock := storetest.NewClock(storetest.Start())
	o := storetest.Options(clock)
	dir := shortDir(t)
	st, err := boltstore.Open(filepath.Join(dir, "db"), boltstore.Options{StoreOptions: o})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ln, err := Listen(filepath.Join(dir, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, st, slog.New(slog.DiscardHandler)) }()
	c, err := Dial(filepath.Join(dir, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if _, err := c.Lookup(t.Context(), []consent.Key{{1}}); !errors.Is(err, consent.ErrUnavailable) {
		t.Errorf("lookup after the server stopped: %v, want ErrUnavailable", err)
	}
}

// BenchmarkStoreThroughSocket is the embedded store reached as a CLI or a
// second local process would: through the admin socket.
func BenchmarkStoreThroughSocket(b *testing.B) { storetest.Bench(b, openRemote) }
