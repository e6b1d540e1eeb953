package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/consent/passhash"
	"github.com/pixelgate/pixelgate/consent/storetest"
)

// The passwords of these tests; both pass the policy.
const (
	firstPassword  = "Correct-Pony-Battery-42" // addWithPassword's
	secondPassword = "Staple-Horse-Lantern-97"
)

// login is one attempt from the login form. The address is the same for
// every attempt: tests stay under the free failures of an address.
func login(s *Service, name, password, code string) (string, error) {
	tok, _, err := s.Login(context.Background(), LoginRequest{Name: name, Password: password, Code: code, Addr: "192.0.2.10"})
	return tok, err
}

// mustLogin logs in and returns the session token.
func mustLogin(t *testing.T, s *Service, name, password string) string {
	t.Helper()
	tok, err := login(s, name, password, "")
	if err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	return tok
}

// loggedIn: the session token still opens the dashboard.
func loggedIn(t *testing.T, s *Service, tok string) bool {
	t.Helper()
	_, _, err := s.Authenticate(context.Background(), tok)
	if err != nil && !errors.Is(err, ErrNoSession) {
		t.Fatalf("authenticate: %v", err)
	}
	return err == nil
}

// An account an admin resets cannot log in with its old password, its open
// sessions end, and its owner must set a new password through the one-time
// link before logging in again (R10: forced change after reset).
func TestResetForcesNewPassword(t *testing.T) {
	eachStoreClock(t, 2, func(t *testing.T, s *Service, _ *passhash.Gate, _ *storetest.Clock) {
		ctx := context.Background()
		addWithPassword(t, s, "marie", RoleAnalyst)
		sess := mustLogin(t, s, "marie", firstPassword)

		link, err := s.ResetAccount(ctx, "marie")
		if err != nil {
			t.Fatal(err)
		}
		if loggedIn(t, s, sess) {
			t.Error("a session opened before the reset still works")
		}
		if _, err := login(s, "marie", firstPassword, ""); !errors.Is(err, ErrBadLogin) {
			t.Errorf("login with the password from before the reset: %v, want ErrBadLogin", err)
		}
		if a, err := s.Account(ctx, "marie"); err != nil || !a.NeedsPassword() {
			t.Errorf("after reset: needs password %v, %v", a.NeedsPassword(), err)
		}
		if l, err := s.PeekLink(ctx, link); err != nil || l.Purpose != PurposeSetPassword || l.Account != "marie" {
			t.Errorf("reset link reads %+v, %v", l, err)
		}
		// A refused password leaves the link usable.
		if _, err := s.RedeemLink(ctx, link, "", "short"); !IsPolicyError(err) {
			t.Errorf("weak password on the reset link: %v, want a policy error", err)
		}
		if _, err := s.RedeemLink(ctx, link, "", secondPassword); err != nil {
			t.Fatalf("setting the new password: %v", err)
		}
		mustLogin(t, s, "marie", secondPassword)
		if _, err := s.RedeemLink(ctx, link, "", "Another-Lantern-Staple-55"); !errors.Is(err, ErrLinkInvalid) {
			t.Errorf("the reset link worked twice: %v", err)
		}
	})
}

// A new account has no password: it cannot log in until its owner sets one
// through its link.
func TestNewAccountNeedsItsLink(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	link, err := s.AddAccount(ctx, "paul", RoleDPO)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddAccount(ctx, "paul", RoleAnalyst); !errors.Is(err, ErrAccountExists) {
		t.Errorf("second account named paul: %v", err)
	}
	if _, err := s.AddAccount(ctx, "zoe", Role("root")); err == nil {
		t.Error("account with an unknown role")
	}
	for _, pw := range []string{"", firstPassword} {
		if _, err := login(s, "paul", pw, ""); !errors.Is(err, ErrBadLogin) {
			t.Errorf("login before the password is set (%q): %v", pw, err)
		}
	}
	if _, err := s.RedeemLink(ctx, link, "", firstPassword); err != nil {
		t.Fatal(err)
	}
	if _, a, err := s.Login(ctx, LoginRequest{Name: "paul", Password: firstPassword, Addr: "192.0.2.10"}); err != nil || a.Role != RoleDPO {
		t.Errorf("login after setting the password: role %q, %v", a.Role, err)
	}
	all, err := s.Accounts(ctx)
	if err != nil || len(all) != 1 || all[0].Name != "paul" || all[0].LastLogin.IsZero() {
		t.Errorf("accounts %+v, %v", all, err)
	}
}

// A disabled account cannot log in even with the right password, its
// sessions end and its API tokens stop; enabled again, it logs in and its
// tokens work again.
func TestDisableAndEnable(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	addWithPassword(t, s, "claire", RoleAdmin)
	addWithPassword(t, s, "marie", RoleAnalyst)
	sess := mustLogin(t, s, "marie", firstPassword)
	plain, _, err := s.CreateAPIToken(ctx, "marie", "reporting")
	if err != nil {
		t.Fatal(err)
	}

	if err := s.SetDisabled(ctx, "marie", true); err != nil {
		t.Fatal(err)
	}
	if loggedIn(t, s, sess) {
		t.Error("the session of a disabled account still works")
	}
	if _, err := login(s, "marie", firstPassword, ""); !errors.Is(err, ErrBadLogin) {
		t.Errorf("disabled account logs in: %v", err)
	}
	if _, _, err := s.AuthenticateAPIToken(ctx, plain); !errors.Is(err, ErrBadToken) {
		t.Errorf("API token of a disabled account: %v", err)
	}

	if err := s.SetDisabled(ctx, "marie", false); err != nil {
		t.Fatal(err)
	}
	if loggedIn(t, s, sess) {
		t.Error("a session ended by disabling came back on enabling")
	}
	mustLogin(t, s, "marie", firstPassword)
	if _, a, err := s.AuthenticateAPIToken(ctx, plain); err != nil || a.Name != "marie" {
		t.Errorf("API token after enabling: %q, %v", a.Name, err)
	}
	if err := s.SetDisabled(ctx, "nobody", true); !errors.Is(err, ErrNoAccount) {
		t.Errorf("disabling an unknown account: %v", err)
	}
}

// A session ends after IdleTimeout without use; each use pushes that back.
func TestSessionIdleTimeout(t *testing.T) {
	eachStoreClock(t, 2, func(t *testing.T, s *Service, _ *passhash.Gate, clock *storetest.Clock) {
		addWithPassword(t, s, "marie", RoleAnalyst)
		idle := s.Config().IdleTimeout
		tok := mustLogin(t, s, "marie", firstPassword)
		// Used twice, each time before the idle timeout: together longer
		// than it, the session lives on.
		for range 2 {
			clock.Advance(idle - time.Minute)
			if !loggedIn(t, s, tok) {
				t.Fatal("a session in use ended")
			}
		}
		clock.Advance(idle)
		if loggedIn(t, s, tok) {
			t.Error("a session unused for the idle timeout still works")
		}
		if loggedIn(t, s, tok) {
			t.Error("an expired session works on the second try")
		}
	})
}

// A session ends AbsoluteTimeout after login however much it is used.
func TestSessionAbsoluteTimeout(t *testing.T) {
	eachStoreClock(t, 2, func(t *testing.T, s *Service, _ *passhash.Gate, clock *storetest.Clock) {
		addWithPassword(t, s, "marie", RoleAnalyst)
		cfg := s.Config()
		tok := mustLogin(t, s, "marie", firstPassword)
		step := cfg.IdleTimeout / 2
		var used time.Duration
		for used+step < cfg.AbsoluteTimeout {
			clock.Advance(step)
			used += step
			if !loggedIn(t, s, tok) {
				t.Fatalf("session in use ended %v after login, before the absolute timeout %v", used, cfg.AbsoluteTimeout)
			}
		}
		clock.Advance(cfg.AbsoluteTimeout - used)
		if loggedIn(t, s, tok) {
			t.Errorf("session in use still works %v after login", cfg.AbsoluteTimeout)
		}
		mustLogin(t, s, "marie", firstPassword)
	})
}

// Logout ends one session; logout everywhere ends every session of the
// account and no other account's.
func TestLogoutAndLogoutEverywhere(t *testing.T) {
	eachStoreClock(t, 2, func(t *testing.T, s *Service, _ *passhash.Gate, _ *storetest.Clock) {
		ctx := context.Background()
		addWithPassword(t, s, "marie", RoleAnalyst)
		addWithPassword(t, s, "paul", RoleDPO)
		laptop := mustLogin(t, s, "marie", firstPassword)
		phone := mustLogin(t, s, "marie", firstPassword)
		tablet := mustLogin(t, s, "marie", firstPassword)
		other := mustLogin(t, s, "paul", firstPassword)

		if err := s.Logout(ctx, laptop); err != nil {
			t.Fatal(err)
		}
		if loggedIn(t, s, laptop) || !loggedIn(t, s, phone) {
			t.Error("logout did not end exactly its own session")
		}
		if err := s.LogoutEverywhere(ctx, "marie"); err != nil {
			t.Fatal(err)
		}
		if loggedIn(t, s, phone) || loggedIn(t, s, tablet) {
			t.Error("a session survived logout everywhere")
		}
		if !loggedIn(t, s, other) {
			t.Error("logout everywhere ended another account's session")
		}
		if !loggedIn(t, s, mustLogin(t, s, "marie", firstPassword)) {
			t.Error("no new session after logout everywhere")
		}
	})
}

// Changing one's password needs the current one; it ends the other
// sessions and keeps the caller logged in with a new session.
func TestChangePassword(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	addWithPassword(t, s, "marie", RoleAnalyst)
	here := mustLogin(t, s, "marie", firstPassword)
	elsewhere := mustLogin(t, s, "marie", firstPassword)

	if _, err := s.ChangePasswordSession(ctx, "marie", "Wrong-Guess-Password-11", secondPassword, here); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("change with a wrong current password: %v", err)
	}
	if _, err := s.ChangePasswordSession(ctx, "marie", firstPassword, firstPassword, here); !errors.Is(err, ErrSamePassword) {
		t.Errorf("change to the same password: %v", err)
	}
	if !loggedIn(t, s, here) || !loggedIn(t, s, elsewhere) {
		t.Fatal("a refused change ended a session")
	}
	next, err := s.ChangePasswordSession(ctx, "marie", firstPassword, secondPassword, here)
	if err != nil {
		t.Fatal(err)
	}
	if loggedIn(t, s, here) || loggedIn(t, s, elsewhere) {
		t.Error("a session from before the change still works")
	}
	if !loggedIn(t, s, next) {
		t.Error("the caller is logged out by their own change")
	}
	if _, err := login(s, "marie", firstPassword, ""); !errors.Is(err, ErrBadLogin) {
		t.Errorf("old password after the change: %v", err)
	}
	mustLogin(t, s, "marie", secondPassword)
}

// The first-run link creates one admin, once; it dies as soon as any
// account exists, and no new one is issued then.
func TestFirstRunLink(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	if has, err := s.HasAccounts(ctx); err != nil || has {
		t.Fatalf("fresh store has accounts: %v %v", has, err)
	}
	link, err := s.FirstRunLink(ctx)
	if err != nil || link == "" {
		t.Fatalf("first-run link %q, %v", link, err)
	}
	spare, err := s.FirstRunLink(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := s.PeekLink(ctx, link); err != nil || l.Purpose != PurposeFirstAdmin {
		t.Errorf("first-run link reads %+v, %v", l, err)
	}
	if _, err := s.RedeemLink(ctx, link, "a@b.example", firstPassword); err == nil {
		t.Error("an email address became the admin's name")
	}
	if _, err := s.RedeemLink(ctx, link, "claire", "password"); !IsPolicyError(err) {
		t.Errorf("weak first admin password: %v", err)
	}
	a, err := s.RedeemLink(ctx, link, "claire", firstPassword)
	if err != nil || a.Role != RoleAdmin {
		t.Fatalf("first admin: %+v, %v", a, err)
	}
	mustLogin(t, s, "claire", firstPassword)
	for name, tok := range map[string]string{"used": link, "spare": spare} {
		if _, err := s.RedeemLink(ctx, tok, "mallory", secondPassword); !errors.Is(err, ErrLinkInvalid) {
			t.Errorf("%s first-run link after the first admin: %v", name, err)
		}
	}
	if _, err := s.Account(ctx, "mallory"); !errors.Is(err, ErrNoAccount) {
		t.Errorf("a second first admin was created: %v", err)
	}
	if l, err := s.FirstRunLink(ctx); err != nil || l != "" {
		t.Errorf("first-run link issued with accounts present: %q, %v", l, err)
	}
}

// A setup link stops working SetupLinkTTL after it was issued.
func TestSetupLinkExpires(t *testing.T) {
	eachStoreClock(t, 2, func(t *testing.T, s *Service, _ *passhash.Gate, clock *storetest.Clock) {
		ctx := context.Background()
		link, err := s.AddAccount(ctx, "paul", RoleDPO)
		if err != nil {
			t.Fatal(err)
		}
		ttl := s.Config().SetupLinkTTL
		clock.Advance(ttl - time.Minute)
		if _, err := s.PeekLink(ctx, link); err != nil {
			t.Fatalf("link refused before its expiry: %v", err)
		}
		clock.Advance(time.Minute)
		if _, err := s.PeekLink(ctx, link); !errors.Is(err, ErrLinkInvalid) {
			t.Errorf("link shown at its expiry: %v", err)
		}
		if _, err := s.RedeemLink(ctx, link, "", firstPassword); !errors.Is(err, ErrLinkInvalid) {
			t.Errorf("link used at its expiry: %v", err)
		}
		if _, err := login(s, "paul", firstPassword, ""); !errors.Is(err, ErrBadLogin) {
			t.Errorf("an expired link set a password: %v", err)
		}
		for _, bad := range []string{"", "NOSUCHLINK", strings.Repeat("A", 65)} {
			if _, err := s.PeekLink(ctx, bad); !errors.Is(err, ErrLinkInvalid) {
				t.Errorf("link %q: %v", bad, err)
			}
		}
	})
}

// API tokens are shown once, listed by label without the secret, usable
// until revoked, and revocable by their owner or an admin.
func TestAPITokenLifecycle(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	addWithPassword(t, s, "paul", RoleDPO)
	addWithPassword(t, s, "marie", RoleAnalyst)
	crm, crmTok, err := s.CreateAPIToken(ctx, "paul", "  crm  ")
	if err != nil {
		t.Fatal(err)
	}
	bi, _, err := s.CreateAPIToken(ctx, "marie", "bi")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateAPIToken(ctx, "nobody", "x"); !errors.Is(err, ErrNoAccount) {
		t.Errorf("token for an unknown account: %v", err)
	}
	tk, a, err := s.AuthenticateAPIToken(ctx, crm)
	if err != nil || a.Name != "paul" || tk.Label != "crm" || tk.ID != crmTok.ID {
		t.Errorf("token authenticates as %q %+v, %v", a.Name, tk, err)
	}
	list, err := s.APITokens(ctx, "paul")
	if err != nil || len(list) != 1 || list[0].Label != "crm" || list[0].ID != crmTok.ID {
		t.Fatalf("paul's tokens %+v, %v", list, err)
	}
	if all, err := s.APITokens(ctx, ""); err != nil || len(all) != 2 {
		t.Errorf("all tokens %+v, %v", all, err)
	}
	// What a list shows cannot be used as a token.
	for _, guess := range []string{list[0].ID, apiTokenPrefix + list[0].ID, crm[:len(crm)-1], "", "pgt_"} {
		if _, _, err := s.AuthenticateAPIToken(ctx, guess); !errors.Is(err, ErrBadToken) {
			t.Errorf("token %q: %v", guess, err)
		}
	}
	if _, err := s.RevokeAPIToken(ctx, "paul", "short"); !errors.Is(err, ErrBadToken) {
		t.Errorf("revoke with a malformed id: %v", err)
	}
	// An admin revokes any account's token.
	if _, err := s.RevokeAPIToken(ctx, "", crmTok.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AuthenticateAPIToken(ctx, crm); !errors.Is(err, ErrBadToken) {
		t.Errorf("token revoked by an admin works: %v", err)
	}
	if _, err := s.RevokeAPIToken(ctx, "", crmTok.ID); !errors.Is(err, ErrBadToken) {
		t.Errorf("token revoked twice: %v", err)
	}
	if _, _, err := s.AuthenticateAPIToken(ctx, bi); err != nil {
		t.Errorf("revoking one token stopped another: %v", err)
	}
}

// With a second factor confirmed, a login needs a current code, each code
// works once, and removing the factor needs the password.
func TestTOTPEnrolment(t *testing.T) {
	eachStoreClock(t, 2, func(t *testing.T, s *Service, _ *passhash.Gate, clock *storetest.Clock) {
		ctx := context.Background()
		addWithPassword(t, s, "marie", RoleAnalyst)
		if err := s.ConfirmTOTP(ctx, "marie", "123456"); !errors.Is(err, ErrTOTPNotEnrolled) {
			t.Errorf("confirm without enrolment: %v", err)
		}
		secret, uri, err := s.BeginTOTP(ctx, "marie", "pixelgate")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(uri, "otpauth://totp/pixelgate:marie?") || !strings.Contains(uri, "secret="+secret) {
			t.Errorf("enrolment URI %q", uri)
		}
		// Until confirmed, the pending factor is not asked for.
		mustLogin(t, s, "marie", firstPassword)
		code := func() string {
			c, err := TOTPCode(secret, clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		wrong := "000000"
		if wrong == code() {
			wrong = "111111"
		}
		if err := s.ConfirmTOTP(ctx, "marie", wrong); err == nil {
			t.Error("enrolment confirmed with a wrong code")
		}
		if err := s.ConfirmTOTP(ctx, "marie", code()); err != nil {
			t.Fatal(err)
		}
		if a, _ := s.Account(ctx, "marie"); !a.TOTPEnabled() {
			t.Fatal("confirmed factor not enabled")
		}

		clock.Advance(totpStep)
		if _, err := login(s, "marie", firstPassword, ""); !errors.Is(err, ErrBadLogin) {
			t.Errorf("login without the code: %v", err)
		}
		c := code()
		if _, err := login(s, "marie", firstPassword, c); err != nil {
			t.Fatalf("login with the current code: %v", err)
		}
		if _, err := login(s, "marie", firstPassword, c); !errors.Is(err, ErrBadLogin) {
			t.Errorf("the same code worked twice: %v", err)
		}

		if err := s.DisableTOTP(ctx, "marie", secondPassword); !errors.Is(err, ErrWrongPassword) {
			t.Errorf("factor removed with a wrong password: %v", err)
		}
		if err := s.DisableTOTP(ctx, "marie", firstPassword); err != nil {
			t.Fatal(err)
		}
		mustLogin(t, s, "marie", firstPassword)
	})
}

// A reset also removes the second factor: the owner of a lost device gets
// back in with the reset link alone.
func TestResetRemovesTOTP(t *testing.T) {
	s, clock := newService(t)
	ctx := context.Background()
	addWithPassword(t, s, "marie", RoleAnalyst)
	secret, _, err := s.BeginTOTP(ctx, "marie", "pixelgate")
	if err != nil {
		t.Fatal(err)
	}
	c, err := TOTPCode(secret, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmTOTP(ctx, "marie", c); err != nil {
		t.Fatal(err)
	}
	link, err := s.ResetAccount(ctx, "marie")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemLink(ctx, link, "", secondPassword); err != nil {
		t.Fatal(err)
	}
	mustLogin(t, s, "marie", secondPassword)
}

// What each role may do, and a role change applying from the next login.
func TestRoles(t *testing.T) {
	for _, c := range []struct {
		role Role
		can  []Permission
		not  []Permission
	}{
		{RoleAnalyst, []Permission{SeeStatistics}, []Permission{ReadAudit, ManageAccounts, ServeDataSubjects, ChangeConsent}},
		{RoleDPO, []Permission{SeeStatistics, ReadAudit, ServeDataSubjects, ChangeConsent}, []Permission{ManageAccounts}},
		{RoleAdmin, []Permission{SeeStatistics, ReadAudit, ManageAccounts, ChangeConsent}, []Permission{ServeDataSubjects}},
		{Role("root"), nil, []Permission{SeeStatistics, ReadAudit, ManageAccounts, ServeDataSubjects, ChangeConsent}},
	} {
		for _, p := range c.can {
			if !c.role.Can(p) {
				t.Errorf("%s cannot %d", c.role, p)
			}
		}
		for _, p := range c.not {
			if c.role.Can(p) {
				t.Errorf("%s can %d", c.role, p)
			}
		}
	}
	for _, r := range Roles {
		if got, err := ParseRole(string(r)); err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	if _, err := ParseRole("Admin"); err == nil {
		t.Error("ParseRole accepted Admin")
	}

	s, _ := newService(t)
	ctx := context.Background()
	addWithPassword(t, s, "claire", RoleAdmin)
	addWithPassword(t, s, "marie", RoleAnalyst)
	tok := mustLogin(t, s, "marie", firstPassword)
	if err := s.SetRole(ctx, "marie", RoleDPO); err != nil {
		t.Fatal(err)
	}
	if loggedIn(t, s, tok) {
		t.Error("the session from before the role change still works")
	}
	if _, a, err := s.Login(ctx, LoginRequest{Name: "marie", Password: firstPassword, Addr: "192.0.2.10"}); err != nil || !a.Role.Can(ServeDataSubjects) {
		t.Errorf("after promotion to dpo: role %q, %v", a.Role, err)
	}
	if err := s.SetRole(ctx, "marie", Role("root")); err == nil {
		t.Error("unknown role set")
	}
}
