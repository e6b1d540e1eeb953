package admin

import (
	"net/http"
	"strconv"

	"github.com/pixelgate/pixelgate/web/auth"
)

// setting is one line of the settings page.
type setting struct {
	Name, Value, How string
}

// settings shows the security settings in force. They are set where every
// replica reads them (flags, environment, config file), not from a page, so
// that replicas cannot disagree and a stolen session cannot weaken them.
func (s *server) settings(w http.ResponseWriter, r *http.Request) {
	cfg := s.users.Config()
	siem := s.cfg.AuditLogOutput
	if siem == "" {
		siem = "not copied (only the store's chained log)"
	}
	cookie := "HttpOnly, SameSite=Strict (public URL is http: not Secure)"
	if s.secure {
		cookie = "__Host- prefix, Secure, HttpOnly, SameSite=Strict; HSTS sent (one year, this host only)"
	}
	th := cfg.Throttle
	rows := []setting{
		{"Public URL", s.base.String(), "--public-url"},
		{"Session cookie", cookie, "follows --public-url"},
		{"Session idle timeout", humanDuration(cfg.IdleTimeout), "--session-idle"},
		{"Session absolute timeout", humanDuration(cfg.AbsoluteTimeout), "--session-max"},
		{"One-time links valid for", humanDuration(cfg.SetupLinkTTL), "fixed"},
		{"Password policy", policyText, "CNIL deliberation 2022-100"},
		{"Password hashing", "argon2id, " + strconv.Itoa(int(cfg.Hash.MemoryKiB/1024)) + " MiB, " + strconv.Itoa(int(cfg.Hash.Time)) +
			" passes, " + strconv.Itoa(int(cfg.Hash.Threads)) + " lane", "fixed"},
		{"Login throttling", strconv.Itoa(th.AccountFreeAttempts) + " free failures per account, " + strconv.Itoa(th.AddressFreeAttempts) +
			" per address within " + humanDuration(th.Window) + "; then waits doubling from " + th.BaseDelay.String() + " up to " +
			humanDuration(th.MaxDelay), "fixed"},
		{"Two-step login", "optional per account: TOTP (RFC 6238), 6 digits, 30 s, codes single-use", "My account"},
		{"Audit log copy for a SIEM", siem, "--audit-log"},
	}
	var roles []roleRow
	for _, role := range auth.Roles {
		roles = append(roles, roleRow{Role: role, Stats: role.Can(auth.SeeStatistics), Audit: role.Can(auth.ReadAudit),
			Accounts: role.Can(auth.ManageAccounts), DSAR: role.Can(auth.ServeDataSubjects), Import: role.Can(auth.ChangeConsent)})
	}
	data := settingsData{Rows: rows, Roles: roles}
	if s.cfg.Ready != nil {
		// The cause names internal hosts and paths, which is why it is
		// here, for admins, and not in the public /readyz answer.
		data.Readiness = "Ready: the store answers, delivery accepts messages and the disk has room for one more."
		if err := s.cfg.Ready(r.Context()); err != nil {
			data.NotReady, data.Readiness = true, err.Error()
		}
	}
	s.render(w, r, 0, "settings", view{Title: "Settings", ScopeLabel: "About settings:",
		Scope: "The security settings in force. They come from flags, PIXELGATE_* environment variables or the config file, which every replica reads alike; this page shows them and cannot change them.",
		Data:  data})
}

type roleRow struct {
	Role                                 auth.Role
	Stats, Audit, Accounts, DSAR, Import bool
}

type settingsData struct {
	Rows  []setting
	Roles []roleRow
	// Readiness is this replica's /readyz check in full ("" when not
	// wired); NotReady says it failed.
	Readiness string
	NotReady  bool
}
