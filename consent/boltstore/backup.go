package boltstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// WriteBackup writes a consistent copy of the store file to path while the
// store stays in use: one read transaction sees a frozen snapshot (bbolt's
// MVCC), so relay and pixel writes go on meanwhile. The copy is written to
// a temporary file beside path, synced, then renamed, so path is either
// absent or a complete store file; an existing path is never overwritten
// (a backup must not silently replace an older one). Mode 0600: the file
// holds consent evidence.
func (s *Store) WriteBackup(ctx context.Context, path string) (int64, error) {
	if _, err := os.Lstat(path); err == nil {
		return 0, fmt.Errorf("backup: %s already exists", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-")
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	defer tmp.Close()
	if err := tmp.Chmod(0o600); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	var n int64
	err = s.view(ctx, "backup", func(tx *bolt.Tx) error {
		var werr error
		n, werr = tx.WriteTo(tmp)
		return werr
	})
	if err != nil {
		return 0, err
	}
	if err := tmp.Sync(); err != nil {
		return 0, fmt.Errorf("backup: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	// Link, unlike rename, fails when path appeared meanwhile.
	if err := os.Link(tmp.Name(), path); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}
