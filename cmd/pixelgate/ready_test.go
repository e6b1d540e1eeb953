package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func getWithHeaders(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestServeNotReadyWithoutRoomForAMessage: a real serve whose disk cannot
// hold one message of --max-message-bytes (here larger than any disk) is
// not ready, although the outbox takes an empty file. The public answer is
// just "not ready"; the log names the check and the directory.
func TestServeNotReadyWithoutRoomForAMessage(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, "--data-dir", dir, "--max-message-bytes", "1125899906842624") // 1 PiB
	code, body, _ := getWithHeaders(t, "http://"+s.httpAddr+"/readyz")
	if code != http.StatusServiceUnavailable || body != "not ready\n" {
		t.Errorf("/readyz with no room for a message: %d %q, want 503 \"not ready\"", code, body)
	}
	logs := s.stderr.String()
	for _, want := range []string{"not ready", "outbox disk", "data disk", dir} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// TestServeReadyAndHSTS: with room on disk serve is ready; an https public
// URL puts HSTS on the consent pages, the dashboard and the rest of the
// public listener, an http one on none of them.
func TestServeReadyAndHSTS(t *testing.T) {
	for _, public := range []string{"https://t.example.com", "http://t.example.com"} {
		s := startServe(t, "--data-dir", t.TempDir(), "--public-url", public)
		base := "http://" + s.httpAddr
		if code, body, _ := getWithHeaders(t, base+"/readyz"); code != http.StatusOK || body != "ready\n" {
			t.Errorf("%s: /readyz %d %q", public, code, body)
		}
		for _, path := range []string{"/c/not-a-token", "/admin/login", "/o/not-a-token.gif", "/readyz"} {
			_, _, h := getWithHeaders(t, base+path)
			got := h.Get("Strict-Transport-Security")
			if strings.HasPrefix(public, "https:") && got != "max-age=31536000" {
				t.Errorf("%s %s: HSTS %q, want max-age=31536000", public, path, got)
			}
			if strings.HasPrefix(public, "http:") && got != "" {
				t.Errorf("%s %s: HSTS %q on an http deployment", public, path, got)
			}
		}
	}
}
