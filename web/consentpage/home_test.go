package consentpage

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pixelgate/pixelgate/web"
	"github.com/pixelgate/pixelgate/web/dashtest"
	"github.com/pixelgate/pixelgate/web/static"
)

// homeServer serves the production router with the home page built from
// the default texts, with privacyURL as the controller's privacy notice.
func homeServer(t *testing.T, privacyURL string) *httptest.Server {
	t.Helper()
	f := defaultFile(t)
	f.Controller.PrivacyURL = privacyURL
	texts, err := ParseTexts(bytes.NewReader(f.marshal(t)), nil)
	if err != nil {
		t.Fatal(err)
	}
	home, err := Home(Config{Texts: texts})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.NewRouter(web.Handlers{Home: home, Static: static.Handler()}))
	t.Cleanup(srv.Close)
	return srv
}

// TestBrowserHome: "/" says what the server is and whose, and points to
// the dashboard login and the privacy notice, in a real browser, under
// the consent pages' CSP, in both languages.
func TestBrowserHome(t *testing.T) {
	srv := homeServer(t, "https://example.com/privacy")
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Set-Cookie") != "" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("GET /: %d, cookie %q, CSP %q", resp.StatusCode, resp.Header.Get("Set-Cookie"), resp.Header.Get("Content-Security-Policy"))
	}
	if resp, err := http.Post(srv.URL+"/", "text/plain", nil); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /: %v %v, want 405", resp.StatusCode, err)
	}

	ctx, _ := dashtest.Browser(t, 60*time.Second)
	p := dashtest.Page{T: t, Ctx: ctx}
	p.Do("open /", chromedp.Navigate(srv.URL+"/?lang=en"), chromedp.WaitVisible(chromedp.CSS("main h1")))
	main := p.Text("main")
	for _, want := range []string{"pixelgate", "open-tracking consent proxy of Example Company", "Manage open tracking"} {
		if !strings.Contains(main, want) {
			t.Errorf("home page lacks %q:\n%s", want, main)
		}
	}
	if got := attr(p, `main a[href="/admin/login"]`, "href"); got != "/admin/login" {
		t.Errorf("dashboard link %q", got)
	}
	if got := attr(p, `main a[href^="https://example.com/privacy"]`, "href"); got != "https://example.com/privacy" {
		t.Errorf("privacy link %q", got)
	}
	if !p.Check(`getComputedStyle(document.body).fontFamily !== '' && document.styleSheets.length === 1 && !document.querySelector('form, script, img')`) {
		t.Error("the home page misses its stylesheet or holds a form, script or image")
	}
	p.Do("French", chromedp.Click(chromedp.CSS(`nav.lang a[hreflang="fr"]`), chromedp.NodeVisible), chromedp.WaitVisible(chromedp.CSS(`html[lang="fr"]`)))
	if fr := p.Text("main"); !strings.Contains(fr, "se connecter au tableau de bord") || !strings.Contains(fr, "Example Company") {
		t.Errorf("French home page:\n%s", fr)
	}
	p.Screenshot("home.png")

	// No privacy notice configured: no dead link.
	bare := homeServer(t, "")
	p.Do("open / without a privacy notice", chromedp.Navigate(bare.URL+"/"), chromedp.WaitVisible(chromedp.CSS("main h1")))
	if p.Check(`document.querySelectorAll('main a[href^="http"]').length > 0`) {
		t.Error("a privacy link is shown though none is configured")
	}
}
