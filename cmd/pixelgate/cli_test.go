package main

import (
	"bytes"
	"log/slog"
	"testing"
)

// seedStore creates the embedded store in dir as the first `pixelgate
// serve` of a new deployment does: commands that read or change records
// refuse a data directory without one.
func seedStore(t *testing.T, dir string, flags ...string) {
	t.Helper()
	fs := newFlagSet(&environ{stderr: &bytes.Buffer{}, getenv: func(string) string { return "" }}, "serve", "")
	sf := addStoreFlags(fs)
	if err := fs.parse(append([]string{"--data-dir", dir}, flags...)); err != nil {
		t.Fatal(err)
	}
	h, err := openServeStore(t.Context(), nil, sf, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
}
