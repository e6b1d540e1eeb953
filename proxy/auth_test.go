package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/consent/storetest"
	"github.com/pixelgate/pixelgate/consent/throttle"
	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

// testThrottle is the relay's AUTH throttle over rec, keyed as serve keys it.
func testThrottle(t testing.TB, rec consent.SharedKV, kr *consent.Keyring, cfg throttle.Config) *throttle.Throttle {
	t.Helper()
	th, err := NewCredentialsThrottle(rec, kr.ThrottleKey(), cfg, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return th
}

// testCredentials are relay accounts in rec, throttled with cfg.
func testCredentials(t testing.TB, rec consent.SharedKV, kr *consent.Keyring, cfg throttle.Config) *Credentials {
	t.Helper()
	c := NewCredentials(rec, rand.Reader)
	c.Throttle = testThrottle(t, rec, kr, cfg)
	return c
}

const relayPassword = "another long password"

// authHarness is a relay on makeStore whose account "crm" has
// relayPassword (hashed at the production cost), throttled with cfg.
func authHarness(t *testing.T, makeStore storeMaker, cfg throttle.Config) *harness {
	t.Helper()
	h := newHarnessWith(t, makeStore, func(c *Config, _ *smtpsink.Options) {
		c.RelayNetworks = nil
		// Generous: these tests are about counting, not deadlines.
		c.StoreTimeout = time.Minute
	})
	h.cfg.Credentials.Throttle = testThrottle(t, h.store.SharedKV(), h.kr, cfg)
	if err := h.cfg.Credentials.Set(context.Background(), "crm", relayPassword); err != nil {
		t.Fatal(err)
	}
	return h
}

// authFrom authenticates with AUTH PLAIN after STARTTLS over a connection
// from source address src (any 127/8 address reaches loopback on Linux).
func (h *harness) authFrom(src, user, pass string) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	conn, err := d.Dial("tcp", h.addr)
	if err != nil {
		return fmt.Errorf("dial from %s: %w", src, err)
	}
	c, err := smtp.NewClient(conn, "127.0.0.1")
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.StartTLS(h.clientTLS); err != nil {
		return err
	}
	return c.Auth(smtp.PlainAuth("", user, pass, "127.0.0.1"))
}

// authOutcome sorts AUTH answers: "ok", "checked" (535: the password was
// compared and was wrong), "throttled", or the unexpected answer itself.
func authOutcome(err error) string {
	var te *textproto.Error
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &te) && te.Code == 535:
		return "checked"
	case errors.As(err, &te) && te.Code == 454 && strings.Contains(te.Msg, "Too many failed"):
		return "throttled"
	}
	return err.Error()
}

// guessUntilThrottled sends wrong passwords one after the other, each from
// the next source address of srcs, until one is throttled; it returns how
// many were checked. Parallel guesses may have been refused "try later"
// (no room to hash) without counting, so the limit is reached this way.
func (h *harness) guessUntilThrottled(t *testing.T, srcs func(i int) string, max int) int {
	t.Helper()
	for i := range max + 1 {
		switch o := authOutcome(h.authFrom(srcs(i), "crm", fmt.Sprintf("late guess %d", i))); o {
		case "checked":
		case "throttled":
			return i
		default:
			t.Fatalf("late guess %d: %s", i, o)
		}
	}
	t.Fatalf("%d further guesses checked, none throttled", max+1)
	return 0
}

// parallelGuesses sends n wrong passwords at once, guess i from srcs(i),
// and counts the outcomes.
func (h *harness) parallelGuesses(n int, srcs func(i int) string) map[string]int {
	return storetest.Tally(n, func(i int) string {
		return authOutcome(h.authFrom(srcs(i), "crm", fmt.Sprintf("guess %d", i)))
	})
}

var authStores = []struct {
	name string
	make func() storeMaker
}{
	{"bolt", func() storeMaker { return boltStore }},
	{"redis", func() storeMaker { var srv *redistest.Server; return redisStore(&srv) }},
}

// TestAuthParallelGuessesCountedFirst: 60 wrong passwords at once from one
// address against a limit of 10 free failures: only 11 are ever compared
// (the free ones and the one let through past them), and afterwards the
// right password is refused too. Counting after the hash let all 60 be
// compared.
func TestAuthParallelGuessesCountedFirst(t *testing.T) {
	for _, st := range authStores {
		t.Run(st.name, func(t *testing.T) {
			const free = 10
			h := authHarness(t, st.make(), throttle.Config{AddressFreeAttempts: free, AccountFreeAttempts: 1000, BaseDelay: time.Hour})
			one := func(int) string { return "127.0.0.1" }
			out := h.parallelGuesses(60, one)
			if out["checked"] > free+1 || out["ok"] > 0 {
				t.Fatalf("60 parallel guesses against %d free: %v", free, out)
			}
			checked := out["checked"] + h.guessUntilThrottled(t, one, free+1)
			if checked != free+1 {
				t.Errorf("%d guesses compared, want %d", checked, free+1)
			}
			if o := authOutcome(h.authFrom("127.0.0.1", "crm", relayPassword)); o != "throttled" {
				t.Errorf("right password after the limit: %s", o)
			}
		})
	}
}

// TestAuthLimitPerAccount: guesses at one account from many addresses,
// none of which reaches its own limit, stop at the account's limit; the
// right password from yet another address is then refused.
func TestAuthLimitPerAccount(t *testing.T) {
	for _, st := range authStores {
		t.Run(st.name, func(t *testing.T) {
			const free = 3
			h := authHarness(t, st.make(), throttle.Config{AccountFreeAttempts: free, BaseDelay: time.Hour})
			src := func(i int) string { return fmt.Sprintf("127.0.0.%d", 2+i) }
			out := h.parallelGuesses(20, src)
			if out["checked"] > free+1 || out["ok"] > 0 {
				t.Fatalf("20 parallel guesses from 20 addresses against %d free per account: %v", free, out)
			}
			later := func(i int) string { return fmt.Sprintf("127.0.1.%d", 2+i) }
			if checked := out["checked"] + h.guessUntilThrottled(t, later, free+1); checked != free+1 {
				t.Errorf("%d guesses compared, want %d", checked, free+1)
			}
			if o := authOutcome(h.authFrom("127.0.2.1", "crm", relayPassword)); o != "throttled" {
				t.Errorf("right password from a fresh address after the account's limit: %s", o)
			}
			// Another account from a fresh address is not held back.
			if err := h.cfg.Credentials.Set(context.Background(), "app2", relayPassword); err != nil {
				t.Fatal(err)
			}
			if err := h.authFrom("127.0.2.2", "app2", relayPassword); err != nil {
				t.Errorf("another account: %v", err)
			}
		})
	}
}

// faultyRecords is a real store whose throttle counters fail on demand:
// with an error, or by hanging until the caller's deadline (a store that
// times out).
type faultyRecords struct {
	consent.SharedKV
	mode atomic.Value // "", "error", "hang"
}

func (f *faultyRecords) fault(ctx context.Context) error {
	switch f.mode.Load() {
	case "error":
		return errors.New("injected store failure")
	case "hang":
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (f *faultyRecords) Incr(ctx context.Context, ns, key string, delta int64, ttl time.Duration) (int64, error) {
	if err := f.fault(ctx); err != nil {
		return 0, err
	}
	return f.SharedKV.Incr(ctx, ns, key, delta, ttl)
}

func (f *faultyRecords) Get(ctx context.Context, ns, key string) ([]byte, error) {
	if ns != nsCredentials {
		if err := f.fault(ctx); err != nil {
			return nil, err
		}
	}
	return f.SharedKV.Get(ctx, ns, key)
}

// TestAuthFailsClosed: when the throttle cannot be read or written, even
// the right password gets 454 4.7.0 (try later), never an unthrottled
// check.
func TestAuthFailsClosed(t *testing.T) {
	for _, mode := range []string{"error", "hang"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, func(c *Config, _ *smtpsink.Options) {
				c.RelayNetworks = nil
				c.StoreTimeout = 300 * time.Millisecond
			})
			f := &faultyRecords{SharedKV: h.store.SharedKV()}
			f.mode.Store("")
			h.cfg.Credentials.Throttle = testThrottle(t, f, h.kr, throttle.Config{})
			if err := h.cfg.Credentials.Set(context.Background(), "crm", relayPassword); err != nil {
				t.Fatal(err)
			}
			if err := h.authFrom("127.0.0.1", "crm", relayPassword); err != nil {
				t.Fatalf("right password with a working store: %v", err)
			}
			f.mode.Store(mode)
			for i := range 3 {
				wantCode(t, h.authFrom("127.0.0.1", "crm", fmt.Sprintf("guess %d", i)), 454, "4.7.0")
			}
			wantCode(t, h.authFrom("127.0.0.1", "crm", relayPassword), 454, "4.7.0")
		})
	}
}

func TestDummyHashMatchesNothing(t *testing.T) {
	c := NewCredentials(nil, rand.Reader)
	for _, pw := range []string{"", "x", "AAAAAAAAAAAAAAAAAAAAAA"} {
		if ok, _ := c.hashes().Verify(context.Background(), dummyArgon, pw); ok {
			t.Errorf("dummy hash matches %q", pw)
		}
	}
}

// FuzzSASL feeds arbitrary client responses to the PLAIN and LOGIN servers:
// they must never panic, and only the right pair may authenticate.
func FuzzSASL(f *testing.F) {
	f.Add("PLAIN", []byte("\x00user\x00pass"), []byte(nil), []byte(nil))
	f.Add("LOGIN", []byte("user"), []byte("pass"), []byte(nil))
	f.Add("LOGIN", []byte(nil), []byte("user"), []byte("pass"))
	f.Fuzz(func(t *testing.T, mech string, r1, r2, r3 []byte) {
		check := func(u, p string) error {
			if u == "user" && p == "pass" {
				return nil
			}
			return errors.New("no")
		}
		srv, err := saslServer(mech, check)
		if err != nil {
			return
		}
		for _, r := range [][]byte{r1, r2, r3} {
			_, done, err := srv.Next(r)
			if err != nil {
				return
			}
			if done {
				ok := (bytes.Contains(r1, []byte("user")) || bytes.Contains(r2, []byte("user"))) &&
					(bytes.Contains(r1, []byte("pass")) || bytes.Contains(r2, []byte("pass")) || bytes.Contains(r3, []byte("pass")))
				if !ok {
					t.Fatalf("authenticated with %q %q %q", r1, r2, r3)
				}
				return
			}
		}
	})
}
