package consentpage

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pixelgate/pixelgate/consent"
)

const chromiumPath = "/usr/bin/chromium"

// browser starts a headless Chromium with a fresh profile, or skips.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		t.Skipf("%s not found: install chromium (apt-get install chromium) to run the browser tests", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// page drives one browser tab and fails the test on any error.
type page struct {
	t   *testing.T
	ctx context.Context
}

func (p page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

func (p page) attr(sel, name string) string {
	p.t.Helper()
	r, err := chromedp.Run(p.ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		p.t.Fatalf("read %s of %s: %v", name, sel, err)
	}
	return r.Value
}

func (p page) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("read text of %s: %v", sel, err)
	}
	return s
}

func (p page) check(expr string) bool {
	p.t.Helper()
	ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return ok
}

// TestBrowserConsentFlow clicks through the page as a person would, in a
// real browser: see the state, Allow, reload, see it granted, Withdraw; a
// plain visit never changes anything; French by the language switch.
func TestBrowserConsentFlow(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			p := page{t, browser(t)}
			e := newEnv(t, sk.open)
			tok, k := e.pageToken(t, "jean.dupont@example.fr")
			url := e.srv.URL + "/c/" + tok
			const stateSel = `#current-state strong[data-state]`

			p.do("open the page", chromedp.Navigate(url+"?lang=en"), chromedp.WaitVisible(chromedp.CSS(`#current-state`)))
			if st, lang, txt := p.attr(stateSel, "data-state"), p.attr("html", "lang"), p.text("#current-state"); st != "none" || lang != "en" || !strings.Contains(txt, "j***@e***.fr") {
				t.Fatalf("first visit: state %q lang %q text %q", st, lang, txt)
			}
			// Equally prominent buttons: same rendered size, and the
			// embedded stylesheet applied under the CSP.
			if !p.check(`(() => { const b = [...document.querySelectorAll('.buttons button')].map(x => x.getBoundingClientRect());
				return b.length === 2 && b[0].width === b[1].width && b[0].height === b[1].height })()`) {
				t.Error("the two buttons differ in size")
			}
			if !p.check(`getComputedStyle(document.querySelector('.buttons button')).backgroundColor === 'rgb(31, 63, 153)'`) {
				t.Error("the stylesheet was not applied")
			}
			if st := e.state(t, k); st != consent.None {
				t.Fatalf("visiting the page changed the state to %v", st)
			}
			screenshot(t, p.ctx, "en")

			p.do("click Allow", chromedp.Click(chromedp.CSS(`button[value="allow"]`), chromedp.NodeVisible), chromedp.WaitVisible(chromedp.CSS(`.confirm`)))
			if st := e.state(t, k); st != consent.Granted {
				t.Fatalf("after Allow: store state %v", st)
			}
			p.do("reload", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`#current-state`)))
			if st := p.attr(stateSel, "data-state"); st != "granted" {
				t.Fatalf("after reload the page shows %q, want granted", st)
			}

			// Keyboard only: focus the Withdraw button and press Enter.
			p.do("withdraw with the keyboard",
				chromedp.Focus(chromedp.CSS(`button[value="withdraw"]`), chromedp.NodeVisible),
				chromedp.KeyEvent("\r"),
				chromedp.WaitVisible(chromedp.CSS(`.confirm`)))
			if st, shown := e.state(t, k), p.attr(stateSel, "data-state"); st != consent.Withdrawn || shown != "withdrawn" {
				t.Fatalf("after Withdraw: store %v, page %q", st, shown)
			}

			// French through the visible switch, then Refuse, on a phone.
			tok2, k2 := e.pageToken(t, "marie@exemple.fr")
			p.do("switch to French on a phone",
				chromedp.EmulateViewport(390, 844),
				chromedp.Navigate(e.srv.URL+"/c/"+tok2),
				chromedp.Click(chromedp.CSS(`nav.lang a[hreflang="fr"]`), chromedp.NodeVisible),
				chromedp.WaitVisible(chromedp.CSS(`html[lang="fr"]`)))
			if txt := p.text("#current-state"); !strings.Contains(txt, "pas encore de choix") {
				t.Fatalf("French page state text %q", txt)
			}
			if !p.check(`document.documentElement.scrollWidth <= window.innerWidth`) {
				t.Error("the page scrolls sideways on a 390 px wide phone")
			}
			p.do("refuse in French", chromedp.Click(chromedp.CSS(`button[value="refuse"]`), chromedp.NodeVisible), chromedp.WaitVisible(chromedp.CSS(`.confirm`)))
			if txt := p.text(".confirm"); !strings.Contains(txt, "refusée") || e.state(t, k2) != consent.Refused {
				t.Fatalf("French refusal: confirmation %q, store %v", txt, e.state(t, k2))
			}
			tx, _ := DefaultTexts()
			frHash, _ := tx.Hash(tx.Current(), "fr")
			if h, _ := e.st.History(t.Context(), k2); len(h) != 1 || h[0].TextHash != frHash {
				t.Fatalf("French decision evidence %+v, want the French text hash", h)
			}

			tok3, _ := e.pageToken(t, "claire@exemple.fr")
			p.do("French page on a desktop", chromedp.EmulateViewport(1024, 900),
				chromedp.Navigate(e.srv.URL+"/c/"+tok3+"?lang=fr"), chromedp.WaitVisible(chromedp.CSS(`#current-state`)))
			screenshot(t, p.ctx, "fr")
		})
	}
}

// screenshot saves the current page as docs/screenshots/consent-page-LANG.png
// when PIXELGATE_SCREENSHOT_DIR names a directory (make screenshots), so a
// plain test run never rewrites files in the work tree.
func screenshot(t *testing.T, ctx context.Context, lang string) {
	t.Helper()
	dir := os.Getenv("PIXELGATE_SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "consent-page-"+lang+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
