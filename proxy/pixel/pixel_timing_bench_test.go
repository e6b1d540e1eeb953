package pixel

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/consent/redisstore"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/web"
)

// BenchmarkPixelTiming reports the median time a client waits for the
// pixel's answer, per outcome, on Redis and on the embedded store in one
// run: a granted recipient's first open, a withdrawn recipient's open, an
// invalid token, and a granted open while the store is down. Anyone who
// holds a token (a forwarded email, the ESP) can time the answer, so the
// medians of one store should not differ beyond noise (R3: a withdrawal
// must not be observable). Requests of the three live outcomes are
// interleaved over one keep-alive connection so that the machine's other
// load falls evenly on them; "down" is measured last, with at most 20
// requests. Read the µs-* figures; ns/op means nothing here.
//
//	go test ./proxy -run '^$' -bench PixelTiming -benchtime 400x
func BenchmarkPixelTiming(b *testing.B) {
	for _, kind := range []string{"redis", "bolt"} {
		b.Run(kind, func(b *testing.B) {
			kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			var st consent.Store
			var down func() error
			if kind == "redis" {
				srv := redistest.Start(b)
				st, err = redisstore.Open(b.Context(), srv.URL(), redisstore.Options{StoreOptions: consent.StoreOptions{Audit: kr.AuditChain()}})
				down = srv.Stop
			} else {
				var bs *boltstore.Store
				bs, err = boltstore.Open(filepath.Join(b.TempDir(), "pixelgate.db"), boltstore.Options{StoreOptions: consent.StoreOptions{Audit: kr.AuditChain()}})
				st, down = bs, bs.Close
			}
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			ctx := context.Background()
			nDown := min(b.N, 20)
			token := func(name string, state consent.State) string {
				k, err := kr.RecipientKey(name + "@example.com")
				if err != nil {
					b.Fatal(err)
				}
				ev := consent.Evidence{Source: consent.SourceImport}
				if state != consent.None {
					if _, err := st.Grant(ctx, k, ev); err != nil {
						b.Fatal(err)
					}
				}
				if state == consent.Withdrawn {
					if _, err := st.Withdraw(ctx, k, ev); err != nil {
						b.Fatal(err)
					}
				}
				tok, err := kr.Seal(consent.Token{Purpose: consent.PurposeOpen, Key: k, Campaign: "timing"})
				if err != nil {
					b.Fatal(err)
				}
				return "/o/" + tok + ".gif"
			}
			var granted, withdrawn, downPaths []string
			for i := range b.N {
				granted = append(granted, token(fmt.Sprint("g", i), consent.Granted))
			}
			for i := range min(b.N, 64) {
				withdrawn = append(withdrawn, token(fmt.Sprint("w", i), consent.Withdrawn))
			}
			for i := range nDown {
				downPaths = append(downPaths, token(fmt.Sprint("d", i), consent.Granted))
			}
			invalid := "/o/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789.gif"

			var ph http.Handler
			ph, err = NewPixelHandler(PixelConfig{Store: st, Keyring: kr, Registerer: prometheus.NewRegistry()})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(web.NewRouter(web.Handlers{Pixel: ph}))
			defer srv.Close()
			client := srv.Client()
			get := func(path string) time.Duration {
				start := time.Now()
				resp, err := client.Get(srv.URL + path)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := time.Since(start)
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
				return d
			}
			get(invalid) // the connection is opened outside the measure
			times := map[string][]time.Duration{}
			b.ResetTimer()
			for i := range b.N {
				reqs := [3]struct{ name, path string }{
					{"granted", granted[i]}, {"withdrawn", withdrawn[i%len(withdrawn)]}, {"invalid", invalid},
				}
				for j := range reqs {
					r := reqs[(i+j)%3]
					times[r.name] = append(times[r.name], get(r.path))
				}
			}
			if err := down(); err != nil {
				b.Fatal(err)
			}
			for _, p := range downPaths {
				times["down"] = append(times["down"], get(p))
			}
			b.StopTimer()
			if c, ok := ph.(interface{ Close(context.Context) error }); ok {
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_ = c.Close(cctx)
				cancel()
			}
			for _, name := range []string{"granted", "withdrawn", "invalid", "down"} {
				b.ReportMetric(median(times[name]), "µs-"+name+"-p50")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// median of ds in microseconds.
func median(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2]) / float64(time.Microsecond)
}
