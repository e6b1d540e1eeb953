package static

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandlerServesEmbeddedCSS(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()

	u := URL("base.css")
	if !strings.HasPrefix(u, "/static/base.css?v=") {
		t.Fatalf("URL(base.css) = %q, want a versioned /static/ path", u)
	}
	resp, err := http.Get(srv.URL + u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: status %d", u, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("Content-Type %q, want text/css", ct)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("missing X-Content-Type-Options: nosniff")
	}
	if !strings.Contains(string(body), ".buttons button") {
		t.Error("served CSS is not the embedded stylesheet")
	}
}

func TestHandlerRefusesOtherPaths(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, p := range []string{"/static/", "/static/nope.css", "/static/../static.go", "/static/files/base.css", "/static/%2e%2e/static.go"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("GET %s: status 200, want an error", p)
		}
	}
	if got := URL("missing.css"); got != "/static/missing.css" {
		t.Errorf("URL(missing) = %q", got)
	}
}
