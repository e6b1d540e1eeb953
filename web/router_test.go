package web

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
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

// A load balancer takes a replica out of rotation when /readyz fails; the
// public answer says only that, never which internal host failed.
func TestReadyzSaysOnlyWhether(t *testing.T) {
	var down error
	h := NewRouter(Handlers{Ready: func(context.Context) error { return down }})
	if code, body := get(t, h, "/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("ready: %d %q", code, body)
	}
	down = errors.Join(errors.New("store: dial tcp 10.1.2.3:6379: connection refused"),
		errors.New("delivery: upstream smtp://relay.internal.example:587: EOF"),
		errors.New("data disk: /var/lib/pixelgate has 0.0 MiB free"))
	code, body := get(t, h, "/readyz")
	if code != 503 || body != "not ready\n" {
		t.Fatalf("not ready: %d %q, want 503 \"not ready\" and nothing more", code, body)
	}
	if code, _ := get(t, h, "/healthz"); code != 200 {
		t.Fatalf("healthz while not ready: %d (the process is up)", code)
	}
}

// With an https public URL every response on the public listener carries
// HSTS for a year, for this host only; with an http one, none does.
func TestHSTSFollowsPublicURL(t *testing.T) {
	named := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "page") })
	paths := []string{"/c/tok", "/c/tok/withdraw", "/admin/login", "/o/abc.gif", "/l/tok", "/static/x.css", "/api/v1/campaigns", "/readyz", "/nowhere"}
	for _, https := range []bool{true, false} {
		h := NewRouter(Handlers{HSTS: https, Consent: named, Admin: named, Pixel: named, Link: named, Static: named, API: named})
		for _, path := range paths {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			got := rec.Header().Get("Strict-Transport-Security")
			if !https {
				if got != "" {
					t.Errorf("http public URL, %s: HSTS %q", path, got)
				}
				continue
			}
			age, ok := strings.CutPrefix(got, "max-age=")
			if n, err := strconv.Atoi(age); !ok || err != nil || n < 365*24*3600 {
				t.Errorf("https public URL, %s: HSTS %q, want max-age of a year or more and nothing else", path, got)
			}
		}
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
