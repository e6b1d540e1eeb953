package admin_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pixelgate/pixelgate/web"
	"github.com/pixelgate/pixelgate/web/dashtest"
)

// browserPage starts Chromium and a dashboard on the embedded store.
func browserPage(t *testing.T) (dashtest.Page, *dashtest.Env) {
	t.Helper()
	ctx, _ := dashtest.Browser(t, 90*time.Second)
	return dashtest.Page{T: t, Ctx: ctx}, dashtest.New(t, dashtest.Bolt, web.Handlers{})
}

// textOf is the visible text of the first element matching sel, "" when
// there is none (so a missing element fails at once instead of waiting).
func textOf(p dashtest.Page, sel string) string {
	p.T.Helper()
	s, err := chromedp.Run(p.Ctx, chromedp.Evaluate[string](`(() => { const e = document.querySelector(` + strconv.Quote(sel) + `); return e ? e.innerText : "" })()`))
	if err != nil {
		p.T.Fatalf("read text of %s: %v", sel, err)
	}
	return s
}

// TestBrowserFirstAdminThenLogin: creating the first account through the
// one-time link lands on the login page, which says the account exists
// and what to do next; setting a password by a later link says so too.
func TestBrowserFirstAdminThenLogin(t *testing.T) {
	p, e := browserPage(t)
	tok, err := e.Users.FirstRunLink(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.Do("create the first administrator", chromedp.Navigate(e.URL+"/admin/setup/"+tok), chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SetValue(chromedp.CSS("#name"), "claire"),
		chromedp.SetValue(chromedp.CSS("#password"), dashtest.AdminPassword),
		chromedp.SetValue(chromedp.CSS("#password2"), dashtest.AdminPassword),
		chromedp.Click(chromedp.CSS("form.login button")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/admin/login"]`)))
	if msg := textOf(p, "p.flash"); !strings.Contains(msg, "first administrator account is created") || !strings.Contains(msg, "Log in") {
		t.Fatalf("login page after creating the first account says %q", msg)
	}
	if loc := p.Location(); strings.Contains(loc, "claire") {
		t.Errorf("the account name is in the URL %q", loc)
	}
	p.Do("log in", chromedp.SetValue(chromedp.CSS("#name"), "claire"), chromedp.SetValue(chromedp.CSS("#password"), dashtest.AdminPassword),
		chromedp.Click(chromedp.CSS("form.login button")), chromedp.WaitVisible(chromedp.CSS("header.top nav")))

	p.Do("add an analyst", chromedp.Navigate(e.URL+"/admin/accounts"), chromedp.WaitVisible(chromedp.CSS("form.panel input[name=name]")),
		chromedp.SetValue(chromedp.CSS("form.panel input[name=name]"), "marie"),
		chromedp.SetValue(chromedp.CSS("form.panel select[name=role]"), "analyst"),
		chromedp.Click(chromedp.CSS("form.panel button")), chromedp.WaitVisible(chromedp.CSS("code.secret")))
	link := p.Text("code.secret")
	p.Do("log out", chromedp.Click(chromedp.CSS("header.top .who button")), chromedp.WaitVisible(chromedp.CSS(`form[action="/admin/login"]`)))
	p.Do("set the analyst's password", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.SetValue(chromedp.CSS("#password"), dashtest.AnalystPassword),
		chromedp.SetValue(chromedp.CSS("#password2"), dashtest.AnalystPassword),
		chromedp.Click(chromedp.CSS("form.login button")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/admin/login"]`)))
	if msg := textOf(p, "p.flash"); !strings.Contains(msg, "Your password is set") {
		t.Fatalf("login page after setting a password says %q", msg)
	}
}
