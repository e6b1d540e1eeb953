package admin_test

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/web"
	"github.com/pixelgate/pixelgate/web/auth"
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
	s, err := chromedp.Run(p.Ctx, chromedp.Evaluate[string](`(() => { const e = document.querySelector(`+strconv.Quote(sel)+`); return e ? e.innerText : "" })()`))
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

// longName is a campaign name longer than any chart label slot.
const longName = "Autumn newsletter for our loyal customers in Brittany & Normandy"

// seedCampaigns records three campaigns through the store API, as the relay
// and the pixel endpoint do, sent on three different days: "Autumn…"
// (most recent: 1 of 2 emails to consenting recipients, 1 unique open),
// "Winter sale" (1 of 1), "Summer" (oldest: 3 of 3, no open).
func seedCampaigns(t *testing.T, e *dashtest.Env) {
	t.Helper()
	ctx := context.Background()
	now := e.Clock.Now()
	key := func(addr string) consent.Key {
		k, err := e.Keyring.RecipientKey(addr)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	for _, a := range []string{"jeanne@example.com", "luc@example.org", "ana@example.net"} {
		if _, err := e.Store.Grant(ctx, key(a), consent.Evidence{Source: consent.SourceConsentPage, PolicyVersion: "v1",
			TextHash: strings.Repeat("ab", 32)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Store.Refuse(ctx, key("zoe@example.com"), consent.Evidence{Source: consent.SourceConsentPage, PolicyVersion: "v1",
		TextHash: strings.Repeat("ab", 32)}); err != nil {
		t.Fatal(err)
	}
	send := func(id, name string, granted bool, n int, at time.Time) {
		if err := e.Store.RecordSend(ctx, consent.Send{Campaign: id, CampaignName: name, Granted: granted, Count: n, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	send("summer", "Summer", true, 3, now.Add(-72*time.Hour))
	send("winter", "Winter sale", true, 1, now.Add(-48*time.Hour))
	send("autumn", longName, true, 1, now.Add(-time.Hour))
	send("autumn", longName, false, 1, now.Add(-time.Hour))
	if _, err := e.Store.RecordOpen(ctx, consent.Open{Key: key("jeanne@example.com"), Campaign: "autumn", At: now}); err != nil {
		t.Fatal(err)
	}
}

// loginAnalyst logs an analyst in through the browser.
func loginAnalyst(t *testing.T, p dashtest.Page, e *dashtest.Env) {
	t.Helper()
	e.AddUser(t, e.FirstAdmin(t), "marie", auth.RoleAnalyst, dashtest.AnalystPassword)
	p.Do("log in", chromedp.Navigate(e.URL+"/admin/login"), chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SetValue(chromedp.CSS("#name"), "marie"), chromedp.SetValue(chromedp.CSS("#password"), dashtest.AnalystPassword),
		chromedp.Click(chromedp.CSS("form.login button")), chromedp.WaitVisible(chromedp.CSS("header.top nav")))
}

// percentsWithoutCounts lists the tiles and table cells of the page that
// show a percentage without the "N of M" it was computed from.
const percentsWithoutCounts = `[...document.querySelectorAll('main .kpi, main td')]
	.filter(e => /\d %/.test(e.innerText) && !/\d of \d/.test(e.innerText))
	.map(e => e.innerText.replace(/\s+/g, ' '))`

// TestBrowserCampaignFigures: the dashboard names what each share counts
// (emails, not people), writes "1 email" and "2 emails", and gives the
// numbers behind every percentage on the campaign and consent pages.
func TestBrowserCampaignFigures(t *testing.T) {
	p, e := browserPage(t)
	seedCampaigns(t, e)
	loginAnalyst(t, p, e)

	p.Do("campaigns", chromedp.Navigate(e.URL+"/admin/campaigns"), chromedp.WaitVisible(chromedp.CSS("svg.chart")))
	kpis := textOf(p, "main .kpis")
	if !strings.Contains(kpis, "Emails sent to consenting recipients") || strings.Contains(kpis, "Recipients who consented") {
		t.Errorf("the share tile does not say it counts emails:\n%s", kpis)
	}
	if !strings.Contains(kpis, "5 of 6 emails") {
		t.Errorf("the share tile does not give 5 of 6 emails:\n%s", kpis)
	}
	bad := func(what string) {
		t.Helper()
		missing, err := chromedp.Run(p.Ctx, chromedp.Evaluate[[]string](percentsWithoutCounts))
		if err != nil {
			t.Fatal(err)
		}
		if len(missing) > 0 {
			t.Errorf("%s: percentages without their counts: %q", what, missing)
		}
		if main := textOf(p, "main"); regexp.MustCompile(`(^|[^\d\x{202f}])1 (emails|recipients|opens)\b`).MatchString(main) {
			t.Errorf("%s: a plural after 1:\n%s", what, main)
		}
	}
	bad("campaigns")
	if row := textOf(p, "main tbody tr:nth-child(2)"); !strings.Contains(row, "100.0 % (1 of 1 email)") {
		t.Errorf("Winter sale row: %q, want 100.0 %% (1 of 1 email)", row)
	}
	p.Do("one campaign", chromedp.Navigate(e.URL+"/admin/campaigns/winter"), chromedp.WaitVisible(chromedp.CSS("svg.chart")))
	if kpis := textOf(p, "main .kpis"); !strings.Contains(kpis, "1 of 1 email") {
		t.Errorf("campaign tiles:\n%s", kpis)
	}
	bad("campaign")
	p.Do("consent", chromedp.Navigate(e.URL+"/admin/consent"), chromedp.WaitVisible(chromedp.CSS("svg.chart")))
	if kpis := textOf(p, "main .kpis"); !strings.Contains(kpis, "3 of 4 recipients") {
		t.Errorf("consent tiles:\n%s", kpis)
	}
	bad("consent")
}

// TestBrowserCampaignsChart: the chart lists the campaigns in the table's
// order (most recent first), writes every name in full, and gives the
// counts behind each bar's percentage.
func TestBrowserCampaignsChart(t *testing.T) {
	p, e := browserPage(t)
	seedCampaigns(t, e)
	loginAnalyst(t, p, e)
	p.Do("campaigns", chromedp.Navigate(e.URL+"/admin/campaigns"), chromedp.WaitVisible(chromedp.CSS("svg.chart")))
	eval := func(expr string) []string {
		t.Helper()
		v, err := chromedp.Run(p.Ctx, chromedp.Evaluate[[]string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	table := eval(`[...document.querySelectorAll('main tbody tr td:first-child')].map(td => td.innerText)`)
	chart := eval(`[...document.querySelectorAll('svg.chart rect.s0 > title')].map(t => t.textContent.split(' · ')[0])`)
	if want := []string{longName, "Winter sale", "Summer"}; strings.Join(table, "|") != strings.Join(want, "|") {
		t.Fatalf("table order %q, want %q", table, want)
	}
	if strings.Join(chart, "|") != strings.Join(table, "|") {
		t.Errorf("chart order %q differs from the table's %q", chart, table)
	}
	shown := strings.Join(eval(`[...document.querySelectorAll('svg.chart text')].map(t => t.textContent)`), " ")
	if !strings.Contains(shown, longName) || strings.Contains(shown, "…") {
		t.Errorf("the chart does not write %q in full:\n%s", longName, shown)
	}
	// The name is drawn inside the chart, not cut by its edge.
	if !p.Check(`[...document.querySelectorAll('svg.chart text')].every(t => { const b = t.getBBox(); return b.x >= 0 && b.x + b.width <= 880 })`) {
		t.Error("a chart text runs out of the chart")
	}
	for _, title := range eval(`[...document.querySelectorAll('svg.chart rect > title')].map(t => t.textContent)`) {
		if !regexp.MustCompile(`\d % \(\d+ of \d+ emails?( opened)?\)$|\d% \(\d+ of \d+ emails?( opened)?\)$`).MatchString(title) {
			t.Errorf("bar %q does not give the count behind its percentage", title)
		}
	}
	if !strings.Contains(shown, "1 of 2 emails") {
		t.Errorf("the chart does not write the counts next to the bars:\n%s", shown)
	}
	p.Screenshot("admin-campaigns-chart.png")
}

// TestBrowserFavicon: dashboard pages link the embedded icon, and the
// browser gets it from there and from /favicon.ico.
func TestBrowserFavicon(t *testing.T) {
	p, e := browserPage(t)
	p.Do("login page", chromedp.Navigate(e.URL+"/admin/login"), chromedp.WaitVisible(chromedp.CSS("#name")))
	href, err := chromedp.Run(p.Ctx, chromedp.Evaluate[string](`(() => { const l = document.querySelector('link[rel=icon]'); return l ? l.href : "" })()`))
	if err != nil {
		t.Fatal(err)
	}
	if href == "" {
		t.Fatal("the dashboard links no icon")
	}
	// The page's CSP forbids fetch(), so the browser opens each URL.
	for _, u := range []string{href, e.URL + "/favicon.ico"} {
		p.Do("open "+u, chromedp.Navigate(u))
		if !p.Check(`document.contentType === 'image/svg+xml' && document.documentElement.localName === 'svg'`) {
			t.Errorf("%s is not the SVG icon", u)
		}
	}
}
