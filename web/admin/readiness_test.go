package admin_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/web"
	"github.com/pixelgate/pixelgate/web/auth"
	"github.com/pixelgate/pixelgate/web/dashtest"
)

// TestReadinessDetailForAdminsOnly: the cause of a failed readiness check
// (internal addresses, paths) is on the admins' settings page; analysts
// cannot see it and the public /readyz says only "not ready".
func TestReadinessDetailForAdminsOnly(t *testing.T) {
	const cause = "store: dial tcp 10.20.30.40:6379: connection refused"
	var down error
	e := dashtest.New(t, dashtest.Bolt, web.Handlers{Ready: func(context.Context) error { return down }})
	adm := e.FirstAdmin(t)
	analyst := e.AddUser(t, adm, "marie", auth.RoleAnalyst, dashtest.AnalystPassword)

	if r := adm.Get("/admin/settings"); r.Status != http.StatusOK || !strings.Contains(r.Body, "Ready: the store answers") {
		t.Errorf("settings while ready: %d, no readiness line:\n%s", r.Status, r.Body)
	}
	down = errors.New(cause)
	r := adm.Get("/admin/settings")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "Not ready") || !strings.Contains(r.Body, "10.20.30.40:6379") {
		t.Errorf("settings while not ready: %d, the cause is missing:\n%s", r.Status, r.Body)
	}
	if r := analyst.Get("/admin/settings"); r.Status != http.StatusForbidden || strings.Contains(r.Body, "10.20.30.40") {
		t.Errorf("analyst on settings: %d\n%s", r.Status, r.Body)
	}
	if r := e.NewClient(t).Get("/readyz"); r.Status != http.StatusServiceUnavailable || strings.Contains(r.Body, "10.20.30.40") {
		t.Errorf("public /readyz: %d %q", r.Status, r.Body)
	}
}
