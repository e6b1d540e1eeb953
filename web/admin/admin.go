// Package admin is the dashboard under /admin: campaign and consent
// statistics for the marketing team, the data protection officer's
// data-subject requests, the audit log viewer and account management (R10,
// R11). Pages are rendered on the server, charts are inline SVG, and no page
// needs JavaScript, so the Content-Security-Policy can forbid scripts
// entirely.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/web/auditlog"
	"github.com/pixelgate/pixelgate/web/auth"
	"github.com/pixelgate/pixelgate/web/webdeps"
)

// Prefix is where the router mounts the dashboard.
const Prefix = "/admin"

// Config is the dashboard's own settings.
type Config struct {
	// PublicURL is the external base URL (--public-url). An https URL makes
	// the session cookie Secure (and __Host- prefixed).
	PublicURL string
	// Issuer names the deployment in authenticator apps [pixelgate].
	Issuer string
	// AuditLogOutput says where audit entries are copied for a SIEM
	// (--audit-log), shown on the settings page; "" when nowhere.
	AuditLogOutput string
	// Ready is the detailed readiness check, shown to admins on the
	// settings page: the public /readyz only says whether; nil hides it.
	Ready func(ctx context.Context) error
}

type server struct {
	cfg     Config
	st      consent.Store
	kr      *consent.Keyring
	users   *auth.Service
	audit   *auditlog.Recorder
	log     *slog.Logger
	now     func() time.Time
	secure  bool
	cookie  string
	base    *url.URL
	pages   *pageSet
	csrf    *http.CrossOriginProtection
	metrics metrics
	handler http.Handler
}

// New builds the dashboard handler. It serves paths below Prefix.
func New(cfg Config, d webdeps.Deps) (http.Handler, error) {
	d, err := d.Complete()
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "pixelgate"
	}
	base, err := url.Parse(cfg.PublicURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("admin: public URL %q: want http(s)://host[:port]", cfg.PublicURL)
	}
	pages, err := loadPages()
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, st: d.Store, kr: d.Keyring, users: d.Users, audit: d.Audit, log: d.Logger,
		now: d.Now, secure: base.Scheme == "https", base: base, pages: pages, metrics: newMetrics(d.Registerer)}
	s.cookie = "pixelgate_session"
	if s.secure {
		// __Host- makes browsers refuse the cookie unless Secure, Path=/
		// and host-only: no sibling subdomain can plant or read it.
		s.cookie = "__Host-pixelgate_session"
	}
	s.csrf = http.NewCrossOriginProtection()
	s.csrf.SetDenyHandler(http.HandlerFunc(s.crossOriginDenied))
	s.handler = s.routes()
	return s.handler, nil
}

func (s *server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.securityHeaders, s.csrf.Handler, s.loadSession)
	r.Get(Prefix+"/assets/{name}", s.asset)
	r.Get(Prefix+"/login", s.loginForm)
	r.Post(Prefix+"/login", s.login)
	r.Post(Prefix+"/logout", s.logout)
	r.Get(Prefix+"/setup/{token}", s.setupForm)
	r.Post(Prefix+"/setup/{token}", s.setup)

	r.Group(func(r chi.Router) {
		r.Use(s.requireLogin)
		r.Get(Prefix, s.home)
		r.Get(Prefix+"/", s.home)
		r.Get(Prefix+"/account", s.accountPage)
		r.Post(Prefix+"/account/password", s.changePassword)
		r.Post(Prefix+"/account/logout-all", s.logoutAll)
		r.Post(Prefix+"/account/totp/begin", s.totpBegin)
		r.Post(Prefix+"/account/totp/confirm", s.totpConfirm)
		r.Post(Prefix+"/account/totp/disable", s.totpDisable)
		r.Post(Prefix+"/account/tokens", s.tokenCreate)
		r.Post(Prefix+"/account/tokens/{id}/revoke", s.tokenRevoke)

		r.With(s.require(auth.SeeStatistics)).Group(func(r chi.Router) {
			r.Get(Prefix+"/campaigns", s.campaigns)
			r.Get(Prefix+"/campaigns.csv", s.campaignsCSV)
			r.Get(Prefix+"/campaigns/{id}", s.campaign)
			r.Get(Prefix+"/campaigns/{id}/opens.csv", s.campaignCSV)
			r.Get(Prefix+"/consent", s.consentStats)
			r.Get(Prefix+"/consent.csv", s.consentCSV)
		})
		r.With(s.require(auth.ReadAudit)).Group(func(r chi.Router) {
			r.Get(Prefix+"/audit", s.auditView)
			r.Post(Prefix+"/audit/verify", s.auditVerify)
		})
		r.With(s.require(auth.ServeDataSubjects)).Group(func(r chi.Router) {
			r.Get(Prefix+"/dsar", s.dsarForm)
			r.Post(Prefix+"/dsar", s.dsarLookup)
			r.Post(Prefix+"/dsar/export", s.dsarExport)
			r.Post(Prefix+"/dsar/erase", s.dsarErase)
			r.Post(Prefix+"/dsar/object", s.dsarObject)
		})
		r.With(s.require(auth.ManageAccounts)).Group(func(r chi.Router) {
			r.Get(Prefix+"/accounts", s.accounts)
			r.Get(Prefix+"/settings", s.settings)
			r.Post(Prefix+"/accounts", s.accountAdd)
			r.Post(Prefix+"/accounts/{name}/reset", s.accountReset)
			r.Post(Prefix+"/accounts/{name}/disable", s.accountDisable)
			r.Post(Prefix+"/accounts/{name}/enable", s.accountEnable)
			r.Post(Prefix+"/accounts/{name}/role", s.accountRole)
		})
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, http.StatusNotFound, "There is no such page.")
	})
	return r
}

// csp forbids scripts, inline styles, frames and every foreign origin: the
// dashboard is plain HTML and inline SVG with one same-origin stylesheet.
const csp = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

func (s *server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		// Pages carry personal and per-campaign data: never cache them.
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// crossOriginDenied answers a state-changing request from another origin
// (CSRF) and records the attempt.
func (s *server) crossOriginDenied(w http.ResponseWriter, r *http.Request) {
	s.metrics.denied.WithLabelValues("cross-origin").Inc()
	actor := "anonymous"
	if c, err := r.Cookie(s.cookie); err == nil {
		if _, a, err := s.users.Authenticate(r.Context(), c.Value); err == nil {
			actor = a.Name
		}
	}
	s.audit.Note(r.Context(), consent.AuditEntry{Actor: actor, Action: "request.cross-origin", Target: r.URL.Path, Result: auditlog.ResultDenied})
	s.errorPage(w, r, http.StatusForbidden, "This request came from another site and was refused. Use the dashboard's own forms.")
}

type ctxKey int

const (
	ctxAccount ctxKey = iota
	ctxToken
)

// loadSession attaches the logged-in account, if any, to the request.
func (s *server) loadSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(s.cookie)
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		_, a, err := s.users.Authenticate(r.Context(), c.Value)
		switch {
		case errors.Is(err, auth.ErrNoSession):
			s.clearCookie(w)
		case err != nil:
			s.log.Error("read session", "err", err)
			s.errorPage(w, r, http.StatusServiceUnavailable, "The store is unavailable; try again shortly.")
			return
		default:
			ctx := context.WithValue(r.Context(), ctxAccount, a)
			ctx = context.WithValue(ctx, ctxToken, c.Value)
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

func accountOf(r *http.Request) (auth.Account, bool) {
	a, ok := r.Context().Value(ctxAccount).(auth.Account)
	return a, ok
}

func tokenOf(r *http.Request) string {
	t, _ := r.Context().Value(ctxToken).(string)
	return t
}

func (s *server) requireLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := accountOf(r); !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, Prefix+"/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.errorPage(w, r, http.StatusUnauthorized, "Your session has ended. Log in again.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// require refuses, and records, requests from roles without permission p.
func (s *server) require(p auth.Permission) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a, _ := accountOf(r)
			if !a.Role.Can(p) {
				s.metrics.denied.WithLabelValues("role").Inc()
				s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: "access.denied", Target: r.URL.Path, Result: auditlog.ResultDenied,
					Detail: "role " + string(a.Role)})
				s.errorPage(w, r, http.StatusForbidden, "Your role ("+string(a.Role)+") does not give access to this page.")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// mustRecord writes the audit entry of a read of personal or per-campaign
// data before the data is shown; when it cannot be written the data is not
// shown (R10).
func (s *server) mustRecord(w http.ResponseWriter, r *http.Request, e consent.AuditEntry) bool {
	if _, err := s.audit.Record(r.Context(), e); err != nil {
		s.errorPage(w, r, http.StatusServiceUnavailable, "The audit log cannot be written, so this data is not shown. Try again shortly.")
		return false
	}
	return true
}

func (s *server) home(w http.ResponseWriter, r *http.Request) {
	a, _ := accountOf(r)
	dest := Prefix + "/campaigns"
	if a.Role == auth.RoleDPO {
		dest = Prefix + "/dsar"
	}
	http.Redirect(w, r, dest, http.StatusSeeOther)
}

// clientAddr is the peer address used for login throttling.
func clientAddr(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	return host
}

// SetupURL is the full one-time link for a setup token, printed by the CLI
// and `serve` and shown to admins.
func SetupURL(publicURL, token string) string {
	return strings.TrimRight(publicURL, "/") + Prefix + "/setup/" + token
}
