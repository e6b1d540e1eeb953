package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"

	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/consent/storetest"
)

func newService(t *testing.T) (*Service, *storetest.Clock) {
	t.Helper()
	clock := storetest.NewClock(storetest.Start())
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "s.db"), boltstore.Options{StoreOptions: storetest.Options(clock)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	s, err := New(st.SharedKV(), Config{Hash: testHash, ThrottleKey: testThrottleKey(t)}, clock.Now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return s, clock
}

func addWithPassword(t *testing.T, s *Service, name string, role Role) {
	t.Helper()
	tok, err := s.AddAccount(context.Background(), name, role)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemLink(context.Background(), tok, name, "Correct-Pony-Battery-42"); err != nil {
		t.Fatal(err)
	}
}

func TestAPITokens(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	addWithPassword(t, s, "paul", RoleDPO)
	addWithPassword(t, s, "marie", RoleAnalyst)
	plain, tok, err := s.CreateAPIToken(ctx, "paul", "crm")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeAPIToken(ctx, "marie", tok.ID); !errors.Is(err, ErrBadToken) {
		t.Errorf("another account revoked the token: %v", err)
	}
	// The token acts with the account's current role.
	if err := s.SetRole(ctx, "paul", RoleAnalyst); err != nil {
		t.Fatal(err)
	}
	if _, a, err := s.AuthenticateAPIToken(ctx, plain); err != nil || a.Role != RoleAnalyst {
		t.Errorf("after role change: %v %v", a.Role, err)
	}
	if _, err := s.RevokeAPIToken(ctx, "paul", tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AuthenticateAPIToken(ctx, plain); !errors.Is(err, ErrBadToken) {
		t.Errorf("revoked token works: %v", err)
	}
	if _, _, err := s.CreateAPIToken(ctx, "paul", ""); err == nil {
		t.Error("token without a label")
	}
}

func TestLastAdminKept(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	addWithPassword(t, s, "claire", RoleAdmin)
	if err := s.SetRole(ctx, "claire", RoleAnalyst); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("demoting the last admin: %v", err)
	}
	if err := s.SetDisabled(ctx, "claire", true); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("disabling the last admin: %v", err)
	}
	addWithPassword(t, s, "bob", RoleAdmin)
	if err := s.SetDisabled(ctx, "claire", true); err != nil {
		t.Errorf("disabling one of two admins: %v", err)
	}
	if _, err := s.AddAccount(ctx, "a@b.example", RoleAnalyst); err == nil {
		t.Error("an email address became an account name")
	}
}

func TestThrottleWindowExpires(t *testing.T) {
	s, clock := newService(t)
	ctx := context.Background()
	addWithPassword(t, s, "marie", RoleAnalyst)
	try := func(pw string) error {
		_, _, err := s.Login(ctx, LoginRequest{Name: "marie", Password: pw, Addr: "192.0.2.7"})
		return err
	}
	for range 4 {
		if err := try("wrong"); !errors.Is(err, ErrBadLogin) {
			t.Fatal(err)
		}
	}
	var th *ThrottledError
	if err := try("wrong"); !errors.As(err, &th) {
		t.Fatalf("fifth attempt not throttled: %v", err)
	}
	// Once the window has passed, the count starts again from zero:
	// three free failures before any delay.
	clock.Advance(s.Config().Throttle.Window + 2*s.Config().Throttle.MaxDelay)
	for i := range 3 {
		if err := try("wrong"); !errors.Is(err, ErrBadLogin) {
			t.Fatalf("failure %d after the window: %v", i+1, err)
		}
	}
	if err := try("Correct-Pony-Battery-42"); err != nil {
		t.Fatalf("right password after three fresh failures: %v", err)
	}
}

// testHash keeps account tests fast; the production cost is passhash.Default.
var testHash = HashParams{MemoryKiB: 1024, Time: 1, Threads: 1}

// testThrottleKey is a fresh random throttle key, as a keyring derives one.
func testThrottleKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}
