package passhash

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestGateBoundsConcurrentHashes: forty checks at once through a gate with
// room for two of their cost never run more than two at a time, and all
// complete.
func TestGateBoundsConcurrentHashes(t *testing.T) {
	h, err := Hash(rand.Reader, testHash, "Vt7#kq2!Lm9z")
	if err != nil {
		t.Fatal(err)
	}
	g := NewGate(2*int64(testHash.MemoryKiB)*1024, time.Minute)
	if g.Slots(testHash) != 2 {
		t.Fatalf("slots %d", g.Slots(testHash))
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw := "wrong"
			if i == 0 {
				pw = "Vt7#kq2!Lm9z"
			}
			ok, err := g.Verify(context.Background(), h, pw)
			if err != nil || ok != (i == 0) {
				t.Errorf("check %d: ok=%v err=%v", i, ok, err)
			}
		}()
	}
	wg.Wait()
	if s := g.Stats(); s.Runs != 40 || s.Peak > 2 || s.Peak < 1 {
		t.Errorf("stats %+v, want 40 runs, at most 2 at once", s)
	}
}

// TestGateBusy: with no room, a check gives up at the caller's deadline or
// the gate's wait limit with ErrBusy, not as a wrong password; once room
// is back it runs.
func TestGateBusy(t *testing.T) {
	h, err := Hash(rand.Reader, testHash, "Vt7#kq2!Lm9z")
	if err != nil {
		t.Fatal(err)
	}
	g := NewGate(int64(testHash.MemoryKiB)*1024, 50*time.Millisecond)
	held, err := g.acquire(context.Background(), uint64(testHash.MemoryKiB))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.Verify(ctx, h, "Vt7#kq2!Lm9z"); !errors.Is(err, ErrBusy) {
		t.Errorf("caller's deadline: %v", err)
	}
	if _, err := g.Hash(context.Background(), rand.Reader, testHash, "x"); !errors.Is(err, ErrBusy) {
		t.Errorf("gate's wait limit: %v", err)
	}
	if _, err := g.Verify(context.Background(), "not a hash", "x"); !errors.Is(err, ErrMalformed) {
		t.Errorf("malformed hash waits for room: %v", err)
	}
	g.release(held)
	if ok, err := g.Verify(context.Background(), h, "Vt7#kq2!Lm9z"); err != nil || !ok {
		t.Errorf("after release: ok=%v err=%v", ok, err)
	}
	if s := g.Stats(); s.Runs != 1 {
		t.Errorf("%d hashes ran, want only the one after release", s.Runs)
	}
}

// TestGateLargerThanBudget: a hash costlier than the whole budget runs
// alone instead of never.
func TestGateLargerThanBudget(t *testing.T) {
	g := NewGate(512*1024, time.Minute)
	if _, err := g.Hash(context.Background(), rand.Reader, testHash, "x"); err != nil {
		t.Fatal(err)
	}
}
