package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// A load balancer takes a replica out of rotation when /readyz fails, and
// the reason is there for the operator.
func TestReadyzReportsWhyNotReady(t *testing.T) {
	var down error
	h := NewRouter(Handlers{Ready: func(context.Context) error { return down }})
	if code, body := get(t, h, "/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("ready: %d %q", code, body)
	}
	down = errors.New("store: connection refused")
	if code, body := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, "store: connection refused") {
		t.Fatalf("not ready: %d %q", code, body)
	}
	if code, _ := get(t, h, "/healthz"); code != 200 {
		t.Fatalf("healthz while not ready: %d (the process is up)", code)
	}
}

// Each part answers on its own prefix; parts left out are 404.
func TestRouterMountsParts(t *testing.T) {
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, name) })
	}
	h := NewRouter(Handlers{Pixel: named("pixel"), Consent: named("consent"), Admin: named("admin")})
	for path, want := range map[string]string{"/o/abc.gif": "pixel", "/c/tok": "consent", "/admin": "admin", "/admin/campaigns": "admin"} {
		if code, body := get(t, h, path); code != 200 || body != want {
			t.Errorf("%s: %d %q, want %q", path, code, body, want)
		}
	}
	for _, path := range []string{"/l/tok", "/api/v1/stats", "/metrics"} {
		if code, _ := get(t, h, path); code != 404 {
			t.Errorf("%s: %d, want 404 for a part left out", path, code)
		}
	}
}
