package admin_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/web"
	"github.com/pixelgate/pixelgate/web/auth"
	"github.com/pixelgate/pixelgate/web/dashtest"
)

func TestTwoStepLogin(t *testing.T) {
	e := dashtest.New(t, dashtest.Bolt, web.Handlers{})
	adm := e.FirstAdmin(t)
	r := adm.Post("/admin/account/totp/begin", nil)
	m := regexp.MustCompile(`<code class="secret">([A-Z2-7]{32})</code>`).FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("no TOTP secret shown: %s", r.Body)
	}
	secret := m[1]
	if r := adm.Post("/admin/account/totp/confirm", url.Values{"code": {"000000"}}); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("wrong confirmation code accepted: %d", r.Status)
	}
	// The failed confirmation dropped nothing: the pending secret stays.
	code, _ := auth.TOTPCode(secret, e.Clock.Now())
	if r := adm.Post("/admin/account/totp/confirm", url.Values{"code": {code}}); r.Status != http.StatusSeeOther {
		t.Fatalf("confirm: %d %s", r.Status, r.Body)
	}
	c := e.NewClient(t)
	if r := c.Login("root-admin", dashtest.AdminPassword); r.Status != http.StatusUnauthorized {
		t.Fatalf("login without the code: %d", r.Status)
	}
	e.Clock.Advance(30 * time.Second)
	code, _ = auth.TOTPCode(secret, e.Clock.Now())
	login := func(code string) int {
		return c.Post("/admin/login", url.Values{"name": {"root-admin"}, "password": {dashtest.AdminPassword}, "code": {code}}).Status
	}
	if st := login(code); st != http.StatusSeeOther {
		t.Fatalf("login with the code: %d", st)
	}
	// The same code cannot be used twice (RFC 6238 §5.2).
	if st := e.NewClient(t).Post("/admin/login", url.Values{"name": {"root-admin"}, "password": {dashtest.AdminPassword}, "code": {code}}).Status; st != http.StatusUnauthorized {
		t.Errorf("replayed code: %d", st)
	}
	if r := c.Get("/admin/account"); !strings.Contains(r.Body, "Two-step login is <strong>on</strong>") {
		t.Error("account page does not show two-step login on")
	}
	if r := c.Post("/admin/account/totp/disable", url.Values{"password": {dashtest.AdminPassword}}); r.Status != http.StatusSeeOther {
		t.Fatalf("disable: %d", r.Status)
	}
	if r := e.NewClient(t).Login("root-admin", dashtest.AdminPassword); r.Status != http.StatusSeeOther {
		t.Errorf("login without code after disabling: %d", r.Status)
	}
}
