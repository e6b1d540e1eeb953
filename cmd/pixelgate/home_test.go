package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// pixelgate serve answers "/" with the page saying what the server is,
// built from the configured consent texts, and /favicon.ico with its icon.
func TestServeHomeAndFavicon(t *testing.T) {
	addr := freeAddr(t)
	startServe(t, "--data-dir", t.TempDir(), "--http-addr", addr, "--public-url", "http://"+addr)
	for path, want := range map[string]string{"/": "open-tracking consent proxy of Example Company", "/favicon.ico": "<svg"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, want %q in:\n%s", path, resp.StatusCode, want, b)
		}
	}
}
