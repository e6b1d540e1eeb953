package redisstore

import (
	"errors"
	"sync"
	"testing"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/consent/storetest"
)

// openOn returns an Opener on a fresh redis-server per store, so every
// subtest of the contract starts empty.
func openOn(url func(t testing.TB) string) storetest.Opener {
	return func(t testing.TB, o consent.StoreOptions) consent.Store {
		t.Helper()
		st, err := Open(t.Context(), url(t), Options{StoreOptions: o})
		if err != nil {
			t.Fatalf("open redis store: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
}

func TestContract(t *testing.T) {
	storetest.Run(t, openOn(func(t testing.TB) string { return redistest.Start(t).URL() }))
}

// TestContractCluster runs the contract in Cluster mode: every script and
// multi-key command must stay within one slot, or Redis refuses it. A new
// Cluster node takes about two seconds to declare itself ok, so a few are
// started ahead of the subtests that will use them.
func TestContractCluster(t *testing.T) {
	next := clusterPool(t, 4)
	storetest.Run(t, openOn(func(t testing.TB) string { return "redis-cluster://" + next(t).Addr() }))
}

// clusterPool starts one-node Clusters in the background, ahead at a time
// and ahead of demand; each is stopped when the parent test ends.
func clusterPool(parent *testing.T, ahead int) func(t testing.TB) *redistest.Server {
	type started struct {
		srv *redistest.Server
		err error
	}
	ready := make(chan started, ahead)
	done := make(chan struct{})
	var mu sync.Mutex
	var all []*redistest.Server
	var wg sync.WaitGroup
	for range ahead {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				srv, err := redistest.StartClusterProcess()
				if srv != nil {
					mu.Lock()
					all = append(all, srv)
					mu.Unlock()
				}
				select {
				case ready <- started{srv, err}:
				case <-done:
					return
				}
				if err != nil {
					return
				}
			}
		})
	}
	parent.Cleanup(func() {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, s := range all {
			if err := s.Stop(); err != nil {
				parent.Errorf("stop redis-server: %v", err)
			}
		}
	})
	return func(t testing.TB) *redistest.Server {
		t.Helper()
		s := <-ready
		if errors.Is(s.err, redistest.ErrNoRedisServer) {
			t.Skip(s.err.Error())
		}
		if s.err != nil {
			t.Fatal(s.err)
		}
		return s.srv
	}
}
