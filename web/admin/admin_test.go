package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/web"
	"github.com/pixelgate/pixelgate/web/auth"
	"github.com/pixelgate/pixelgate/web/dashtest"
)

func eachBackend(t *testing.T, fn func(t *testing.T, e *dashtest.Env)) {
	for _, b := range dashtest.Backends {
		t.Run(string(b), func(t *testing.T) { fn(t, dashtest.New(t, b, web.Handlers{})) })
	}
}

func TestRoles(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *dashtest.Env) {
		adm := e.FirstAdmin(t)
		analyst := e.AddUser(t, adm, "marie", auth.RoleAnalyst, dashtest.AnalystPassword)
		dpo := e.AddUser(t, adm, "paul", auth.RoleDPO, dashtest.DPOPassword)

		type call struct {
			method, path string
		}
		dsarAndAudit := []call{{"GET", "/admin/dsar"}, {"POST", "/admin/dsar"}, {"POST", "/admin/dsar/export"},
			{"POST", "/admin/dsar/erase"}, {"POST", "/admin/dsar/object"}, {"GET", "/admin/audit"}, {"POST", "/admin/audit/verify"}}
		do := func(c *dashtest.Client, k call) dashtest.Response {
			if k.method == "GET" {
				return c.Get(k.path)
			}
			return c.Post(k.path, url.Values{"address": {"someone@example.com"}, "confirm": {"yes"}})
		}
		for _, k := range append(dsarAndAudit, call{"GET", "/admin/accounts"}, call{"POST", "/admin/accounts"}, call{"GET", "/admin/settings"}) {
			if r := do(analyst, k); r.Status != http.StatusForbidden {
				t.Errorf("analyst %s %s: status %d, want 403", k.method, k.path, r.Status)
			}
		}
		for _, p := range []string{"/admin/campaigns", "/admin/consent", "/admin/campaigns.csv", "/admin/account"} {
			if r := analyst.Get(p); r.Status != http.StatusOK {
				t.Errorf("analyst GET %s: %d", p, r.Status)
			}
		}
		// The DPO serves requests and reads the audit log, but does not
		// manage accounts; the admin does not serve data-subject requests.
		for _, k := range dsarAndAudit[:1] {
			if r := do(dpo, k); r.Status != http.StatusOK {
				t.Errorf("dpo %s %s: %d", k.method, k.path, r.Status)
			}
		}
		if r := dpo.Get("/admin/audit"); r.Status != http.StatusOK {
			t.Errorf("dpo audit: %d", r.Status)
		}
		if r := dpo.Get("/admin/accounts"); r.Status != http.StatusForbidden {
			t.Errorf("dpo accounts: %d, want 403", r.Status)
		}
		if r := adm.Get("/admin/dsar"); r.Status != http.StatusForbidden {
			t.Errorf("admin dsar: %d, want 403", r.Status)
		}
		if r := adm.Get("/admin/audit"); r.Status != http.StatusOK {
			t.Errorf("admin audit: %d", r.Status)
		}
		// Nobody logged in: pages redirect to the login form.
		if r := e.NewClient(t).Get("/admin/campaigns"); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/admin/login") {
			t.Errorf("anonymous: %d %q", r.Status, r.Location)
		}
		denied := 0
		for _, a := range e.Actions(t) {
			if a == "marie access.denied denied" {
				denied++
			}
		}
		if denied != len(dsarAndAudit)+3 {
			t.Errorf("analyst's refused requests audited %d times, want %d", denied, len(dsarAndAudit)+3)
		}
		if m := e.Counter(t, "pixelgate_dashboard_denied_total", "role"); m != float64(len(dsarAndAudit)+3+2) {
			t.Errorf("denied metric %v, want %d (analyst's plus dpo's and admin's)", m, len(dsarAndAudit)+5)
		}
		if r := adm.Get("/admin/settings"); r.Status != http.StatusOK || !strings.Contains(r.Body, "argon2id, 1 MiB") ||
			!strings.Contains(r.Body, "30 minutes") {
			t.Errorf("settings page: %d", r.Status)
		}
	})
}

func TestNoDefaultPasswordAndFirstRunLinkDies(t *testing.T) {
	e := dashtest.New(t, dashtest.Bolt, web.Handlers{})
	ctx := context.Background()
	tok, err := e.Users.FirstRunLink(ctx)
	if err != nil || tok == "" {
		t.Fatal("no first-run link with no accounts", err)
	}
	c := e.NewClient(t)
	for _, pw := range []string{"admin", "password", "pixelgate", ""} {
		if r := c.Login("admin", pw); r.Status != http.StatusUnauthorized {
			t.Errorf("login admin/%q before setup: %d", pw, r.Status)
		}
	}
	e.FirstAdmin(t)
	if r := c.Get("/admin/setup/" + tok); r.Status != http.StatusNotFound {
		t.Errorf("first-run link still works after an admin exists: %d", r.Status)
	}
	if again, _ := e.Users.FirstRunLink(ctx); again != "" {
		t.Error("first-run link issued although an account exists")
	}
}

func TestPasswordPolicyOnSetup(t *testing.T) {
	e := dashtest.New(t, dashtest.Bolt, web.Handlers{})
	tok, _ := e.Users.FirstRunLink(context.Background())
	c := e.NewClient(t)
	for _, pw := range []string{"short1!A", "alllowercaseletterslong", "P@ssw0rd2024!!", "Azerty123456789"} {
		r := c.Post("/admin/setup/"+tok, url.Values{"name": {"boss"}, "password": {pw}, "password2": {pw}})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "password refused") {
			t.Errorf("weak password %q: %d", pw, r.Status)
		}
	}
	r := c.Post("/admin/setup/"+tok, url.Values{"name": {"boss"}, "password": {dashtest.AdminPassword}, "password2": {dashtest.AdminPassword + "x"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "differ") {
		t.Errorf("mismatched passwords: %d", r.Status)
	}
	// The refusals did not use the link up.
	r = c.Post("/admin/setup/"+tok, url.Values{"name": {"boss"}, "password": {dashtest.AdminPassword}, "password2": {dashtest.AdminPassword}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("good password: %d %s", r.Status, r.Body)
	}
	// Change password: policy again, and the current one must be right.
	if r := c.Login("boss", dashtest.AdminPassword); r.Status != http.StatusSeeOther {
		t.Fatal("login", r.Status)
	}
	r = c.Post("/admin/account/password", url.Values{"current": {dashtest.AdminPassword}, "new": {"Welcome2026!!"}, "new2": {"Welcome2026!!"}})
	if r.Status != http.StatusUnprocessableEntity {
		t.Errorf("common new password accepted: %d", r.Status)
	}
	r = c.Post("/admin/account/password", url.Values{"current": {"wrong"}, "new": {dashtest.DPOPassword}, "new2": {dashtest.DPOPassword}})
	if r.Status != http.StatusUnprocessableEntity {
		t.Errorf("wrong current password accepted: %d", r.Status)
	}
	r = c.Post("/admin/account/password", url.Values{"current": {dashtest.AdminPassword}, "new": {dashtest.DPOPassword}, "new2": {dashtest.DPOPassword}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("change password: %d %s", r.Status, r.Body)
	}
	if r := c.Get("/admin/account"); r.Status != http.StatusOK {
		t.Errorf("session lost after own password change: %d", r.Status)
	}
	if r := e.NewClient(t).Login("boss", dashtest.AdminPassword); r.Status != http.StatusUnauthorized {
		t.Errorf("old password still works: %d", r.Status)
	}
}

func TestLoginThrottling(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *dashtest.Env) {
		adm := e.FirstAdmin(t)
		e.AddUser(t, adm, "marie", auth.RoleAnalyst, dashtest.AnalystPassword)
		c := e.NewClient(t)
		// Three free failures, then each failure makes the next attempt
		// wait twice as long as the one before.
		for i := range 3 {
			if r := c.Login("marie", "wrong password "+string(rune('a'+i))); r.Status != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d", i+1, r.Status)
			}
		}
		if r := c.Login("marie", "wrong again"); r.Status != http.StatusUnauthorized {
			t.Fatalf("fourth failure: %d", r.Status)
		}
		r := c.Login("marie", dashtest.AnalystPassword)
		if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" {
			t.Fatalf("right password during the delay: %d Retry-After %q", r.Status, r.Header.Get("Retry-After"))
		}
		e.Clock.Advance(time.Second)
		if r := c.Login("marie", "wrong fifth"); r.Status != http.StatusUnauthorized {
			t.Fatalf("fifth failure: %d", r.Status)
		}
		r = c.Login("marie", dashtest.AnalystPassword)
		if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "2" {
			t.Fatalf("delay did not grow: %d Retry-After %q", r.Status, r.Header.Get("Retry-After"))
		}
		e.Clock.Advance(2 * time.Second)
		if r := c.Login("marie", dashtest.AnalystPassword); r.Status != http.StatusSeeOther {
			t.Fatalf("right password after the delay: %d", r.Status)
		}
		// After a success the account starts afresh.
		for range 3 {
			c.Login("marie", "wrong")
		}
		if r := c.Login("marie", "wrong"); r.Status != http.StatusUnauthorized {
			t.Fatalf("counter not reset by the success: %d", r.Status)
		}

		// Per address: one client trying many accounts is slowed down
		// after ten failures even though no single account was.
		e.Clock.Advance(time.Hour)
		spray := e.NewClient(t)
		for i := range 10 {
			if r := spray.Login("user"+string(rune('a'+i)), "guess"); r.Status != http.StatusUnauthorized {
				t.Fatalf("spray %d: %d", i, r.Status)
			}
		}
		spray.Login("userk", "guess")
		if r := spray.Login("root-admin", dashtest.AdminPassword); r.Status != http.StatusTooManyRequests {
			t.Fatalf("address not throttled after 11 failures across accounts: %d", r.Status)
		}
		var throttled, failed int
		for _, a := range e.Actions(t) {
			switch {
			case strings.HasSuffix(a, "login.throttled denied"):
				throttled++
			case strings.HasSuffix(a, "login.failed denied"):
				failed++
			}
		}
		if throttled != 3 || failed != 20 {
			t.Errorf("audit: %d throttled, %d failed logins; want 3 and 20", throttled, failed)
		}
		if m := e.Counter(t, "pixelgate_dashboard_logins_total", "throttled"); m != 3 {
			t.Errorf("throttled logins metric %v, want 3", m)
		}
		if m := e.Counter(t, "pixelgate_dashboard_logins_total", "failed"); m != 20 {
			t.Errorf("failed logins metric %v, want 20", m)
		}
	})
}

func TestSessionTimeouts(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *dashtest.Env) {
		adm := e.FirstAdmin(t)
		cfg := e.Users.Config()
		// Idle timeout.
		e.Clock.Advance(cfg.IdleTimeout - time.Minute)
		if r := adm.Get("/admin/account"); r.Status != http.StatusOK {
			t.Fatalf("within idle timeout: %d", r.Status)
		}
		e.Clock.Advance(cfg.IdleTimeout)
		if r := adm.Get("/admin/account"); r.Status != http.StatusSeeOther {
			t.Fatalf("after idle timeout: %d", r.Status)
		}
		// Absolute timeout, however active the session is.
		if r := adm.Login("root-admin", dashtest.AdminPassword); r.Status != http.StatusSeeOther {
			t.Fatal(r.Status)
		}
		step := cfg.IdleTimeout / 2
		for elapsed := step; elapsed < cfg.AbsoluteTimeout; elapsed += step {
			e.Clock.Advance(step)
			if r := adm.Get("/admin/account"); r.Status != http.StatusOK {
				t.Fatalf("active session ended after %s: %d", elapsed, r.Status)
			}
		}
		e.Clock.Advance(step)
		if r := adm.Get("/admin/account"); r.Status != http.StatusSeeOther {
			t.Fatalf("session outlived the absolute timeout: %d", r.Status)
		}
		// Logout everywhere ends the other browser's session too.
		other := e.NewClient(t)
		adm.Login("root-admin", dashtest.AdminPassword)
		other.Login("root-admin", dashtest.AdminPassword)
		if r := adm.Post("/admin/account/logout-all", nil); r.Status != http.StatusSeeOther {
			t.Fatal(r.Status)
		}
		if r := other.Get("/admin/account"); r.Status != http.StatusSeeOther {
			t.Errorf("other session survived logout everywhere: %d", r.Status)
		}
		// Logout ends this session only, and the cookie no longer works
		// even if replayed.
		adm.Login("root-admin", dashtest.AdminPassword)
		other.Login("root-admin", dashtest.AdminPassword)
		adm.Post("/admin/logout", nil)
		if r := adm.Get("/admin/account"); r.Status != http.StatusSeeOther {
			t.Errorf("session survived logout: %d", r.Status)
		}
		if r := other.Get("/admin/account"); r.Status != http.StatusOK {
			t.Errorf("logout ended another session: %d", r.Status)
		}
	})
}

func TestCookieAttributes(t *testing.T) {
	e := dashtest.New(t, dashtest.Bolt, web.Handlers{})
	e.FirstAdmin(t)
	r := e.NewClient(t).Login("root-admin", dashtest.AdminPassword)
	c := r.Header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(c, want) {
			t.Errorf("session cookie %q lacks %s", c, want)
		}
	}
	if strings.Contains(c, "Secure") {
		t.Errorf("cookie marked Secure on an http public URL: %q", c)
	}
	page := e.NewClient(t).Get("/admin/login")
	csp := page.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP %q is not strict", csp)
	}
	if strings.Contains(page.Body, "<script") || strings.Contains(page.Body, "http://") && !strings.Contains(page.Body, "xmlns") {
		t.Error("login page loads a script or a foreign resource")
	}
}

func TestResetForcesNewPassword(t *testing.T) {
	e := dashtest.New(t, dashtest.Bolt, web.Handlers{})
	adm := e.FirstAdmin(t)
	marie := e.AddUser(t, adm, "marie", auth.RoleAnalyst, dashtest.AnalystPassword)
	r := adm.Post("/admin/accounts/marie/reset", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("reset: %d", r.Status)
	}
	tok := dashtest.SetupToken(t, r.Body)
	if r := marie.Get("/admin/campaigns"); r.Status != http.StatusSeeOther {
		t.Errorf("session survived the reset: %d", r.Status)
	}
	if r := marie.Login("marie", dashtest.AnalystPassword); r.Status != http.StatusUnauthorized {
		t.Errorf("old password works after reset: %d", r.Status)
	}
	r = marie.Post("/admin/setup/"+tok, url.Values{"password": {dashtest.AnalystPassword + "!x"}, "password2": {dashtest.AnalystPassword + "!x"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("new password via link: %d %s", r.Status, r.Body)
	}
	if r := marie.Login("marie", dashtest.AnalystPassword+"!x"); r.Status != http.StatusSeeOther {
		t.Errorf("new password refused: %d", r.Status)
	}
	if r := marie.Get("/admin/setup/" + tok); r.Status != http.StatusNotFound {
		t.Errorf("reset link reusable: %d", r.Status)
	}
	// Disabling ends sessions and blocks logins.
	adm.Post("/admin/accounts/marie/disable", nil)
	if r := marie.Get("/admin/campaigns"); r.Status != http.StatusSeeOther {
		t.Errorf("disabled account's session survived: %d", r.Status)
	}
	if r := marie.Login("marie", dashtest.AnalystPassword+"!x"); r.Status != http.StatusUnauthorized {
		t.Errorf("disabled account logged in: %d", r.Status)
	}
	// The last admin cannot lock everyone out.
	if r := adm.Post("/admin/accounts/root-admin/disable", nil); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("disabling the last admin: %d", r.Status)
	}
}

func TestCrossOriginRejected(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *dashtest.Env) {
		adm := e.FirstAdmin(t)
		for _, hdr := range []map[string]string{
			{"Sec-Fetch-Site": "cross-site"},
			{"Origin": "https://attacker.example"},
		} {
			req, _ := http.NewRequest(http.MethodPost, e.URL+"/admin/accounts", strings.NewReader("name=mallory&role=admin"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			if r := adm.Do(req); r.Status != http.StatusForbidden {
				t.Errorf("cross-origin POST with %v: %d", hdr, r.Status)
			}
		}
		if _, err := e.Users.Account(context.Background(), "mallory"); err == nil {
			t.Fatal("a cross-origin request created an account")
		}
		n := 0
		for _, a := range e.Actions(t) {
			if a == "root-admin request.cross-origin denied" {
				n++
			}
		}
		if n != 2 {
			t.Errorf("cross-origin attempts audited %d times, want 2", n)
		}
	})
}

// TestAuditTrail performs every audited action once and checks the log
// names each, with who and which record, and that the SIEM got them too.
func TestAuditTrail(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *dashtest.Env) {
		ctx := context.Background()
		seedCampaign(t, e)
		adm := e.FirstAdmin(t)
		marie := e.AddUser(t, adm, "marie", auth.RoleAnalyst, dashtest.AnalystPassword)
		dpo := e.AddUser(t, adm, "paul", auth.RoleDPO, dashtest.DPOPassword)
		e.NewClient(t).Login("marie", "not her password")
		marie.Get("/admin/campaigns")
		marie.Get("/admin/campaigns/spring-sale")
		marie.Get("/admin/campaigns/spring-sale/opens.csv")
		marie.Get("/admin/campaigns.csv")
		marie.Post("/admin/logout", nil)
		addr := url.Values{"address": {"Jeanne.Martin@Example.com"}}
		dpo.Post("/admin/dsar", addr)
		r := dpo.Post("/admin/dsar/export", addr)
		if r.Status != http.StatusOK || !strings.Contains(r.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("export: %d %v", r.Status, r.Header)
		}
		dpo.Post("/admin/dsar/object", addr)
		dpo.Post("/admin/dsar/erase", url.Values{"address": addr["address"], "confirm": {"yes"}})
		dpo.Get("/admin/audit?action=dsar.")
		dpo.Post("/admin/audit/verify", nil)
		adm.Post("/admin/accounts/marie/role", url.Values{"role": {"dpo"}})
		adm.Post("/admin/accounts/marie/reset", nil)
		adm.Post("/admin/accounts/marie/disable", nil)
		adm.Post("/admin/account/tokens", url.Values{"label": {"crm"}})

		k, _ := e.Keyring.RecipientKey("Jeanne.Martin@example.com")
		rk := k.String()
		want := []consent.AuditEntry{
			{Actor: "root-admin", Action: "account.create.first-admin", Target: "root-admin"},
			{Actor: "root-admin", Action: "login", Target: "root-admin"},
			{Actor: "root-admin", Action: "account.add", Target: "marie"},
			{Actor: "marie", Action: "account.password.set", Target: "marie"},
			{Actor: "marie", Action: "login.failed", Target: "marie", Result: "denied"},
			{Actor: "marie", Action: "campaigns.view", Target: "all"},
			{Actor: "marie", Action: "campaign.view", Target: "campaign:spring-sale"},
			{Actor: "marie", Action: "campaign.export", Target: "campaign:spring-sale"},
			{Actor: "marie", Action: "campaigns.export", Target: "all"},
			{Actor: "marie", Action: "logout", Target: "marie"},
			{Actor: "paul", Action: "dsar.lookup", Target: rk},
			{Actor: "paul", Action: "dsar.export", Target: rk},
			{Actor: "paul", Action: "dsar.object", Target: rk},
			{Actor: "paul", Action: "consent.withdraw", Target: rk},
			{Actor: "paul", Action: "dsar.erase", Target: rk},
			{Actor: "paul", Action: "audit.view", Target: "audit"},
			{Actor: "paul", Action: "audit.verify", Target: "audit"},
			{Actor: "root-admin", Action: "account.role", Target: "marie"},
			{Actor: "root-admin", Action: "account.reset", Target: "marie"},
			{Actor: "root-admin", Action: "account.disable", Target: "marie"},
			{Actor: "root-admin", Action: "apitoken.create"},
		}
		got, err := e.Store.ReadAudit(ctx, consent.AuditQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if w.Result == "" {
				w.Result = "ok"
			}
			found := false
			for _, g := range got {
				if g.Actor == w.Actor && g.Action == w.Action && g.Result == w.Result && (w.Target == "" || g.Target == w.Target) && !g.At.IsZero() {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("no audit entry %+v", w)
			}
		}
		for _, g := range got {
			if strings.Contains(strings.ToLower(g.Target+g.Detail), "jeanne") {
				t.Errorf("audit entry holds the address: %+v", g)
			}
		}
		siem := e.SIEM.String()
		if n := strings.Count(siem, "\n"); n != len(got) {
			t.Errorf("SIEM got %d lines for %d entries", n, len(got))
		}
		if !strings.Contains(siem, `"type":"pixelgate.audit"`) || !strings.Contains(siem, `"action":"dsar.erase"`) {
			t.Errorf("SIEM lines lack entries: %.300s", siem)
		}
		if v, err := e.Store.VerifyAudit(ctx); err != nil || !v.OK {
			t.Errorf("chain does not verify: %+v %v", v, err)
		}
	})
}

// seedCampaign records sends and opens through the store API, as the relay
// and the pixel endpoint do.
func seedCampaign(t *testing.T, e *dashtest.Env) consent.Key {
	t.Helper()
	ctx := context.Background()
	now := e.Clock.Now()
	var keys []consent.Key
	for i, addr := range []string{"jeanne.martin@example.com", "luc@example.org", "ana@example.net", "zoe@example.com"} {
		k, err := e.Keyring.RecipientKey(addr)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		if i < 3 {
			if _, err := e.Store.Grant(ctx, k, consent.Evidence{Source: consent.SourceConsentPage, PolicyVersion: "v1",
				TextHash: strings.Repeat("ab", 32)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Store.RecordSend(ctx, consent.Send{Campaign: "spring-sale", CampaignName: "Spring sale", Granted: i < 3, At: now}); err != nil {
			t.Fatal(err)
		}
	}
	for i, k := range keys[:2] {
		if _, err := e.Store.RecordOpen(ctx, consent.Open{Key: k, Campaign: "spring-sale", At: now.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Store.RecordOpen(ctx, consent.Open{Key: keys[2], Campaign: "spring-sale", At: now, Machine: true}); err != nil {
		t.Fatal(err)
	}
	return keys[0]
}
