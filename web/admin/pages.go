package admin

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pixelgate/pixelgate/web/auth"
	"github.com/pixelgate/pixelgate/web/static"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

type pageSet struct {
	pages map[string]*template.Template
	css   string // versioned URL of admin.css
	icon  string // versioned URL of the shared favicon
}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"day": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02")
	},
	"num":          thousands,
	"campaignPath": campaignPath,
	"count":        count,
	"of":           of,
	"pct": func(v float64, ok bool) string {
		if !ok {
			return "—"
		}
		return percent(v)
	},
}

// percent writes a share (0..1) as the dashboard's tables do: "83.3 %".
func percent(v float64) string {
	return strconv.FormatFloat(v*100, 'f', 1, 64) + " %"
}

func loadPages() (*pageSet, error) {
	base, err := template.New("base").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("parse layout template: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	ps := &pageSet{pages: map[string]*template.Template{}}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", n, err)
		}
		ps.pages[name] = t
	}
	css, err := fs.ReadFile(assetFS, "assets/admin.css")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(css)
	ps.css = Prefix + "/assets/admin.css?v=" + hex.EncodeToString(sum[:6])
	ps.icon = static.URL("favicon.svg")
	return ps, nil
}

// thousands formats 1234567 as "1 234 567" (thin space), readable in both
// English and French.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u202f")
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// count is n with its noun, singular for exactly one: "1 email",
// "2 emails", "0 emails". Nouns are the dashboard's own (email, recipient,
// open, click), all plural with an s.
func count(n int64, noun string) string {
	if n != 1 {
		noun += "s"
	}
	return thousands(n) + " " + noun
}

// of is the count behind a share: "1 of 2 emails", so no percentage is
// shown without the numbers it was computed from.
func of(part, whole int64, noun string) string {
	return thousands(part) + " of " + count(whole, noun)
}

type navItem struct {
	Href, Label string
	Current     bool
}

// view is what every page template gets.
type view struct {
	Title   string
	CSS     string
	Icon    string // versioned URL of the favicon
	Account *auth.Account
	Nav     []navItem
	Flash   string
	Error   string
	// Scope says what the figures on the page cover; ScopeLabel introduces
	// it ("What these figures cover:" unless set).
	Scope      string
	ScopeLabel string
	Data       any
}

func (s *server) nav(a *auth.Account, path string) []navItem {
	if a == nil || a.NeedsPassword() {
		return nil
	}
	var items []navItem
	add := func(href, label string) {
		items = append(items, navItem{href, label, path == href || strings.HasPrefix(path, href+"/")})
	}
	if a.Role.Can(auth.SeeStatistics) {
		add(Prefix+"/campaigns", "Campaigns")
		add(Prefix+"/consent", "Consent")
	}
	if a.Role.Can(auth.ServeDataSubjects) {
		add(Prefix+"/dsar", "Data-subject requests")
	}
	if a.Role.Can(auth.ReadAudit) {
		add(Prefix+"/audit", "Audit log")
	}
	if a.Role.Can(auth.ManageAccounts) {
		add(Prefix+"/accounts", "Accounts")
		add(Prefix+"/settings", "Settings")
	}
	add(Prefix+"/account", "My account")
	return items
}

// render writes page name with data; status 0 means 200.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	t, ok := s.pages.pages[name]
	if !ok {
		s.log.Error("missing template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if a, ok := accountOf(r); ok {
		v.Account = &a
	}
	v.CSS = s.pages.css
	v.Icon = s.pages.icon
	if v.ScopeLabel == "" {
		v.ScopeLabel = "What these figures cover:"
	}
	v.Nav = s.nav(v.Account, r.URL.Path)
	if v.Flash == "" {
		v.Flash = flashes[r.URL.Query().Get("done")]
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if status != 0 {
		w.WriteHeader(status)
	}
	_, _ = w.Write(buf.Bytes())
}

func (s *server) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, "error", view{Title: http.StatusText(status), Error: msg})
}

// flashes are the confirmations shown after a redirect (?done=...), so no
// user-supplied text is ever echoed from a URL.
var flashes = map[string]string{
	"password":   "Your password was changed. Your other sessions were ended.",
	"logout-all": "All your other sessions were ended.",
	"totp-on":    "Two-step login is on: from now on, logging in asks for a code from your app.",
	"totp-off":   "Two-step login is off.",
	"revoked":    "The API token was revoked.",
	"disabled":   "The account was disabled and its sessions ended.",
	"enabled":    "The account was enabled.",
	"role":       "The role was changed; the account's sessions were ended.",
	"loggedout":  "You are logged out.",
	"first-admin": "The first administrator account is created. Log in with it below, then add everyone else's " +
		"accounts on the Accounts page.",
	"password-set": "Your password is set. Log in with it below.",
}

func (s *server) asset(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	b, err := fs.ReadFile(assetFS, "assets/"+name)
	if err != nil || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(b)
}
