package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pixelgate/pixelgate/web/auth"
	"github.com/pixelgate/pixelgate/web/dashtest"
)

// freeAddr picks a loopback port for serve's HTTP side, so that the public
// URL (pixel and setup links) can name it before serve starts.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

var setupLinkRE = regexp.MustCompile(`http://[0-9.:]+/admin/setup/[A-Z2-7]+`)

// firstRunLink waits for the link serve prints when no account exists.
func firstRunLink(t *testing.T, s *server) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if l := setupLinkRE.FindString(s.stdout.String()); l != "" {
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("serve printed no first-run link:\n%s", s.stdout.String())
	return ""
}

const (
	browserAdminPassword   = "Correct-Pony-Battery-42"
	browserAnalystPassword = "Analyst#Quartz7River"
	browserDPOPassword     = "Dpo!Harbour-Lantern-93"
)

func newsletter(to string) string {
	return "From: Shop <news@shop.example>\r\nTo: <" + to + ">\r\nSubject: Our spring collection\r\n" +
		"X-Pixelgate-Campaign: spring-2026\r\nX-Pixelgate-Campaign-Name: Spring collection\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		"<p>New this spring.</p><img src=\"https://u1.ct.sendgrid.net/wf/open?upn=" + strings.Repeat("x", 12) + "\" width=\"1\" height=\"1\">\r\n"
}

// TestDashboardInBrowser is the whole story in headless Chromium against a
// real `pixelgate serve`: the first-run link creates the admin, who adds an
// analyst and a DPO; real mail goes through the relay and real pixel hits
// record opens; the analyst sees the campaign chart and downloads its CSV;
// the DPO exports and erases an address; the audit viewer shows it all.
func TestDashboardInBrowser(t *testing.T) {
	bctx, downloads := dashtest.Browser(t, 3*time.Minute)
	p := dashtest.Page{T: t, Ctx: bctx}
	dir := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr
	siem := filepath.Join(dir, "audit.jsonl")
	s := startServe(t, "--data-dir", dir, "--http-addr", addr, "--public-url", base, "--audit-log", siem)
	link := firstRunLink(t, s)

	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	// The setup form has #name too: waiting for the login form's action
	// makes sure the submission has landed before the next step.
	const loginForm = `form[action="/admin/login"]`
	fill := func(what string, fields map[string]string, submit string) {
		t.Helper()
		var steps []chromedp.Action[chromedp.Void]
		for sel, v := range fields {
			steps = append(steps, chromedp.SetValue(css(sel), v))
		}
		steps = append(steps, chromedp.Click(css(submit)))
		p.Do(what, steps...)
	}
	login := func(name, pw string) {
		t.Helper()
		p.Do("open login", chromedp.Navigate(base+"/admin/login"), chromedp.WaitVisible(css("#name")))
		fill("log in "+name, map[string]string{"#name": name, "#password": pw}, "form.login button")
		p.Do("wait for the dashboard", chromedp.WaitVisible(css("header.top nav")))
	}
	logout := func() {
		t.Helper()
		p.Do("log out", chromedp.Click(css("header.top .who button")), chromedp.WaitReady(css(loginForm)))
	}
	setPassword := func(link, pw string) {
		t.Helper()
		p.Do("open one-time link", chromedp.Navigate(link), chromedp.WaitVisible(css("#password")))
		fill("set password", map[string]string{"#password": pw, "#password2": pw}, "form.login button")
		p.Do("back at login", chromedp.WaitReady(css(loginForm)))
	}

	// First run: the link printed by serve creates the first admin.
	p.Do("open first-run link", chromedp.Navigate(link), chromedp.WaitVisible(css("#name")))
	p.Screenshot("admin-setup.png")
	fill("create admin", map[string]string{"#name": "claire", "#password": browserAdminPassword, "#password2": browserAdminPassword}, "form.login button")
	p.Do("login page after setup", chromedp.WaitReady(css(loginForm)))
	p.Screenshot("admin-login.png")
	login("claire", browserAdminPassword)

	addUser := func(name, role string) string {
		t.Helper()
		p.Do("accounts page", chromedp.Navigate(base+"/admin/accounts"), chromedp.WaitVisible(css("form.inline input[name=name]")))
		p.Do("add "+name, chromedp.SetValue(css("form.panel input[name=name]"), name),
			chromedp.SetValue(css("form.panel select[name=role]"), role),
			chromedp.Click(css("form.panel button")), chromedp.WaitVisible(css("code.secret")))
		l := p.Text("code.secret")
		if !setupLinkRE.MatchString(l) {
			t.Fatalf("no one-time link for %s: %q", name, l)
		}
		return l
	}
	analystLink := addUser("marie", "analyst")
	dpoLink := addUser("paul", "dpo")
	p.Screenshot("admin-accounts.png")
	p.Do("settings", chromedp.Navigate(base+"/admin/settings"), chromedp.WaitVisible(css("table")))
	if got := p.Text("table"); !strings.Contains(got, "--audit-log") || !strings.Contains(got, siem) {
		t.Errorf("settings page does not show the SIEM output:\n%s", got)
	}
	p.Screenshot("admin-settings.png")
	logout()
	setPassword(analystLink, browserAnalystPassword)
	setPassword(dpoLink, browserDPOPassword)

	// Real traffic: two recipients consent (through the CLI, which goes
	// through the running server's admin socket), four get the
	// newsletter through the relay, and the consenting ones open it.
	consenting := []string{"jeanne.martin@example.com", "luc@example.org"}
	for _, a := range consenting {
		var out strings.Builder
		env := &environ{stdout: &out, stderr: &out, stdin: strings.NewReader(""), getenv: func(string) string { return "" }}
		if code := runMain(context.Background(), env, []string{"consent", "grant", "--data-dir", dir, "--policy-version", "2026-04",
			"--text-hash", strings.Repeat("ab", 32), a}); code != 0 {
			t.Fatalf("consent grant %s: %s", a, out.String())
		}
	}
	for _, to := range append(consenting, "ana@example.net", "zoe@example.com") {
		if err := smtpSend(s.smtpAddr, "news@shop.example", to, newsletter(to), nil, nil); err != nil {
			t.Fatalf("relay %s: %v", to, err)
		}
	}
	pixelRE := regexp.MustCompile(regexp.QuoteMeta(base) + `/o/[A-Za-z0-9_-]+\.gif`)
	var pixels []string
	for _, f := range outboxFiles(t, dir) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pixels = append(pixels, pixelRE.FindAllString(string(b), -1)...)
	}
	if len(pixels) != len(consenting) {
		t.Fatalf("relayed mail carries %d pixelgate pixels, want one per consenting recipient (%d)", len(pixels), len(consenting))
	}
	for i, px := range pixels {
		for range i + 1 { // the second recipient opens twice: one unique open each
			req, _ := http.NewRequest(http.MethodGet, px, nil)
			req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.0")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("pixel %s: %d", px, res.StatusCode)
			}
		}
	}

	// The analyst sees the campaign, its chart and its CSV, and no address.
	login("marie", browserAnalystPassword)
	p.Do("campaigns", chromedp.Navigate(base+"/admin/campaigns"), chromedp.WaitVisible(css("svg.chart")))
	table := p.Text("table")
	for _, want := range []string{"Spring collection", "50.0 %", "100.0 %"} {
		if !strings.Contains(table, want) {
			t.Errorf("campaign table lacks %q:\n%s", want, table)
		}
	}
	p.Screenshot("admin-campaigns.png")
	p.Do("open campaign", chromedp.Click(css("table a")), chromedp.WaitVisible(css("svg.chart rect.s0")))
	if body := p.Text("main"); strings.Contains(body, "@") {
		t.Errorf("campaign page shows an address:\n%s", body)
	}
	p.Screenshot("admin-campaign.png")
	p.Do("download CSV", chromedp.Click(css(`a[href$="opens.csv"]`)))
	csv := string(dashtest.Download(t, downloads, "campaign-opens"))
	if !strings.HasPrefix(csv, "hour_start,opens_consenting,machine_opens,clicks\n") || !strings.Contains(csv, ",3,0,0") {
		t.Errorf("downloaded CSV:\n%s", csv)
	}
	p.Do("consent page", chromedp.Navigate(base+"/admin/consent"), chromedp.WaitVisible(css("svg.chart")))
	p.Screenshot("admin-consent.png")
	p.Do("create an API token", chromedp.Navigate(base+"/admin/account"), chromedp.WaitVisible(css(`input[name=label]`)),
		chromedp.SetValue(css(`input[name=label]`), "BI export"), chromedp.Click(css(`form[action="/admin/account/tokens"] button`)),
		chromedp.WaitVisible(css("code.secret")))
	if tok := p.Text("code.secret"); !strings.HasPrefix(tok, "pgt_") {
		t.Errorf("token shown: %q", tok)
	}
	p.Screenshot("admin-account.png")
	logout()

	// The DPO looks an address up, exports it, erases it.
	login("paul", browserDPOPassword)
	p.Do("dsar", chromedp.Navigate(base+"/admin/dsar"), chromedp.WaitVisible(css("#address")),
		chromedp.SetValue(css("#address"), "luc@example.org"), chromedp.Click(css("form.panel button")),
		chromedp.WaitVisible(css(`form[action="/admin/dsar/export"] button`)))
	if held := p.Text("main"); !strings.Contains(held, "granted") || !strings.Contains(held, "Spring collection") {
		t.Errorf("DSAR page does not show what is held:\n%s", held)
	}
	p.Screenshot("admin-dsar.png")
	p.Do("export", chromedp.Click(css(`form[action="/admin/dsar/export"] button`)))
	var export struct {
		Data struct {
			State string `json:"consent_state"`
			Opens []struct {
				Campaign string `json:"campaign"`
				Opens    int64  `json:"opens"`
			} `json:"campaigns_opened"`
		} `json:"data"`
	}
	if err := json.Unmarshal(dashtest.Download(t, downloads, "pixelgate-export"), &export); err != nil {
		t.Fatal(err)
	}
	if export.Data.State != "granted" || len(export.Data.Opens) != 1 || export.Data.Opens[0].Opens != 2 {
		t.Errorf("export: %+v", export.Data)
	}
	p.Do("erase", chromedp.Click(css(`form[action="/admin/dsar/erase"] input[type=checkbox]`)),
		chromedp.Click(css(`form[action="/admin/dsar/erase"] button`)), chromedp.WaitVisible(css("p.flash")))
	if msg := p.Text("p.flash"); !strings.Contains(msg, "Erased") {
		t.Errorf("after erase: %q", msg)
	}

	// The DPO turns on two-step login by scanning the QR code.
	p.Do("begin two-step", chromedp.Navigate(base+"/admin/account"),
		chromedp.Click(css(`form[action="/admin/account/totp/begin"] button`)), chromedp.WaitVisible(css("svg.qr")))
	p.Screenshot("admin-totp.png")
	code, err := auth.TOTPCode(p.Text("code.secret"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p.Do("confirm two-step", chromedp.SetValue(css("#code"), code),
		chromedp.Click(css(`form[action="/admin/account/totp/confirm"] button`)), chromedp.WaitVisible(css("p.flash")))
	if msg := p.Text("p.flash"); !strings.Contains(msg, "Two-step login is on") {
		t.Errorf("after confirming: %q", msg)
	}

	// The audit viewer shows all of it, and the chain verifies.
	p.Do("audit", chromedp.Navigate(base+"/admin/audit"), chromedp.WaitVisible(css("table")))
	log := p.Text("table")
	for _, want := range []string{"account.create.first-admin", "account.add", "login", "consent.grant", "campaigns.view",
		"campaign.export", "dsar.lookup", "dsar.export", "dsar.erase", "logout", "account.totp.enable"} {
		if !strings.Contains(log, want) {
			t.Errorf("audit viewer lacks %s", want)
		}
	}
	p.Do("verify", chromedp.Click(css(`form[action="/admin/audit/verify"] button`)), chromedp.WaitVisible(css(".verify")))
	if v := p.Text(".verify"); !strings.Contains(v, "Integrity verified") {
		t.Errorf("verify: %q", v)
	}
	p.Screenshot("admin-audit.png")

	// The same entries went out as JSON lines for a SIEM (--audit-log).
	lines, err := os.ReadFile(siem)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"action":"account.create.first-admin"`, `"action":"dsar.erase"`, `"action":"audit.verify"`} {
		if !strings.Contains(string(lines), want) {
			t.Errorf("--audit-log lacks %s", want)
		}
	}
	if strings.Contains(string(lines), "@example") {
		t.Error("--audit-log holds an address")
	}
}
