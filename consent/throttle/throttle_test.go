package throttle

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/consent/redisstore"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/consent/storetest"
)

// stores runs fn on the embedded store and on a real redis-server, both on
// the test clock.
func stores(t *testing.T, fn func(t *testing.T, rec consent.SharedKV, clock *storetest.Clock)) {
	t.Run("bolt", func(t *testing.T) {
		clock := storetest.NewClock(storetest.Start())
		st, err := boltstore.Open(filepath.Join(t.TempDir(), "s.db"), boltstore.Options{StoreOptions: storetest.Options(clock)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		fn(t, st.SharedKV(), clock)
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		clock := storetest.NewClock(storetest.Start())
		st, err := redisstore.Open(context.Background(), srv.URL(), redisstore.Options{StoreOptions: storetest.Options(clock)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		fn(t, st.SharedKV(), clock)
	})
}

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func newThrottle(t *testing.T, rec consent.SharedKV, clock *storetest.Clock, cfg Config) *Throttle {
	t.Helper()
	th, err := New(rec, Options{Scope: "test", Key: newKey(t), Config: cfg, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return th
}

// parallelBegins starts n attempts at once and returns how many were let
// through; those are left counted as failures.
func parallelBegins(t *testing.T, th *Throttle, n int, account, addr func(i int) string) int {
	t.Helper()
	out := storetest.Tally(n, func(i int) string {
		_, err := th.Begin(context.Background(), account(i), addr(i))
		var te *Error
		switch {
		case err == nil:
			return "through"
		case errors.As(err, &te):
			return "refused"
		}
		return err.Error()
	})
	if len(out) > 2 || out["through"]+out["refused"] != n {
		t.Errorf("outcomes %v", out)
	}
	return out["through"]
}

// TestParallelAttemptsStopAtTheLimit: of many simultaneous attempts, only
// the free ones and the one past them are let through, per account across
// addresses and per address across accounts.
func TestParallelAttemptsStopAtTheLimit(t *testing.T) {
	stores(t, func(t *testing.T, rec consent.SharedKV, clock *storetest.Clock) {
		th := newThrottle(t, rec, clock, Config{AccountFreeAttempts: 3, AddressFreeAttempts: 10})
		many := func(prefix string) func(int) string {
			return func(i int) string { return prefix + string(rune('a'+i%26)) + string(rune('a'+i/26)) }
		}
		one := func(s string) func(int) string { return func(int) string { return s } }
		if n := parallelBegins(t, th, 50, one("marie"), many("192.0.2.")); n != 4 {
			t.Errorf("one account, 50 addresses: %d let through, want 3+1", n)
		}
		if n := parallelBegins(t, th, 60, many("user"), one("198.51.100.7")); n != 11 {
			t.Errorf("one address, 60 accounts: %d let through, want 10+1", n)
		}
		// Once the delay is over the gate opens for one attempt at a time.
		// (The delay grows with the count, which in a crowd includes the
		// attempts being refused: at most MaxDelay.)
		clock.Advance(th.Config().MaxDelay)
		if n := parallelBegins(t, th, 20, one("marie"), many("203.0.113.")); n != 1 {
			t.Errorf("after the delay: %d let through, want 1", n)
		}
		var te *Error
		if _, err := th.Begin(context.Background(), "marie", "203.0.113.99"); !errors.As(err, &te) || te.Wait < 2*time.Second {
			t.Errorf("next delay: %v", err)
		}
	})
}

// TestRefundAndSuccess: an attempt whose password was not checked does
// not count; a right password clears its account but only gives the
// address its own attempt back.
func TestRefundAndSuccess(t *testing.T) {
	stores(t, func(t *testing.T, rec consent.SharedKV, clock *storetest.Clock) {
		ctx := context.Background()
		th := newThrottle(t, rec, clock, Config{AccountFreeAttempts: 2, AddressFreeAttempts: 3})
		for range 10 {
			a, err := th.Begin(ctx, "marie", "192.0.2.1")
			if err != nil {
				t.Fatal(err)
			}
			a.Refund(ctx)
		}
		for i := range 2 {
			if _, err := th.Begin(ctx, "marie", "192.0.2.1"); err != nil {
				t.Fatalf("failure %d: %v", i+1, err)
			}
		}
		a, err := th.Begin(ctx, "marie", "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Succeeded(ctx); err != nil {
			t.Fatal(err)
		}
		// Account afresh: two free failures again; the address has two
		// failures counted, so its third is free and its fourth passes the
		// gate once.
		for i := range 2 {
			if _, err := th.Begin(ctx, "marie", "192.0.2.1"); err != nil {
				t.Fatalf("after success, failure %d: %v", i+1, err)
			}
		}
		var te *Error
		if _, err := th.Begin(ctx, "paul", "192.0.2.1"); !errors.As(err, &te) {
			t.Errorf("address not held back after its free failures and the one past them: %v", err)
		}
	})
}

// TestCounterNamesAreKeyed: the store holds neither the address nor the
// account name nor an unkeyed hash of them, and another key makes other
// counters.
func TestCounterNamesAreKeyed(t *testing.T) {
	stores(t, func(t *testing.T, rec consent.SharedKV, clock *storetest.Clock) {
		ctx := context.Background()
		a := newThrottle(t, rec, clock, Config{AccountFreeAttempts: 1})
		b := newThrottle(t, rec, clock, Config{AccountFreeAttempts: 1})
		for range 2 {
			if _, err := a.Begin(ctx, "marie", "192.0.2.7"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.Begin(ctx, "marie", "192.0.2.7"); err != nil {
			t.Errorf("a throttle with another key shares counters: %v", err)
		}
		keys, err := rec.List(ctx, nsCount)
		if err != nil {
			t.Fatal(err)
		}
		hexKey := regexp.MustCompile(`^[0-9a-f]{32}$`)
		for _, k := range keys {
			// A hex name cannot hold the account or the dotted address;
			// nor may it hold the address's bytes in hex (c0000207).
			// (A bare "192" turns up in random hex one name in 150.)
			if !hexKey.MatchString(k) || strings.Contains(k, "c0000207") {
				t.Errorf("counter name %q", k)
			}
		}
		if len(keys) != 4 {
			t.Errorf("%d counters, want 4 (account and address of two keys)", len(keys))
		}
	})
}

func TestAddressKey(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"},
		{"[2001:db8:1:2::1]", "[2001:db8:1:2::5]:4431"},
		{"192.0.2.1", "192.0.2.1:587"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
	} {
		if AddressKey(c.a) != AddressKey(c.b) {
			t.Errorf("%s and %s counted apart", c.a, c.b)
		}
	}
	for _, c := range []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:3::1"},
		{"192.0.2.1", "192.0.2.2"},
	} {
		if AddressKey(c.a) == AddressKey(c.b) {
			t.Errorf("%s and %s share a counter", c.a, c.b)
		}
	}
}

// failing is a store whose counters cannot be written.
type failing struct{ consent.SharedKV }

func (failing) Incr(context.Context, string, string, int64, time.Duration) (int64, error) {
	return 0, errors.New("injected store failure")
}

func TestStoreFailureRefuses(t *testing.T) {
	stores(t, func(t *testing.T, rec consent.SharedKV, clock *storetest.Clock) {
		th := newThrottle(t, failing{rec}, clock, Config{})
		var te *Error
		if _, err := th.Begin(context.Background(), "marie", "192.0.2.1"); err == nil || errors.As(err, &te) {
			t.Errorf("store failure: %v, want a store error", err)
		}
	})
}

func TestNewNeedsAKey(t *testing.T) {
	if _, err := New(nil, Options{Scope: "x", Now: time.Now}); err == nil {
		t.Error("a throttle without a key")
	}
}
