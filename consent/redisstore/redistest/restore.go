package redistest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// StartFromRDB is Start for a server whose data is loaded from a copy of
// the RDB snapshot at rdb (redis-server reads dump.rdb from its directory
// at start): for tests that restore a backup into a fresh server.
func StartFromRDB(t testing.TB, rdb string) *Server {
	t.Helper()
	if _, err := exec.LookPath(Binary); err != nil {
		t.Skip(ErrNoRedisServer.Error())
	}
	dir := t.TempDir()
	data, err := os.ReadFile(rdb)
	if err != nil {
		t.Fatalf("restore redis snapshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dump.rdb"), data, 0o600); err != nil {
		t.Fatalf("restore redis snapshot: %v", err)
	}
	s, err := start(dir, false, mode{})
	if err != nil {
		t.Fatalf("start redis-server from %s: %v", rdb, err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop redis-server: %v", err)
		}
	})
	return s
}
