package admin

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/passhash"
	"github.com/pixelgate/pixelgate/web/auditlog"
	"github.com/pixelgate/pixelgate/web/auth"
)

func (s *server) setCookie(w http.ResponseWriter, tok string) {
	// No Max-Age: a browser session cookie; the server enforces the idle
	// and absolute timeouts. SameSite=Strict: never sent on a request
	// started by another site.
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: tok, Path: "/", HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteStrictMode})
}

func (s *server) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteStrictMode})
}

type loginData struct {
	Name string
	Next string
}

// safeNext keeps the post-login redirect inside the dashboard.
func safeNext(next string) string {
	if strings.HasPrefix(next, Prefix+"/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return Prefix + "/"
}

func (s *server) loginForm(w http.ResponseWriter, r *http.Request) {
	if _, ok := accountOf(r); ok {
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
		return
	}
	s.render(w, r, 0, "login", view{Title: "Log in", Data: loginData{Next: safeNext(r.URL.Query().Get("next"))}})
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(strings.ToLower(r.PostFormValue("name")))
	next := safeNext(r.PostFormValue("next"))
	tok, a, err := s.users.Login(r.Context(), auth.LoginRequest{
		Name: name, Password: r.PostFormValue("password"), Code: r.PostFormValue("code"), Addr: clientAddr(r)})
	data := loginData{Name: name, Next: next}
	var throttled *auth.ThrottledError
	switch {
	case errors.As(err, &throttled):
		s.metrics.logins.WithLabelValues("throttled").Inc()
		s.audit.Note(r.Context(), consent.AuditEntry{Actor: auditActor(name), Action: "login.throttled", Target: name, Result: auditlog.ResultDenied})
		w.Header().Set("Retry-After", retryAfter(throttled))
		s.render(w, r, http.StatusTooManyRequests, "login", view{Title: "Log in", Error: throttled.Error(), Data: data})
		return
	case errors.Is(err, auth.ErrBadLogin):
		s.metrics.logins.WithLabelValues("failed").Inc()
		s.audit.Note(r.Context(), consent.AuditEntry{Actor: auditActor(name), Action: "login.failed", Target: name, Result: auditlog.ResultDenied})
		s.render(w, r, http.StatusUnauthorized, "login", view{Title: "Log in", Error: err.Error(), Data: data})
		return
	case errors.Is(err, passhash.ErrBusy):
		// Not a wrong password: no hash ran and nothing was counted.
		s.metrics.logins.WithLabelValues("busy").Inc()
		w.Header().Set("Retry-After", "5")
		s.errorPage(w, r, http.StatusServiceUnavailable, "Too many logins at once; try again in a moment.")
		return
	case err != nil:
		s.log.Error("login", "err", err)
		s.errorPage(w, r, http.StatusServiceUnavailable, "The store is unavailable; try again shortly.")
		return
	}
	s.metrics.logins.WithLabelValues("ok").Inc()
	s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: "login", Target: a.Name})
	s.setCookie(w, tok)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// auditActor names the claimed account of a failed login only when it is a
// valid account name, so a password typed in the name field is not copied
// into the audit log.
func auditActor(name string) string {
	if auth.ValidName(name) == nil {
		return name
	}
	return "unknown"
}

func retryAfter(t *auth.ThrottledError) string {
	secs := int(t.Wait.Seconds() + 0.999)
	return strconv.Itoa(max(secs, 1))
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	if a, ok := accountOf(r); ok {
		if err := s.users.Logout(r.Context(), tokenOf(r)); err != nil {
			s.log.Error("logout", "err", err)
		}
		s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: "logout", Target: a.Name})
	}
	s.clearCookie(w)
	http.Redirect(w, r, Prefix+"/login?done=loggedout", http.StatusSeeOther)
}

type setupData struct {
	Link auth.SetupLink
	Name string
}

func (s *server) setupForm(w http.ResponseWriter, r *http.Request) {
	l, err := s.users.PeekLink(r.Context(), chi.URLParam(r, "token"))
	if err != nil {
		s.setupError(w, r, err)
		return
	}
	s.render(w, r, 0, "setup", view{Title: setupTitle(l), Data: setupData{Link: l}})
}

func setupTitle(l auth.SetupLink) string {
	if l.Purpose == auth.PurposeFirstAdmin {
		return "Create the first administrator"
	}
	return "Choose your password"
}

func (s *server) setupError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, auth.ErrLinkInvalid) {
		s.errorPage(w, r, http.StatusNotFound, err.Error())
		return
	}
	s.log.Error("setup link", "err", err)
	s.errorPage(w, r, http.StatusServiceUnavailable, "The store is unavailable; try again shortly.")
}

func (s *server) setup(w http.ResponseWriter, r *http.Request) {
	tok := chi.URLParam(r, "token")
	l, err := s.users.PeekLink(r.Context(), tok)
	if err != nil {
		s.setupError(w, r, err)
		return
	}
	name := strings.TrimSpace(strings.ToLower(r.PostFormValue("name")))
	pw := r.PostFormValue("password")
	data := setupData{Link: l, Name: name}
	if pw != r.PostFormValue("password2") {
		s.render(w, r, http.StatusUnprocessableEntity, "setup", view{Title: setupTitle(l), Error: "The two passwords differ.", Data: data})
		return
	}
	a, err := s.users.RedeemLink(r.Context(), tok, name, pw)
	if err != nil {
		if auth.IsPolicyError(err) || errors.Is(err, auth.ErrAccountExists) || auth.ValidName(name) != nil && l.Purpose == auth.PurposeFirstAdmin {
			s.render(w, r, http.StatusUnprocessableEntity, "setup", view{Title: setupTitle(l), Error: err.Error(), Data: data})
			return
		}
		s.setupError(w, r, err)
		return
	}
	action, done := "account.password.set", "password-set"
	if l.Purpose == auth.PurposeFirstAdmin {
		action, done = "account.create.first-admin", "first-admin"
	}
	s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: action, Target: a.Name})
	// The login page says what just happened (a flash chosen by key, so
	// no text from the URL is echoed); the name field is left empty
	// rather than carrying the account name in the URL.
	http.Redirect(w, r, Prefix+"/login?done="+done, http.StatusSeeOther)
}
