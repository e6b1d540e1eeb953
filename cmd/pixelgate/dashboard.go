package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/pixelgate/pixelgate/web/admin"
	"github.com/pixelgate/pixelgate/web/api"
	"github.com/pixelgate/pixelgate/web/auditlog"
	"github.com/pixelgate/pixelgate/web/auth"
	"github.com/pixelgate/pixelgate/web/webdeps"
)

// dashboardFlags are the settings of the dashboard and JSON API.
type dashboardFlags struct {
	auditLog    *string
	sessionIdle *time.Duration
	sessionMax  *time.Duration
}

func addDashboardFlags(fs *flagSet) dashboardFlags {
	return dashboardFlags{
		auditLog:    fs.String("audit-log", "", "also write every audit entry as a JSON line here, for a SIEM: stdout, stderr or a file path (appended, mode 0600); empty = only the store's chained log"),
		sessionIdle: fs.Duration("session-idle", 30*time.Minute, "dashboard sessions end after this long without use"),
		sessionMax:  fs.Duration("session-max", 12*time.Hour, "dashboard sessions end this long after login, used or not"),
	}
}

// dashboard is the /admin and /api/v1 side of `serve`.
type dashboard struct {
	admin, api http.Handler
	users      *auth.Service
	close      func() error
}

func openAuditLog(spec string, env *environ) (io.Writer, func() error, error) {
	switch spec {
	case "":
		return nil, func() error { return nil }, nil
	case "stdout":
		return env.stdout, func() error { return nil }, nil
	case "stderr":
		return env.stderr, func() error { return nil }, nil
	}
	f, err := os.OpenFile(spec, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open --audit-log: %w", err)
	}
	return f, f.Close, nil
}

func newDashboard(d *serveDeps, env *environ, f dashboardFlags) (*dashboard, error) {
	if *f.sessionIdle <= 0 || *f.sessionMax <= 0 || *f.sessionIdle > *f.sessionMax {
		return nil, fmt.Errorf("%w: --session-idle (%s) and --session-max (%s) must be positive, idle at most max",
			errUsage, *f.sessionIdle, *f.sessionMax)
	}
	siem, closeSIEM, err := openAuditLog(*f.auditLog, env)
	if err != nil {
		return nil, err
	}
	users, err := auth.New(d.store.SharedKV(), auth.Config{IdleTimeout: *f.sessionIdle, AbsoluteTimeout: *f.sessionMax,
		ThrottleKey: d.keyring.ThrottleKey(), Hashes: d.hashes}, d.now, rand.Reader)
	if err != nil {
		_ = closeSIEM()
		return nil, err
	}
	rec := auditlog.New(d.store, siem, d.logger.With("part", "audit"), d.registry)
	logger := d.logger.With("part", "dashboard")
	deps := webdeps.Deps{Store: d.store, Keyring: d.keyring, Users: users, Audit: rec, Logger: logger, Now: d.now, Registerer: d.registry}
	adm, err := admin.New(admin.Config{PublicURL: d.publicURL, AuditLogOutput: *f.auditLog, Ready: d.ready}, deps)
	if err != nil {
		_ = closeSIEM()
		return nil, err
	}
	ap, err := api.New(deps)
	if err != nil {
		_ = closeSIEM()
		return nil, err
	}
	return &dashboard{admin: adm, api: ap, users: users, close: closeSIEM}, nil
}

// printFirstRunLink prints, while no account exists, a one-time link that
// creates the first admin: there is no default account or password (R10).
func (db *dashboard) printFirstRunLink(ctx context.Context, w io.Writer, publicURL string) error {
	tok, err := db.users.FirstRunLink(ctx)
	if err != nil || tok == "" {
		return err
	}
	fmt.Fprintf(w, "pixelgate: no dashboard account yet. Open this one-time link to create the first admin (valid %s):\n  %s\n",
		db.users.Config().SetupLinkTTL, admin.SetupURL(publicURL, tok))
	return nil
}
