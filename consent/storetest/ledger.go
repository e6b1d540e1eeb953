package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

func message(i int) consent.MessageID {
	var m consent.MessageID
	m[0], m[15] = byte(i), 0x5a
	return m
}

func (e *env) ledgerStates(op string, got []consent.CopyState, err error, want ...consent.CopyState) {
	e.t.Helper()
	e.must(err)
	if !slices.Equal(got, want) {
		e.t.Errorf("%s: %v, want %v", op, got, want)
	}
}

// testLedger: claims exclude other holders until released or expired,
// delivered marks win over everything and last Retention.Ledger (5 days
// by default), messages are independent and answers come in key order.
func testLedger(e *env) {
	l := e.st.Ledger()
	m, other := message(1), message(2)
	k1, k2, k3 := key(1), key(2), key(3)
	const hold = 5 * time.Minute
	C, D, B, F := consent.CopyClaimed, consent.CopyDelivered, consent.CopyBusy, consent.CopyFree

	got, err := l.Check(e.ctx, m, []consent.Key{k1, k2})
	e.ledgerStates("check of a new message", got, err, F, F)
	got, err = l.Claim(e.ctx, m, []consent.Key{k1, k2}, "a", hold)
	e.ledgerStates("first claim", got, err, C, C)
	got, err = l.Claim(e.ctx, m, []consent.Key{k2, k3, k1}, "b", hold)
	e.ledgerStates("claim of held copies by another holder", got, err, B, C, B)
	got, err = l.Claim(e.ctx, m, []consent.Key{k1}, "a", hold)
	e.ledgerStates("the holder claims again", got, err, C)
	got, err = l.Check(e.ctx, m, []consent.Key{k1, k2, k3})
	e.ledgerStates("check of held copies", got, err, B, B, B)

	e.must(l.Delivered(e.ctx, m, []consent.Key{k1}))
	got, err = l.Claim(e.ctx, m, []consent.Key{k1}, "a", hold)
	e.ledgerStates("claim of a delivered copy, even by its holder", got, err, D)
	// Releasing others' claims or delivered copies changes nothing.
	e.must(l.Release(e.ctx, m, []consent.Key{k1, k2}, "b"))
	got, err = l.Check(e.ctx, m, []consent.Key{k1, k2})
	e.ledgerStates("after a release by the wrong holder", got, err, D, B)
	e.must(l.Release(e.ctx, m, []consent.Key{k1, k2}, "a"))
	got, err = l.Check(e.ctx, m, []consent.Key{k1, k2})
	e.ledgerStates("after the holder's release", got, err, D, F)
	got, err = l.Check(e.ctx, other, []consent.Key{k1, k2, k3})
	e.ledgerStates("another message", got, err, F, F, F)

	// A claim lasts its hold: a crashed holder blocks a retry only that long.
	e.clock.Advance(hold + time.Second)
	got, err = l.Claim(e.ctx, m, []consent.Key{k3, k1}, "c", hold)
	e.ledgerStates("claim after the other holder's hold ran out", got, err, C, D)

	// A delivered mark lasts Retention.Ledger, also after Purge.
	e.clock.Advance(5*day - hold - 2*time.Second)
	e.purge()
	got, err = l.Check(e.ctx, m, []consent.Key{k1})
	e.ledgerStates("delivered mark just before 5 days", got, err, D)
	e.clock.Advance(2 * time.Minute)
	e.purge()
	got, err = l.Check(e.ctx, m, []consent.Key{k1, k3})
	e.ledgerStates("after 5 days", got, err, F, F)

	got, err = l.Claim(e.ctx, m, nil, "a", hold)
	e.ledgerStates("claim of no copies", got, err)
	if _, err := l.Claim(e.ctx, m, []consent.Key{k1}, "", hold); !isErr(err, consent.ErrInvalid) {
		e.t.Errorf("claim without a holder: %v, want ErrInvalid", err)
	}
	if _, err := l.Claim(e.ctx, m, []consent.Key{k1}, "a", 0); !isErr(err, consent.ErrInvalid) {
		e.t.Errorf("claim without a hold: %v, want ErrInvalid", err)
	}
}

// testLedgerConcurrentClaims: many holders claiming the same copies at once
// (replicas serving the same retry) each get a copy no other holder got.
func testLedgerConcurrentClaims(e *env) {
	l := e.st.Ledger()
	m := message(3)
	keys := []consent.Key{key(1), key(2), key(3), key(4), key(5)}
	const holders = 12
	owners := make([][]string, len(keys))
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, holders)
	for h := range holders {
		wg.Go(func() {
			name := fmt.Sprintf("h%d", h)
			ks := slices.Clone(keys)
			rand.New(rand.NewPCG(uint64(h), 1)).Shuffle(len(ks), func(i, j int) { ks[i], ks[j] = ks[j], ks[i] })
			st, err := l.Claim(e.ctx, m, ks, name, time.Minute)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for i, s := range st {
				if s == consent.CopyClaimed {
					j := slices.Index(keys, ks[i])
					owners[j] = append(owners[j], name)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		e.must(err)
	}
	for i, o := range owners {
		if len(o) != 1 {
			e.t.Errorf("copy %d claimed by %v, want exactly one holder", i, o)
		}
	}
}

// testLedgerModel drives the ledger with random operations and holders and
// compares every answer with a model of its rules: the property the relay
// builds on (a copy is sent only by the one holder of a claim, and never
// after it was marked delivered).
func testLedgerModel(e *env) {
	l := e.st.Ledger()
	type entry struct {
		delivered bool
		holder    string
		until     time.Time
	}
	model := map[[2]int]*entry{}
	rng := rand.New(rand.NewPCG(42, 9))
	holders := []string{"r1-a", "r1-b", "r2-a"}
	const hold = 3 * time.Minute
	modelState := func(mi, ki int, holder string) consent.CopyState {
		en := model[[2]int{mi, ki}]
		now := e.clock.Now()
		switch {
		case en == nil || !now.Before(en.until):
			return consent.CopyFree
		case en.delivered:
			return consent.CopyDelivered
		case holder != "" && en.holder == holder:
			return consent.CopyFree
		}
		return consent.CopyBusy
	}
	for step := range 400 {
		mi := rng.IntN(2)
		n := 1 + rng.IntN(4)
		var kis []int
		for range n {
			kis = append(kis, rng.IntN(5))
		}
		kis = slices.Compact(slices.Sorted(slices.Values(kis)))
		ks := make([]consent.Key, len(kis))
		for i, ki := range kis {
			ks[i] = key(ki)
		}
		holder := holders[rng.IntN(len(holders))]
		now := e.clock.Now()
		var err error
		var got, want []consent.CopyState
		op := rng.IntN(10)
		switch {
		case op < 2:
			got, err = l.Check(e.ctx, message(mi), ks)
			for _, ki := range kis {
				want = append(want, modelState(mi, ki, ""))
			}
		case op < 6:
			got, err = l.Claim(e.ctx, message(mi), ks, holder, hold)
			for _, ki := range kis {
				s := modelState(mi, ki, holder)
				if s == consent.CopyFree {
					model[[2]int{mi, ki}] = &entry{holder: holder, until: now.Add(hold)}
					s = consent.CopyClaimed
				}
				want = append(want, s)
			}
		case op < 8:
			err = l.Delivered(e.ctx, message(mi), ks)
			for _, ki := range kis {
				model[[2]int{mi, ki}] = &entry{delivered: true, until: now.Add(e.opts.Retention.WithDefaults().Ledger)}
			}
		case op < 9:
			err = l.Release(e.ctx, message(mi), ks, holder)
			for _, ki := range kis {
				if en := model[[2]int{mi, ki}]; en != nil && !en.delivered && en.holder == holder && now.Before(en.until) {
					delete(model, [2]int{mi, ki})
				}
			}
		default:
			d := []time.Duration{time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 2 * day}[rng.IntN(5)]
			e.clock.Advance(d)
			if rng.IntN(3) == 0 {
				e.purge()
			}
			continue
		}
		if err != nil {
			e.t.Fatalf("step %d: %v", step, err)
		}
		if !slices.Equal(got, want) {
			e.t.Fatalf("step %d (op %d, message %d, keys %v, holder %s): %v, want %v", step, op, mi, kis, holder, got, want)
		}
	}
}
