package admin_test

import (
	"net/http"
	"testing"

	"github.com/pixelgate/pixelgate/web"
	"github.com/pixelgate/pixelgate/web/auth"
	"github.com/pixelgate/pixelgate/web/dashtest"
)

// TestReplicasShareSessionsAndThrottling runs two replicas on one Redis:
// a session made on one works on the other, logout everywhere on one ends
// it on both, and failed logins count on both.
func TestReplicasShareSessionsAndThrottling(t *testing.T) {
	a := dashtest.New(t, dashtest.Redis, web.Handlers{})
	b := a.Replica(t)
	adm := a.FirstAdmin(t)
	if r := adm.On(b).Get("/admin/accounts"); r.Status != http.StatusOK {
		t.Fatalf("session from replica A refused by B: %d", r.Status)
	}
	e := a.AddUser(t, adm, "marie", auth.RoleAnalyst, dashtest.AnalystPassword)
	if r := e.On(b).Post("/admin/account/logout-all", nil); r.Status != http.StatusSeeOther {
		t.Fatal(r.Status)
	}
	if r := e.Get("/admin/campaigns"); r.Status != http.StatusSeeOther {
		t.Errorf("logout everywhere on B left the session alive on A: %d", r.Status)
	}
	// Four failures spread over both replicas reach the throttle.
	c := a.NewClient(t)
	for i, env := range []*dashtest.Env{a, b, a, b} {
		if r := c.On(env).Login("marie", "wrong"); r.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, r.Status)
		}
	}
	if r := c.On(a).Login("marie", dashtest.AnalystPassword); r.Status != http.StatusTooManyRequests {
		t.Errorf("throttle not shared between replicas: %d", r.Status)
	}
	// Both replicas append to the one audit chain, which verifies.
	if v, err := b.Store.VerifyAudit(t.Context()); err != nil || !v.OK {
		t.Errorf("shared audit chain: %+v %v", v, err)
	}
}
