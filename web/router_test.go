package web

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/web/static"
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

// Browsers ask every site for /favicon.ico: pixelgate answers with its
// embedded icon, cacheable, and the versioned URL pages link to serves the
// same file.
func TestFavicon(t *testing.T) {
	h := NewRouter(Handlers{Static: static.Handler()})
	for _, path := range []string{"/favicon.ico", static.URL("favicon.svg")} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "image/svg+xml") {
			t.Fatalf("%s: %d %q, want an SVG image", path, rec.Code, rec.Header().Get("Content-Type"))
		}
		if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "public") || !strings.Contains(cc, "max-age=") {
			t.Errorf("%s: Cache-Control %q, want cacheable", path, cc)
		}
		if err := xml.Unmarshal(rec.Body.Bytes(), new(struct {
			XMLName xml.Name `xml:"http://www.w3.org/2000/svg svg"`
		})); err != nil {
			t.Errorf("%s: not an SVG document: %v", path, err)
		}
	}
}
