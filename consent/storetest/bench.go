package storetest

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pixelgate/pixelgate/consent"
)

// Callers is the number of concurrent callers of the parallel benchmarks:
// a busy relay and pixel endpoint.
const Callers = 64

// benchKeys is how many recipients the benchmarks spread over.
const benchKeys = 4096

// RunParallel runs op from Callers goroutines until b.N calls are done; i is
// a distinct call number. It is exported so a store's own reference
// benchmark (e.g. a plain Redis GET) runs with the same concurrency.
func RunParallel(b *testing.B, op func(ctx context.Context, i uint64) error) {
	b.Helper()
	ctx := b.Context()
	b.SetParallelism((Callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	var n atomic.Uint64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(ctx, n.Add(1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// Bench measures the two hot paths on stores made by open: Lookup (the relay,
// once per recipient) and RecordOpen (the pixel endpoint), each from Callers
// goroutines, over benchKeys recipients of whom half granted.
func Bench(b *testing.B, open Opener) {
	clock := NewClock(Start())
	st := open(b, Options(clock))
	ctx := b.Context()
	keys := make([]consent.Key, benchKeys)
	for i := range keys {
		keys[i] = key(i)
	}
	// Half the recipients granted, set up by concurrent callers so stores
	// that batch commits are not slowed down by one-at-a-time setup.
	var wg sync.WaitGroup
	errs := make(chan error, Callers)
	for w := range Callers {
		wg.Go(func() {
			for i := w * 2; i < benchKeys; i += 2 * Callers {
				if _, err := st.Grant(ctx, keys[i], consent.Evidence{Source: consent.SourceImport}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	b.Run("Lookup", func(b *testing.B) {
		RunParallel(b, func(ctx context.Context, i uint64) error {
			_, err := st.Lookup(ctx, keys[i%benchKeys:i%benchKeys+1])
			return err
		})
	})
	b.Run("RecordOpen", func(b *testing.B) {
		RunParallel(b, func(ctx context.Context, i uint64) error {
			_, err := st.RecordOpen(ctx, consent.Open{Key: keys[i%benchKeys], Campaign: "bench", At: clock.Now()})
			return err
		})
	})
}
