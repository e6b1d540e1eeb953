package redisstore

import (
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
// multi-key command must stay within one slot, or Redis refuses it.
func TestContractCluster(t *testing.T) {
	storetest.Run(t, openOn(func(t testing.TB) string { return "redis-cluster://" + redistest.StartCluster(t).Addr() }))
}
