package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// A command that reads or changes records must work on the deployment's
// store, never on a new one made by mistake: run from the wrong folder, an
// embedded store would be created empty, with fresh keys, and answer "none"
// for someone who had withdrawn (R3, R11). So `serve` records in its data
// directory which store the deployment uses, and the other commands refuse
// a data directory that holds no store or belongs to a Redis deployment.

// storeMarkerName is the file serve writes in the data directory. It names
// the kind of store only, never a URL: a Redis URL may hold a password.
const storeMarkerName = "store.conf"

const (
	storeEmbedded = "embedded"
	storeRedis    = "redis"
)

// markerPath is DATA_DIR/store.conf.
func (sf storeFlags) markerPath() string { return filepath.Join(*sf.dataDir, storeMarkerName) }

// storeKind is the store serve was configured with.
func (sf storeFlags) storeKind() string {
	if *sf.redisURL != "" {
		return storeRedis
	}
	return storeEmbedded
}

// writeStoreMarker records the store serve uses, replacing the file only
// when it changes (a read-only data directory then keeps working).
func writeStoreMarker(sf storeFlags) error {
	content := "# Written by `pixelgate serve` at start: the store this deployment uses, so that other\n" +
		"# pixelgate commands run with this data directory refuse to work on another one.\n" +
		"store = " + sf.storeKind() + "\n"
	if old, err := os.ReadFile(sf.markerPath()); err == nil && string(old) == content {
		return nil
	}
	if err := os.MkdirAll(*sf.dataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	tmp := sf.markerPath() + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", sf.markerPath(), err)
	}
	if err := os.Rename(tmp, sf.markerPath()); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", sf.markerPath(), err)
	}
	return nil
}

// readStoreMarker returns the store recorded by serve, "" when none is.
func readStoreMarker(sf storeFlags) (string, error) {
	m, err := readConfigFile(sf.markerPath())
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return m["store"], nil
}

// checkRecordStore refuses, before anything is created, a store that
// cannot be the deployment's: the embedded store of a data directory whose
// serve uses Redis, or a data directory without a store. With --redis-url
// the store is the one named, and the fingerprint check (checkSecrets)
// refuses other secrets.
func checkRecordStore(sf storeFlags) error {
	if *sf.redisURL != "" {
		return nil
	}
	kind, err := readStoreMarker(sf)
	if err != nil {
		return err
	}
	if kind == storeRedis {
		return fmt.Errorf("%w: %s belongs to a deployment whose store is Redis (%s, written by `pixelgate serve`); "+
			"pass the --redis-url serve uses (or set PIXELGATE_REDIS_URL, or --config with serve's file): "+
			"refusing to use an embedded store in its place", errUsage, *sf.dataDir, sf.markerPath())
	}
	if _, err := os.Stat(sf.boltPath()); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: no pixelgate store in %s (no %s); run this where `pixelgate serve` runs, or pass "+
			"--data-dir DIR of that deployment, or --redis-url URL when it uses Redis; a new deployment's store is "+
			"made by its first `pixelgate serve`", errUsage, *sf.dataDir, filepath.Base(sf.boltPath()))
	} else if err != nil {
		return fmt.Errorf("look for the store: %w", err)
	}
	return nil
}
