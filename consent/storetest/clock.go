// Package storetest is the contract every consent.Store implementation must
// pass (docs/architecture.md, "The store contract"). Run it from
// the implementation's tests:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t testing.TB, o consent.StoreOptions) consent.Store {
//			st, err := mystore.Open(..., o)
//			...
//			t.Cleanup(func() { st.Close() })
//			return st
//		})
//	}
//
// The opener must return a store holding no data, configured with o: its
// clock (o.Now) is a Clock the suite advances to check retention, so every
// expiry (retention, SharedKV TTLs, the R5 quiet period) must be judged by
// o.Now, not by the wall clock, at least when read back and after Purge.
// The suite never sleeps to wait for expiry.
package storetest

import (
	"sync"
	"time"
)

// Clock is a settable clock for stores under test.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the func a store takes as StoreOptions.Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}
