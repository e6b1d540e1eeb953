// Package throttle limits password guessing (R10: throttled logins) for
// every login pixelgate has: dashboard accounts and relay SMTP AUTH. One
// implementation for both, kept in the store's SharedKV so that every
// replica sharing the store counts the same attempts.
//
// An attempt is counted before its password is checked, never after:
// counting after a slow hash lets parallel guesses all pass the check
// before any of them is counted, and loses the count when the deadline
// runs out during the hash. Any store failure refuses the attempt.
package throttle

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

// SharedKV namespaces. Keys are HMACs of the account name or client
// address, never the name or address itself.
const (
	nsCount = "throttle"
	nsGate  = "throttle-gate"
)

// Config shapes the throttle. After AccountFreeAttempts failed checks of
// one account, or AddressFreeAttempts from one client address, within
// Window, one further attempt is let through, and each failure after that
// makes the next one wait BaseDelay·2^(failures-free-1), capped at MaxDelay.
// Accounts and addresses count separately: the first stops guessing one
// account from many addresses, the second one address trying many accounts.
// Zero fields take the defaults in brackets.
type Config struct {
	AccountFreeAttempts int           // [3]
	AddressFreeAttempts int           // [10]
	BaseDelay           time.Duration // [1s]
	MaxDelay            time.Duration // [15m]
	Window              time.Duration // [1h]
}

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	if c.AccountFreeAttempts == 0 {
		c.AccountFreeAttempts = 3
	}
	if c.AddressFreeAttempts == 0 {
		c.AddressFreeAttempts = 10
	}
	if c.BaseDelay == 0 {
		c.BaseDelay = time.Second
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = 15 * time.Minute
	}
	if c.Window == 0 {
		c.Window = time.Hour
	}
	return c
}

// Error refuses an attempt without checking its password; Wait is how long
// until the next one may be let through.
type Error struct{ Wait time.Duration }

func (e *Error) Error() string {
	return fmt.Sprintf("too many failed logins; try again in %s", max(e.Wait, time.Second).Round(time.Second))
}

// Throttle counts the attempts of one kind of login.
type Throttle struct {
	rec   consent.SharedKV
	scope string
	key   []byte
	cfg   Config
	now   func() time.Time
}

// Options configure New.
type Options struct {
	// Scope separates the counters of different logins ("login", "smtp-auth").
	Scope string
	// Key keys the HMAC of the counters' names (consent.Keyring.ThrottleKey):
	// a copy of the store must not tell which addresses tried to log in,
	// and an unkeyed hash of an IPv4 address is reversed by trying all 2^32.
	Key []byte
	// Config shapes the limits.
	Config Config
	// Now is the clock of the waits.
	Now func() time.Time
}

// New returns a throttle over rec.
func New(rec consent.SharedKV, o Options) (*Throttle, error) {
	if len(o.Key) < 16 {
		return nil, errors.New("login throttle: a key of at least 128 bits is required")
	}
	if o.Scope == "" || o.Now == nil {
		return nil, errors.New("login throttle: a scope and a clock are required")
	}
	return &Throttle{rec: rec, scope: o.Scope, key: o.Key, cfg: o.Config.WithDefaults(), now: o.Now}, nil
}

// Config returns the effective configuration.
func (t *Throttle) Config() Config { return t.cfg }

// counter is one limit an attempt is charged to.
type counter struct {
	id       string
	free     int
	n        int64 // the count after this attempt was added
	reserved bool
}

// Attempt is one login attempt that was let through: its password may be
// checked now. It already counts as a failure; call Succeeded when the
// password was right, or Refund when it could not be checked.
type Attempt struct {
	t        *Throttle
	account  counter
	address  counter
	finished bool
}

func (t *Throttle) id(kind, value string) string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(t.scope + "\x00" + kind + "\x00" + value))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// Begin asks to check a password for account from addr. It returns an
// *Error when the attempt must wait, and any other error when the store
// cannot count it: the caller then refuses too (fail closed).
func (t *Throttle) Begin(ctx context.Context, account, addr string) (*Attempt, error) {
	a := &Attempt{t: t,
		account: counter{id: t.id("account", account), free: t.cfg.AccountFreeAttempts},
		address: counter{id: t.id("address", AddressKey(addr)), free: t.cfg.AddressFreeAttempts}}
	cs := []*counter{&a.account, &a.address}
	for _, c := range cs {
		n, err := t.rec.Incr(ctx, nsCount, c.id, 1, t.cfg.Window)
		if err != nil {
			a.refund(ctx)
			return nil, fmt.Errorf("count login attempt: %w", err)
		}
		c.n, c.reserved = n, true
	}
	// Past the free attempts, one attempt at a time holds the gate, which
	// stays closed for the delay. Look before claiming, so that a refused
	// attempt does not close one counter's gate while another's is shut.
	var wait time.Duration
	for _, c := range cs {
		if c.n <= int64(c.free) {
			continue
		}
		w, err := t.gateWait(ctx, c.id)
		if err != nil {
			a.refund(ctx)
			return nil, err
		}
		wait = max(wait, w)
	}
	if wait == 0 {
		for _, c := range cs {
			if c.n <= int64(c.free) {
				continue
			}
			w, err := t.claim(ctx, c)
			if err != nil {
				a.refund(ctx)
				return nil, err
			}
			wait = max(wait, w)
		}
	}
	if wait > 0 {
		a.refund(ctx)
		return nil, &Error{Wait: wait}
	}
	return a, nil
}

// delay is the wait after the n-th failure of a counter with free attempts.
func (t *Throttle) delay(n int64, free int) time.Duration {
	exp := n - int64(free) - 1
	if exp >= 30 {
		return t.cfg.MaxDelay
	}
	return min(time.Duration(float64(t.cfg.BaseDelay)*math.Pow(2, float64(exp))), t.cfg.MaxDelay)
}

// gateWait is how long the counter's gate stays shut, 0 when open.
func (t *Throttle) gateWait(ctx context.Context, id string) (time.Duration, error) {
	b, err := t.rec.Get(ctx, nsGate, id)
	if errors.Is(err, consent.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read login throttle: %w", err)
	}
	ns, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		// A damaged record stays shut only as long as its TTL (the
		// store's expiry, at most MaxDelay): fail closed until then.
		return t.cfg.BaseDelay, nil
	}
	// A gate whose record is still there is shut, even if the clocks of
	// two replicas disagree on its end.
	return max(time.Unix(0, ns).Sub(t.now()), time.Millisecond), nil
}

// claim shuts the counter's gate for the delay this attempt would earn by
// failing, and reports a wait when another attempt shut it first. Shutting
// it before the password is checked is what lets only one attempt through.
func (t *Throttle) claim(ctx context.Context, c *counter) (time.Duration, error) {
	d := t.delay(c.n, c.free)
	until := t.now().Add(d).UnixNano()
	ok, err := t.rec.PutIfAbsent(ctx, nsGate, c.id, []byte(strconv.FormatInt(until, 10)), d)
	if err != nil {
		return 0, fmt.Errorf("store login throttle: %w", err)
	}
	if ok {
		return 0, nil
	}
	w, err := t.gateWait(ctx, c.id)
	// Lost the claim: refused even if the winner's gate is already gone.
	return max(w, time.Millisecond), err
}

// bookkeepingTimeout bounds giving back or clearing counts after the
// caller's own deadline may have passed (it often has, after a slow hash):
// a lost refund would count a login that was never checked.
const bookkeepingTimeout = 2 * time.Second

// refund takes back the count of an attempt whose password was not checked.
// Errors are ignored: a count not taken back only makes the limit stricter.
func (a *Attempt) refund(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	for _, c := range []*counter{&a.account, &a.address} {
		if c.reserved {
			_, _ = a.t.rec.Incr(ctx, nsCount, c.id, -1, a.t.cfg.Window)
			c.reserved = false
		}
	}
}

// Refund says the password could not be checked (no room to hash, a store
// error): the attempt does not count.
func (a *Attempt) Refund(ctx context.Context) {
	if a.finished {
		return
	}
	a.finished = true
	a.refund(ctx)
}

// Succeeded says the password was right. The account starts afresh; the
// address only gets this attempt back, so that one right password does not
// reset a spray across accounts.
func (a *Attempt) Succeeded(ctx context.Context) error {
	if a.finished {
		return nil
	}
	a.finished = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	if err := a.t.rec.Delete(ctx, nsCount, a.account.id); err != nil {
		return fmt.Errorf("clear login throttle: %w", err)
	}
	if err := a.t.rec.Delete(ctx, nsGate, a.account.id); err != nil {
		return fmt.Errorf("clear login throttle: %w", err)
	}
	if _, err := a.t.rec.Incr(ctx, nsCount, a.address.id, -1, a.t.cfg.Window); err != nil {
		return fmt.Errorf("clear login throttle: %w", err)
	}
	return nil
}

// AddressKey is what one client address counts as: the address without
// port or brackets, and an IPv6 client's /64, the block one host usually
// holds, so that rotating through it does not escape the limit.
func AddressKey(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		addr = ap.Addr().String()
	}
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]"))
	if err != nil {
		return addr
	}
	ip = ip.Unmap()
	if ip.Is6() {
		return netip.PrefixFrom(AddrBlock(ip), 64).String()
	}
	return ip.String()
}

// AddrBlock is the unit one client address is counted in, by the login
// throttle and the relay's connection limits alike: the address itself for
// IPv4, its /64 for IPv6 (the block one host usually holds).
func AddrBlock(ip netip.Addr) netip.Addr {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}
