package main

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/proxy"
)

// TestServeESPFlagListsTheProfiles: `serve --help` offers exactly the ESP
// profiles the relay knows, so an operator never picks one that is not
// there or misses one that is.
func TestServeESPFlagListsTheProfiles(t *testing.T) {
	fs := newFlagSet(&environ{stderr: io.Discard, getenv: func(string) string { return "" }}, "serve", "")
	addServeFlags(fs)
	f := fs.Lookup("esp")
	if f == nil {
		t.Fatal("serve has no --esp flag")
	}
	_, list, ok := strings.Cut(f.Usage, ": ")
	if !ok {
		t.Fatalf("--esp help %q lists no profiles", f.Usage)
	}
	if got := strings.Split(list, ", "); !slices.Equal(got, proxy.ESPs()) {
		t.Errorf("--esp help lists %q, the profiles are %q", got, proxy.ESPs())
	}
	if !slices.Contains(proxy.ESPs(), f.DefValue) {
		t.Errorf("--esp default %q is not a profile", f.DefValue)
	}
}
