package espapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestSendGridSmoke(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	var auths []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		auths = append(auths, r.Header.Get("Authorization")+"|"+r.URL.Path)
		mu.Unlock()
		w.Header().Set("X-Message-Id", "abc123")
		w.WriteHeader(http.StatusAccepted)
	}))
	defer up.Close()
	h := newHarness(t, up.URL)
	h.grant("granted@example.org")
	html := `<html><body><p>Hello -name-</p><img src="https://open.example.net/track/open?u=-uid-" width="1" height="1"><a href="https://shop.example.com/sale">Sale</a></body></html>`
	req := map[string]any{
		"personalizations": []any{
			map[string]any{"to": []any{map[string]any{"email": "granted@example.org"}}, "substitutions": map[string]string{"-name-": "Ann", "-uid-": "u1"}},
			map[string]any{"to": []any{map[string]any{"email": "b@example.org"}}, "cc": []any{map[string]any{"email": "c@example.org"}}, "substitutions": map[string]string{"-name-": "Bob", "-uid-": "u2"}},
		},
		"from":              map[string]any{"email": "news@shop.example.com"},
		"subject":           "Sale",
		"content":           []any{map[string]any{"type": "text/plain", "value": "Hello -name-"}, map[string]any{"type": "text/html", "value": html}},
		"tracking_settings": map[string]any{"open_tracking": map[string]any{"enable": true}},
		"unknown_field":     map[string]any{"kept": true},
	}
	b, _ := json.Marshal(req)
	r, _ := http.NewRequest("POST", h.url+"/sendgrid/v3/mail/send", bytes.NewReader(b))
	r.Header.Set("Authorization", "Bearer SG.key")
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 202 || resp.Header.Get("X-Message-Id") != "abc123" {
		t.Fatalf("status %d %s", resp.StatusCode, rb)
	}
	if auths[0] != "Bearer SG.key|/v3/mail/send" {
		t.Fatalf("auth %q", auths[0])
	}
	for _, b := range bodies {
		if strings.Contains(string(b), "open.example.net") {
			t.Fatal("tracker left")
		}
	}
}
