package storetest

import "sync"

// Tally runs fn(0..n-1) all at once and counts the outcomes it returns:
// the shape of every "many attempts in parallel" test (logins, AUTH).
func Tally(n int, fn func(i int) string) map[string]int {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]int{}
	for i := range n {
		wg.Go(func() {
			o := fn(i)
			mu.Lock()
			out[o]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}
