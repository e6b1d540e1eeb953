package admin

import (
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/web/auth"
)

type accountsData struct {
	Accounts []auth.Account
	Roles    []auth.Role
	// NewLink is a one-time link just issued, shown once.
	NewLink, NewLinkFor string
	Name                string
	Role                auth.Role
}

func (s *server) renderAccounts(w http.ResponseWriter, r *http.Request, status int, d accountsData, errMsg, flash string) {
	list, err := s.users.Accounts(r.Context())
	if err != nil {
		s.storeDown(w, r, "list accounts", err)
		return
	}
	d.Accounts, d.Roles = list, auth.Roles
	s.render(w, r, status, "accounts", view{Title: "Accounts", Error: errMsg, Flash: flash, Data: d,
		ScopeLabel: "About accounts:", Scope: "Every person has their own account; there are no shared accounts. Analysts see aggregate figures only; the DPO serves data-subject requests and reads the audit log; admins manage accounts and read the audit log."})
}

func (s *server) accounts(w http.ResponseWriter, r *http.Request) {
	s.renderAccounts(w, r, 0, accountsData{Role: auth.RoleAnalyst}, "", "")
}

func (s *server) accountAdd(w http.ResponseWriter, r *http.Request) {
	a, _ := accountOf(r)
	name := strings.TrimSpace(strings.ToLower(r.PostFormValue("name")))
	role, err := auth.ParseRole(r.PostFormValue("role"))
	var tok string
	if err == nil {
		tok, err = s.users.AddAccount(r.Context(), name, role)
	}
	if err != nil {
		s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: "account.add", Target: auditActor(name), Result: "failed: " + err.Error()})
		s.renderAccounts(w, r, http.StatusUnprocessableEntity, accountsData{Name: name, Role: role}, err.Error(), "")
		return
	}
	s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: "account.add", Target: name, Detail: "role " + string(role)})
	s.renderAccounts(w, r, 0, accountsData{NewLink: SetupURL(s.base.String(), tok), NewLinkFor: name, Role: auth.RoleAnalyst}, "",
		"Account "+name+" created. Give this one-time link to its owner, who will choose a password with it.")
}

// accountChange runs one change on the named account and records it.
func (s *server) accountChange(w http.ResponseWriter, r *http.Request, action string, change func(name string) error, done string) {
	a, _ := accountOf(r)
	name := chi.URLParam(r, "name")
	if err := change(name); err != nil {
		s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: action, Target: auditActor(name), Result: "failed: " + err.Error()})
		status := http.StatusUnprocessableEntity
		if !errors.Is(err, auth.ErrNoAccount) && !errors.Is(err, auth.ErrLastAdmin) && !strings.Contains(err.Error(), "role") {
			s.storeDown(w, r, action, err)
			return
		}
		s.renderAccounts(w, r, status, accountsData{Role: auth.RoleAnalyst}, err.Error(), "")
		return
	}
	detail := ""
	if action == "account.role" {
		detail = "role " + r.PostFormValue("role")
	}
	s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: action, Target: name, Detail: detail})
	http.Redirect(w, r, Prefix+"/accounts?done="+done, http.StatusSeeOther)
}

func (s *server) accountReset(w http.ResponseWriter, r *http.Request) {
	a, _ := accountOf(r)
	name := chi.URLParam(r, "name")
	tok, err := s.users.ResetAccount(r.Context(), name)
	if err != nil {
		s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: "account.reset", Target: auditActor(name), Result: "failed: " + err.Error()})
		s.renderAccounts(w, r, http.StatusUnprocessableEntity, accountsData{Role: auth.RoleAnalyst}, err.Error(), "")
		return
	}
	s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: "account.reset", Target: name})
	if name == a.Name {
		s.clearCookie(w)
	}
	s.renderAccounts(w, r, 0, accountsData{NewLink: SetupURL(s.base.String(), tok), NewLinkFor: name, Role: auth.RoleAnalyst}, "",
		"The password of "+name+" no longer works and its sessions are ended. Give this one-time link to its owner to choose a new one.")
}

func (s *server) accountDisable(w http.ResponseWriter, r *http.Request) {
	s.accountChange(w, r, "account.disable", func(n string) error { return s.users.SetDisabled(r.Context(), n, true) }, "disabled")
}

func (s *server) accountEnable(w http.ResponseWriter, r *http.Request) {
	s.accountChange(w, r, "account.enable", func(n string) error { return s.users.SetDisabled(r.Context(), n, false) }, "enabled")
}

func (s *server) accountRole(w http.ResponseWriter, r *http.Request) {
	s.accountChange(w, r, "account.role", func(n string) error {
		role, err := auth.ParseRole(r.PostFormValue("role"))
		if err != nil {
			return err
		}
		return s.users.SetRole(r.Context(), n, role)
	}, "role")
}

// Self-service: password, second factor, API tokens, sessions.

type accountData struct {
	Tokens []auth.APIToken
	// NewToken is shown once, right after creation.
	NewToken   string
	TOTPSecret string
	TOTPURI    string
	TOTPQR     template.HTML
	Policy     string
	// Idle and Max are the session timeouts in force.
	Idle, Max string
}

const policyText = "At least 12 characters mixing upper case, lower case, digits and symbols; or at least 14 mixing three of those; or a passphrase of at least 7 words. Common passwords are refused."

func (s *server) renderAccount(w http.ResponseWriter, r *http.Request, status int, d accountData, errMsg, flash string) {
	a, _ := accountOf(r)
	toks, err := s.users.APITokens(r.Context(), a.Name)
	if err != nil {
		s.storeDown(w, r, "list API tokens", err)
		return
	}
	d.Tokens, d.Policy = toks, policyText
	cfg := s.users.Config()
	d.Idle, d.Max = humanDuration(cfg.IdleTimeout), humanDuration(cfg.AbsoluteTimeout)
	s.render(w, r, status, "account", view{Title: "My account", Error: errMsg, Flash: flash, Data: d})
}

func (s *server) accountPage(w http.ResponseWriter, r *http.Request) {
	s.renderAccount(w, r, 0, accountData{}, "", "")
}

func (s *server) changePassword(w http.ResponseWriter, r *http.Request) {
	a, _ := accountOf(r)
	next := r.PostFormValue("new")
	if next != r.PostFormValue("new2") {
		s.renderAccount(w, r, http.StatusUnprocessableEntity, accountData{}, "The two new passwords differ.", "")
		return
	}
	tok, err := s.users.ChangePasswordSession(r.Context(), a.Name, r.PostFormValue("current"), next, tokenOf(r))
	if err != nil {
		s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: "account.password.change", Target: a.Name, Result: "failed: " + err.Error()})
		if auth.IsPolicyError(err) || errors.Is(err, auth.ErrWrongPassword) || errors.Is(err, auth.ErrSamePassword) {
			s.renderAccount(w, r, http.StatusUnprocessableEntity, accountData{}, err.Error(), "")
			return
		}
		s.storeDown(w, r, "change password", err)
		return
	}
	s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: "account.password.change", Target: a.Name})
	s.setCookie(w, tok)
	http.Redirect(w, r, Prefix+"/account?done=password", http.StatusSeeOther)
}

func (s *server) logoutAll(w http.ResponseWriter, r *http.Request) {
	a, _ := accountOf(r)
	if err := s.users.LogoutEverywhere(r.Context(), a.Name); err != nil {
		s.storeDown(w, r, "logout everywhere", err)
		return
	}
	s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: "logout.everywhere", Target: a.Name})
	s.clearCookie(w)
	http.Redirect(w, r, Prefix+"/login?done=loggedout", http.StatusSeeOther)
}

func (s *server) totpBegin(w http.ResponseWriter, r *http.Request) {
	a, _ := accountOf(r)
	secret, uri, err := s.users.BeginTOTP(r.Context(), a.Name, s.cfg.Issuer)
	if err != nil {
		s.storeDown(w, r, "begin TOTP", err)
		return
	}
	code, err := qrSVG(uri)
	if err != nil {
		s.log.Error("TOTP QR code", "err", err) // the key and URI below still work
	}
	s.renderAccount(w, r, 0, accountData{TOTPSecret: secret, TOTPURI: uri, TOTPQR: code}, "", "")
}

func (s *server) totpConfirm(w http.ResponseWriter, r *http.Request) {
	a, _ := accountOf(r)
	if err := s.users.ConfirmTOTP(r.Context(), a.Name, r.PostFormValue("code")); err != nil {
		s.renderAccount(w, r, http.StatusUnprocessableEntity, accountData{}, err.Error()+" Start again.", "")
		return
	}
	s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: "account.totp.enable", Target: a.Name})
	http.Redirect(w, r, Prefix+"/account?done=totp-on", http.StatusSeeOther)
}

func (s *server) totpDisable(w http.ResponseWriter, r *http.Request) {
	a, _ := accountOf(r)
	if err := s.users.DisableTOTP(r.Context(), a.Name, r.PostFormValue("password")); err != nil {
		s.renderAccount(w, r, http.StatusUnprocessableEntity, accountData{}, err.Error(), "")
		return
	}
	s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: "account.totp.disable", Target: a.Name})
	http.Redirect(w, r, Prefix+"/account?done=totp-off", http.StatusSeeOther)
}

func (s *server) tokenCreate(w http.ResponseWriter, r *http.Request) {
	a, _ := accountOf(r)
	plain, t, err := s.users.CreateAPIToken(r.Context(), a.Name, r.PostFormValue("label"))
	if err != nil {
		s.renderAccount(w, r, http.StatusUnprocessableEntity, accountData{}, err.Error(), "")
		return
	}
	s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: "apitoken.create", Target: "token:" + t.ID, Detail: t.Label})
	s.renderAccount(w, r, 0, accountData{NewToken: plain}, "",
		"API token created. Copy it now: it is shown only once and stored only as a hash.")
}

func (s *server) tokenRevoke(w http.ResponseWriter, r *http.Request) {
	a, _ := accountOf(r)
	id := chi.URLParam(r, "id")
	t, err := s.users.RevokeAPIToken(r.Context(), a.Name, id)
	if err != nil {
		s.renderAccount(w, r, http.StatusNotFound, accountData{}, err.Error(), "")
		return
	}
	s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: "apitoken.revoke", Target: "token:" + t.ID, Detail: t.Label})
	http.Redirect(w, r, Prefix+"/account?done=revoked", http.StatusSeeOther)
}

// humanDuration says 30m as "30 minutes", 1h as "1 hour", 12h as "12 hours".
func humanDuration(d time.Duration) string {
	unit := func(n int64, name string) string {
		if n == 1 {
			return "1 " + name
		}
		return strconv.FormatInt(n, 10) + " " + name + "s"
	}
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute")
	}
	return d.String()
}
