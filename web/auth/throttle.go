package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"time"
)

// ThrottleConfig shapes login throttling (R10). After FreeAttempts failures
// within Window, each further failure makes the next attempt wait
// BaseDelay·2^(failures-FreeAttempts), capped at MaxDelay. Accounts and
// client addresses are counted separately: the first stops guessing one
// account from many addresses, the second one address trying many accounts.
type ThrottleConfig struct {
	AccountFreeAttempts int           // [3]
	AddressFreeAttempts int           // [10]
	BaseDelay           time.Duration // [1s]
	MaxDelay            time.Duration // [15m]
	Window              time.Duration // [1h]
}

func (c *ThrottleConfig) defaults() {
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
}

// ThrottledError says how long to wait before the next login attempt.
type ThrottledError struct{ Wait time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed logins; try again in %s", e.Wait.Round(time.Second))
}

type throttleKey struct {
	key  string
	free int
}

// throttleKeys are the counters one login attempt touches. The client
// address is hashed: a throttle record is no place to keep who connected.
func (s *Service) throttleKeys(name, addr string) []throttleKey {
	sum := sha256.Sum256([]byte(addr))
	acct := name
	if ValidName(name) != nil {
		h := sha256.Sum256([]byte(name))
		acct = "#" + hex.EncodeToString(h[:8])
	}
	return []throttleKey{
		{"acct:" + acct, s.cfg.Throttle.AccountFreeAttempts},
		{"addr:" + hex.EncodeToString(sum[:12]), s.cfg.Throttle.AddressFreeAttempts},
	}
}

// throttleWait returns how long the caller must still wait, 0 if none.
func (s *Service) throttleWait(ctx context.Context, keys []throttleKey) (time.Duration, error) {
	var wait time.Duration
	now := s.now()
	for _, k := range keys {
		b, err := s.rec.Get(ctx, nsThrottleUntil, k.key)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read login throttle: %w", err)
		}
		ns, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			continue // a damaged record must not lock anyone out forever
		}
		if d := time.Unix(0, ns).Sub(now); d > wait {
			wait = d
		}
	}
	return wait, nil
}

// throttleFail counts one failure on every key and sets the next allowed
// time of keys past their free attempts.
func (s *Service) throttleFail(ctx context.Context, keys []throttleKey) error {
	cfg := s.cfg.Throttle
	for _, k := range keys {
		n, err := s.rec.Incr(ctx, nsThrottleCount, k.key, 1, cfg.Window)
		if err != nil {
			return fmt.Errorf("count failed login: %w", err)
		}
		if n <= int64(k.free) {
			continue
		}
		d := cfg.MaxDelay
		if exp := n - int64(k.free) - 1; exp < 30 {
			d = min(time.Duration(float64(cfg.BaseDelay)*math.Pow(2, float64(exp))), cfg.MaxDelay)
		}
		until := s.now().Add(d).UnixNano()
		if err := s.rec.Put(ctx, nsThrottleUntil, k.key, []byte(strconv.FormatInt(until, 10)), d+time.Minute); err != nil {
			return fmt.Errorf("store login throttle: %w", err)
		}
	}
	return nil
}

// throttleSuccess clears the account's counter; the address counter stays
// so that one correct login does not reset a spray across accounts.
func (s *Service) throttleSuccess(ctx context.Context, keys []throttleKey) error {
	if err := s.rec.Delete(ctx, nsThrottleCount, keys[0].key); err != nil {
		return fmt.Errorf("clear login throttle: %w", err)
	}
	if err := s.rec.Delete(ctx, nsThrottleUntil, keys[0].key); err != nil {
		return fmt.Errorf("clear login throttle: %w", err)
	}
	return nil
}
