package admin_test

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/web"
	"github.com/pixelgate/pixelgate/web/admin"
	"github.com/pixelgate/pixelgate/web/auditlog"
	"github.com/pixelgate/pixelgate/web/auth"
	"github.com/pixelgate/pixelgate/web/dashtest"
	"github.com/pixelgate/pixelgate/web/webdeps"
)

// TestSecureCookieOnHTTPS: behind an https public URL the session cookie is
// Secure and __Host- prefixed, and the router as serve builds it sends HSTS.
func TestSecureCookieOnHTTPS(t *testing.T) {
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: filepath.Join(t.TempDir(), "keys")})
	if err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "s.db"), boltstore.Options{StoreOptions: consent.StoreOptions{Audit: kr.AuditChain()}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	users, err := auth.New(st.SharedKV(), auth.Config{Hash: dashtest.FastHash, ThrottleKey: kr.ThrottleKey()}, time.Now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	adm, err := admin.New(admin.Config{PublicURL: "https://dash.example"}, webdeps.Deps{Store: st, Keyring: kr, Users: users,
		Audit: auditlog.New(st, nil, nil, nil)})
	if err != nil {
		t.Fatal(err)
	}
	h := web.NewRouter(web.Handlers{Admin: adm, HSTS: true})
	tok, _ := users.FirstRunLink(t.Context())
	if _, err := users.RedeemLink(t.Context(), tok, "boss", dashtest.AdminPassword); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "https://dash.example/admin/login",
		strings.NewReader(url.Values{"name": {"boss"}, "password": {dashtest.AdminPassword}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	c := rec.Header().Get("Set-Cookie")
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(c, "__Host-pixelgate_session=") || !strings.Contains(c, "Secure") ||
		!strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Strict") || strings.Contains(c, "Domain=") {
		t.Errorf("login %d, cookie %q", rec.Code, c)
	}
	if rec.Header().Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS on an https deployment")
	}
}
