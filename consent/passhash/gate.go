package passhash

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// ErrBusy: no room to hash within the wait allowed. It means "try again
// later", never "wrong password": nothing was compared.
var ErrBusy = errors.New("too many password checks at once; try again shortly")

// DefaultMemoryBudget is the memory all password hashes of a process may
// hold at once when the operator sets none: six hashes of the Default cost,
// so a burst of logins stays in the low hundreds of megabytes instead of
// growing by 19 MiB per concurrent attempt.
const DefaultMemoryBudget = 128 << 20

// DefaultMaxWait is how long a hash waits for room when the caller's
// context has no earlier deadline.
const DefaultMaxWait = 10 * time.Second

// Gate bounds the memory of the argon2id computations running at once: each
// one holds its memory cost (m) from a shared budget for as long as it runs,
// and waits, up to a deadline, for room. One Gate serves every password
// check of a process (dashboard logins, relay AUTH), since they share its
// memory. It is safe for concurrent use.
type Gate struct {
	budgetKiB uint64
	maxWait   time.Duration

	mu      sync.Mutex
	usedKiB uint64
	waiters []*waiter // FIFO: a large request is not starved by small ones

	running atomic.Int64
	peak    atomic.Int64
	runs    atomic.Int64
}

type waiter struct {
	kib   uint64
	ready chan struct{}
}

// NewGate makes a gate of budget bytes (at least one hash of any cost runs
// at a time, however small the budget). maxWait bounds the wait for room;
// <= 0 means DefaultMaxWait.
func NewGate(budget int64, maxWait time.Duration) *Gate {
	if maxWait <= 0 {
		maxWait = DefaultMaxWait
	}
	return &Gate{budgetKiB: uint64(max(budget, 1024)) / 1024, maxWait: maxWait}
}

// Slots is how many hashes of cost p run at once under this gate.
func (g *Gate) Slots(p Params) int {
	return int(max(g.budgetKiB/uint64(max(p.MemoryKiB, 1)), 1))
}

// GateStats count what went through a gate: Runs hashes computed, Peak the
// most running at one time. Tests and load measurements read them.
type GateStats struct {
	Runs int64
	Peak int64
}

// Stats returns the counts so far.
func (g *Gate) Stats() GateStats {
	return GateStats{Runs: g.runs.Load(), Peak: g.peak.Load()}
}

// acquire takes kib from the budget, waiting in line until there is room,
// ctx is done or maxWait has passed. A request larger than the whole budget
// takes the whole budget (it then runs alone).
func (g *Gate) acquire(ctx context.Context, kib uint64) (uint64, error) {
	kib = min(max(kib, 1), g.budgetKiB)
	g.mu.Lock()
	if len(g.waiters) == 0 && g.usedKiB+kib <= g.budgetKiB {
		g.usedKiB += kib
		g.mu.Unlock()
		return kib, nil
	}
	w := &waiter{kib: kib, ready: make(chan struct{})}
	g.waiters = append(g.waiters, w)
	g.mu.Unlock()

	timer := time.NewTimer(g.maxWait)
	defer timer.Stop()
	var cause error
	select {
	case <-w.ready:
		return kib, nil
	case <-ctx.Done():
		cause = ctx.Err()
	case <-timer.C:
		cause = fmt.Errorf("waited %s", g.maxWait)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-w.ready:
		// Granted while giving up: keep it, the caller is still here.
		return kib, nil
	default:
	}
	for i, o := range g.waiters {
		if o == w {
			g.waiters = append(g.waiters[:i], g.waiters[i+1:]...)
			break
		}
	}
	// Leaving the head of the line may let the next ones in.
	g.grantLocked()
	return 0, fmt.Errorf("%w (%v)", ErrBusy, cause)
}

func (g *Gate) release(kib uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.usedKiB -= kib
	g.grantLocked()
}

// grantLocked admits waiters from the head of the line while they fit.
func (g *Gate) grantLocked() {
	for len(g.waiters) > 0 && g.usedKiB+g.waiters[0].kib <= g.budgetKiB {
		w := g.waiters[0]
		g.waiters = g.waiters[1:]
		g.usedKiB += w.kib
		close(w.ready)
	}
}

// run computes fn holding kib of the budget.
func (g *Gate) run(ctx context.Context, kib uint32, fn func()) error {
	held, err := g.acquire(ctx, uint64(kib))
	if err != nil {
		return err
	}
	defer g.release(held)
	n := g.running.Add(1)
	defer g.running.Add(-1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	g.runs.Add(1)
	fn()
	return nil
}

// Hash is Hash once the gate has room; ErrBusy when it has none in time.
func (g *Gate) Hash(ctx context.Context, rand io.Reader, p Params, password string) (string, error) {
	var enc string
	var herr error
	if err := g.run(ctx, p.MemoryKiB, func() { enc, herr = Hash(rand, p, password) }); err != nil {
		return "", err
	}
	return enc, herr
}

// Verify is Verify once the gate has room; ErrBusy when it has none in
// time. A malformed hash is refused before waiting.
func (g *Gate) Verify(ctx context.Context, hash, password string) (bool, error) {
	ph, err := parse(hash)
	if err != nil {
		return false, err
	}
	var ok bool
	if err := g.run(ctx, ph.p.MemoryKiB, func() { ok = ph.verify(password) }); err != nil {
		return false, err
	}
	return ok, nil
}
