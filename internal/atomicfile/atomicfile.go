// Package atomicfile writes whole files or nothing: a crash between the
// first byte and the last leaves only a temporary file that RemoveLeftovers
// clears on the next start. The outbox (a message accepted with 250 is a
// whole file) and the self-signed certificate use it.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// TempPattern names Write's temporary files in the target directory.
const TempPattern = ".tmp-*"

// RemoveLeftovers deletes the temporary files that a Write interrupted by
// a crash left in dir: none of them was renamed into place, so none holds
// anything a caller was told is written.
func RemoveLeftovers(dir string) error {
	left, err := filepath.Glob(filepath.Join(dir, TempPattern))
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range left {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Write writes data to a temporary file in the same directory,
// fsyncs it, renames it into place and fsyncs the directory, so a crash
// leaves either the whole file or nothing.
func Write(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, TempPattern)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
