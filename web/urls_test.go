package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/internal/urlpath"
	"github.com/pixelgate/pixelgate/mailrewrite"
	"github.com/pixelgate/pixelgate/proxy"
	"github.com/pixelgate/pixelgate/proxy/pixel"
	"github.com/pixelgate/pixelgate/web"
	"github.com/pixelgate/pixelgate/web/consentpage"
)

// TestRouterServesWhatTheFactoryBuilds: every URL the relay writes into a
// message (package proxy's URL factory) reaches its handler through the
// production router, with the handlers serve mounts. A route renamed on
// one side only would answer the recipient 404: a consent page that cannot
// be reached (R3), a click that leads nowhere (R12).
func TestRouterServesWhatTheFactoryBuilds(t *testing.T) {
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "pixelgate.db"),
		boltstore.Options{StoreOptions: consent.StoreOptions{Audit: kr.AuditChain()}})
	if err != nil {
		t.Fatalf("open bolt store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	logger := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	ph, err := pixel.NewPixelHandler(pixel.PixelConfig{Store: st, Keyring: kr, Logger: logger, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	lh, err := pixel.NewLinkHandler(pixel.LinkConfig{Store: st, Keyring: kr, Logger: logger, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := consentpage.New(consentpage.Config{Logger: logger, Registerer: reg}, st, kr)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.NewRouter(web.Handlers{Pixel: ph, Link: lh, Consent: cp}))
	t.Cleanup(func() {
		srv.Close()
		// Drain the record queues, as serve does at exit.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ph.Close(ctx); err != nil {
			t.Error(err)
		}
		if err := lh.Close(ctx); err != nil {
			t.Error(err)
		}
	})

	const addr, dest = "reader@example.org", "https://shop.example/sale"
	k, err := kr.RecipientKey(addr)
	if err != nil {
		t.Fatal(err)
	}
	// A trailing slash, as operators type it, must not double the slash.
	u := proxy.URLFactoryFor(kr, srv.URL+"/")(k, addr, "spring")
	must := func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	consentURL := must(u.ConsentURL())
	for _, c := range []struct {
		name, url string
		status    int
		check     func(*http.Response) string
	}{
		{"open pixel", must(u.PixelURL(mailrewrite.PurposeOpen, "https://esp.example/o.gif")), http.StatusOK, isGIF},
		{"deliverability pixel", must(u.PixelURL(mailrewrite.PurposeDeliverability, "")), http.StatusOK, isGIF},
		{"click", must(u.LinkURL(dest)), http.StatusFound, func(r *http.Response) string {
			if loc := r.Header.Get("Location"); loc != dest {
				return "Location " + loc + ", want " + dest
			}
			return ""
		}},
		{"consent page", consentURL, http.StatusOK, isPage},
		{"withdrawal page", consentURL + urlpath.WithdrawSuffix, http.StatusOK, isPage},
	} {
		if !strings.HasPrefix(c.url, srv.URL+"/") || strings.Contains(strings.TrimPrefix(c.url, srv.URL), "//") {
			t.Errorf("%s: built %s, not a clean path under %s", c.name, c.url, srv.URL)
			continue
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, c.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatalf("%s: GET %s: %v", c.name, c.url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: GET %s answered %d, want %d", c.name, strings.TrimPrefix(c.url, srv.URL), resp.StatusCode, c.status)
		} else if msg := c.check(resp); msg != "" {
			t.Errorf("%s: %s", c.name, msg)
		}
	}
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func isGIF(r *http.Response) string {
	if ct := r.Header.Get("Content-Type"); ct != "image/gif" {
		return "Content-Type " + ct + ", want image/gif"
	}
	return ""
}

func isPage(r *http.Response) string {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		return "Content-Type " + ct + ", want text/html"
	}
	return ""
}
