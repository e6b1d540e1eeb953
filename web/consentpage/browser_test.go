package consentpage

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/web/dashtest"
)

// attr reads an attribute of the first element matching sel.
func attr(p dashtest.Page, sel, name string) string {
	p.T.Helper()
	r, err := chromedp.Run(p.Ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		p.T.Fatalf("read %s of %s: %v", name, sel, err)
	}
	return r.Value
}

// TestBrowserConsentFlow clicks through the page as a person would, in a
// real browser: see the state, Allow, reload, see it granted, Withdraw; a
// plain visit never changes anything; French by the language switch.
func TestBrowserConsentFlow(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			ctx, _ := dashtest.Browser(t, 90*time.Second)
			p := dashtest.Page{T: t, Ctx: ctx}
			e := newEnv(t, sk.open)
			tok, k := e.pageToken(t, "jean.dupont@example.fr")
			url := e.srv.URL + "/c/" + tok
			const stateSel = `#current-state strong[data-state]`

			p.Do("open the page", chromedp.EmulateViewport(1024, 900), chromedp.Navigate(url+"?lang=en"), chromedp.WaitVisible(chromedp.CSS(`#current-state`)))
			if st, lang, txt := attr(p, stateSel, "data-state"), attr(p, "html", "lang"), p.Text("#current-state"); st != "none" || lang != "en" || !strings.Contains(txt, "j***@e***.fr") {
				t.Fatalf("first visit: state %q lang %q text %q", st, lang, txt)
			}
			// Equally prominent buttons: same rendered size, and the
			// embedded stylesheet applied under the CSP.
			if !p.Check(`(() => { const b = [...document.querySelectorAll('.buttons button')].map(x => x.getBoundingClientRect());
				return b.length === 2 && b[0].width === b[1].width && b[0].height === b[1].height })()`) {
				t.Error("the two buttons differ in size")
			}
			if !p.Check(`getComputedStyle(document.querySelector('.buttons button')).backgroundColor === 'rgb(31, 63, 153)'`) {
				t.Error("the stylesheet was not applied")
			}
			if st := e.state(t, k); st != consent.None {
				t.Fatalf("visiting the page changed the state to %v", st)
			}
			p.Screenshot("consent-page-en.png")

			p.Do("click Allow", chromedp.Click(chromedp.CSS(`button[value="allow"]`), chromedp.NodeVisible), chromedp.WaitVisible(chromedp.CSS(`.confirm`)))
			if st := e.state(t, k); st != consent.Granted {
				t.Fatalf("after Allow: store state %v", st)
			}
			// POST-redirect-GET: the browser now shows a GET of the
			// page, so reloading it (F5) shows the state again and
			// records nothing more.
			if loc := p.Location(); !strings.HasPrefix(loc, url+"?") || !strings.Contains(loc, "done=granted") {
				t.Fatalf("after Allow the browser is at %q, want the page of the token with done=granted", loc)
			}
			p.Do("reload the result", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#current-state`)))
			if h, _ := e.st.History(t.Context(), k); len(h) != 1 {
				t.Fatalf("reloading the result recorded %d decisions, want 1", len(h))
			}
			if st := attr(p, stateSel, "data-state"); st != "granted" || !strings.Contains(p.Text(".confirm"), "allowed") {
				t.Fatalf("after reload the page shows %q without the confirmation, want granted", st)
			}
			// The choice in force is not offered again: only Withdraw.
			if !p.Check(`[...document.querySelectorAll('.buttons button')].map(b => b.value).join() === 'withdraw'`) {
				t.Errorf("once allowed the page offers %s, want only Withdraw", p.Text(".buttons"))
			}
			p.Screenshot("consent-page-granted-en.png")
			p.Do("visit again", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`#current-state`)))
			if st := attr(p, stateSel, "data-state"); st != "granted" {
				t.Fatalf("a later visit shows %q, want granted", st)
			}

			// Keyboard only: focus the Withdraw button and press Enter.
			p.Do("withdraw with the keyboard",
				chromedp.Focus(chromedp.CSS(`button[value="withdraw"]`), chromedp.NodeVisible),
				chromedp.KeyEvent("\r"),
				chromedp.WaitVisible(chromedp.CSS(`.confirm`)))
			if st, shown := e.state(t, k), attr(p, stateSel, "data-state"); st != consent.Withdrawn || shown != "withdrawn" {
				t.Fatalf("after Withdraw: store %v, page %q", st, shown)
			}
			if !p.Check(`[...document.querySelectorAll('.buttons button')].map(b => b.value).join() === 'allow'`) {
				t.Errorf("once withdrawn the page offers %s, want only Allow", p.Text(".buttons"))
			}

			// French through the visible switch, then Refuse, on a phone.
			tok2, k2 := e.pageToken(t, "marie@exemple.fr")
			p.Do("switch to French on a phone",
				chromedp.EmulateViewport(390, 844),
				chromedp.Navigate(e.srv.URL+"/c/"+tok2),
				chromedp.Click(chromedp.CSS(`nav.lang a[hreflang="fr"]`), chromedp.NodeVisible),
				chromedp.WaitVisible(chromedp.CSS(`html[lang="fr"]`)))
			if txt := p.Text("#current-state"); !strings.Contains(txt, "pas encore de choix") {
				t.Fatalf("French page state text %q", txt)
			}
			if !p.Check(`document.documentElement.scrollWidth <= window.innerWidth`) {
				t.Error("the page scrolls sideways on a 390 px wide phone")
			}
			p.Do("refuse in French", chromedp.Click(chromedp.CSS(`button[value="refuse"]`), chromedp.NodeVisible), chromedp.WaitVisible(chromedp.CSS(`.confirm`)))
			if txt := p.Text(".confirm"); !strings.Contains(txt, "refusée") || e.state(t, k2) != consent.Refused {
				t.Fatalf("French refusal: confirmation %q, store %v", txt, e.state(t, k2))
			}
			tx, _ := DefaultTexts()
			frHash, _ := tx.Hash(tx.Current(), "fr")
			if h, _ := e.st.History(t.Context(), k2); len(h) != 1 || h[0].TextHash != frHash {
				t.Fatalf("French decision evidence %+v, want the French text hash", h)
			}

			tok3, _ := e.pageToken(t, "claire@exemple.fr")
			p.Do("French page on a desktop", chromedp.EmulateViewport(1024, 900),
				chromedp.Navigate(e.srv.URL+"/c/"+tok3+"?lang=fr"), chromedp.WaitVisible(chromedp.CSS(`#current-state`)))
			p.Screenshot("consent-page-fr.png")
		})
	}
}
