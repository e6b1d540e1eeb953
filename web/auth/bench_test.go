package auth

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"

	"github.com/pixelgate/pixelgate/consent/passhash"

	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/consent/storetest"
)

// BenchmarkSession measures what every dashboard request pays to check its
// cookie (session read, account read, no write within a minute) against the
// reference of one bare SharedKV.Get on the same embedded store.
func BenchmarkSession(b *testing.B) {
	clock := storetest.NewClock(storetest.Start())
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "s.db"), boltstore.Options{StoreOptions: storetest.Options(clock)})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s, err := New(st.SharedKV(), Config{Hash: testHash, ThrottleKey: testThrottleKey(b)}, clock.Now, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	tok, err := s.FirstRunLink(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.RedeemLink(ctx, tok, "bench", "Correct-Pony-Battery-42"); err != nil {
		b.Fatal(err)
	}
	cookie, _, err := s.Login(ctx, LoginRequest{Name: "bench", Password: "Correct-Pony-Battery-42", Addr: "127.0.0.1"})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("reference-records-get", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.SharedKV().Get(ctx, nsSessions, secretKey(cookie)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("authenticate", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := s.Authenticate(ctx, cookie); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPasswordHash is the cost of one login's argon2id with the
// default parameters (the price an attacker pays per guess too).
func BenchmarkPasswordHash(b *testing.B) {
	for b.Loop() {
		if _, err := passhash.Hash(rand.Reader, DefaultHashParams, "Correct-Pony-Battery-42"); err != nil {
			b.Fatal(err)
		}
	}
}
