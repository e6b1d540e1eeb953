package pixel

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/redisstore"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/web"
)

// BenchmarkPixelRedis measures the pixel handler (router included) against
// a real redis-server, next to the reference of make bench-pixel: chi plus
// one Redis GET. Compare the two ns/op of one run; the ratio is what
// matters on a shared machine.
func BenchmarkPixelRedis(b *testing.B) {
	srv := redistest.Start(b)
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	st, err := redisstore.Open(b.Context(), srv.URL(), redisstore.Options{StoreOptions: consent.StoreOptions{Audit: kr.AuditChain()}, PoolSize: 64})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	paths := make([]string, 4096)
	for i := range paths {
		k, _ := kr.RecipientKey(fmt.Sprintf("b%d@example.com", i))
		if i%2 == 0 {
			if _, err := st.Grant(b.Context(), k, consent.Evidence{Source: consent.SourceImport}); err != nil {
				b.Fatal(err)
			}
		}
		tok, _ := kr.Seal(consent.Token{Purpose: consent.PurposeOpen, Key: k, Campaign: "bench"})
		paths[i] = "/o/" + tok + ".gif"
	}
	ph, err := NewPixelHandler(PixelConfig{Store: st, Keyring: kr, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 64})
	defer rdb.Close()
	ref := chi.NewRouter()
	ref.Get("/o/{token}", func(w http.ResponseWriter, r *http.Request) {
		_ = rdb.Get(r.Context(), "ref:"+chi.URLParam(r, "token")).Err()
		writeGIF(w, r)
	})
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"reference", ref}, {"pixel", web.NewRouter(web.Handlers{Pixel: ph})}} {
		b.Run(c.name, func(b *testing.B) {
			var n atomic.Int64
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodGet, paths[int(n.Add(1))%len(paths)], nil)
					c.h.ServeHTTP(httptest.NewRecorder(), req)
				}
			})
		})
	}
}
