package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/consent/passhash"
	"github.com/pixelgate/pixelgate/consent/redisstore"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/consent/storetest"
)

// eachStore runs fn with a service on the embedded store and on a real
// redis-server, hashing through a gate with room for slots hashes.
func eachStore(t *testing.T, slots int, fn func(t *testing.T, s *Service, g *passhash.Gate)) {
	eachStoreClock(t, slots, func(t *testing.T, s *Service, g *passhash.Gate, _ *storetest.Clock) { fn(t, s, g) })
}

// eachStoreClock is eachStore that also hands fn the clock of the service
// and its store.
func eachStoreClock(t *testing.T, slots int, fn func(t *testing.T, s *Service, g *passhash.Gate, clock *storetest.Clock)) {
	open := map[string]func(t *testing.T, clock *storetest.Clock) consent.Store{
		"bolt": func(t *testing.T, clock *storetest.Clock) consent.Store {
			st, err := boltstore.Open(filepath.Join(t.TempDir(), "s.db"), boltstore.Options{StoreOptions: storetest.Options(clock)})
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
		"redis": func(t *testing.T, clock *storetest.Clock) consent.Store {
			st, err := redisstore.Open(context.Background(), redistest.Start(t).URL(), redisstore.Options{StoreOptions: storetest.Options(clock)})
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	}
	for _, name := range []string{"bolt", "redis"} {
		t.Run(name, func(t *testing.T) {
			clock := storetest.NewClock(storetest.Start())
			st := open[name](t, clock)
			t.Cleanup(func() { _ = st.Close() })
			g := passhash.NewGate(int64(slots)*int64(testHash.MemoryKiB)*1024, 0)
			s, err := New(st.SharedKV(), Config{Hash: testHash, ThrottleKey: testThrottleKey(t), Hashes: g}, clock.Now, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			fn(t, s, g, clock)
		})
	}
}

// concurrentLogins tries n logins at once, login i as req(i), and counts
// the answers: "bad" (password checked, wrong), "throttled", "ok".
func concurrentLogins(s *Service, n int, req func(i int) LoginRequest) map[string]int {
	return storetest.Tally(n, func(i int) string {
		_, _, err := s.Login(context.Background(), req(i))
		var th *ThrottledError
		switch {
		case errors.Is(err, ErrBadLogin):
			return "bad"
		case errors.As(err, &th):
			return "throttled"
		case err != nil:
			return err.Error()
		}
		return "ok"
	})
}

// TestConcurrentLoginsHashOnlyWithinTheLimit: a hundred simultaneous wrong
// logins to one account (from a hundred addresses), then a hundred to
// unknown accounts from one address, compute a password hash only for the
// attempts within the limits (free ones plus the one let through past
// them); every other attempt is refused without hashing, the right
// password included, and no more hashes run at once than the gate allows.
func TestConcurrentLoginsHashOnlyWithinTheLimit(t *testing.T) {
	eachStore(t, 2, func(t *testing.T, s *Service, g *passhash.Gate) {
		addWithPassword(t, s, "marie", RoleAnalyst)
		cfg := s.Config().Throttle
		base := g.Stats().Runs
		out := concurrentLogins(s, 100, func(i int) LoginRequest {
			return LoginRequest{Name: "marie", Password: fmt.Sprint("guess ", i), Addr: fmt.Sprintf("192.0.2.%d", i)}
		})
		hashed := g.Stats().Runs - base
		if want := int64(cfg.AccountFreeAttempts + 1); hashed != want || out["bad"] != int(want) || out["throttled"] != 100-int(want) {
			t.Errorf("one account: %d hashes, answers %v; want %d hashes, the rest throttled", hashed, out, want)
		}
		if _, _, err := s.Login(context.Background(), LoginRequest{Name: "marie", Password: "Correct-Pony-Battery-42", Addr: "192.0.2.200"}); !errors.As(err, new(*ThrottledError)) {
			t.Errorf("right password after the account's limit: %v", err)
		}

		base = g.Stats().Runs
		out = concurrentLogins(s, 100, func(i int) LoginRequest {
			return LoginRequest{Name: fmt.Sprint("nobody", i), Password: "guess", Addr: "198.51.100.7"}
		})
		hashed = g.Stats().Runs - base
		if want := int64(cfg.AddressFreeAttempts + 1); hashed != want || out["bad"] != int(want) {
			t.Errorf("one address: %d hashes, answers %v; want %d hashes, the rest throttled", hashed, out, want)
		}
		if p := g.Stats().Peak; p > 2 {
			t.Errorf("%d hashes at once through a gate of 2", p)
		}
	})
}

// TestConcurrentLoginsPeakBounded: when many logins are allowed at once,
// they queue for the gate instead of all hashing together.
func TestConcurrentLoginsPeakBounded(t *testing.T) {
	eachStore(t, 3, func(t *testing.T, s *Service, g *passhash.Gate) {
		addWithPassword(t, s, "marie", RoleAnalyst)
		out := concurrentLogins(s, 60, func(i int) LoginRequest {
			return LoginRequest{Name: fmt.Sprint("user", i), Password: "Correct-Pony-Battery-42", Addr: fmt.Sprintf("192.0.2.%d", i)}
		})
		if out["bad"] != 60 {
			t.Fatalf("answers %v", out)
		}
		if st := g.Stats(); st.Peak > 3 {
			t.Errorf("%d hashes at once through a gate of 3 (%d runs)", st.Peak, st.Runs)
		}
	})
}
