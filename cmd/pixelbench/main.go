// Command pixelbench is the pixel endpoint's load script (make bench-pixel).
//
// It starts a throw-away redis-server on 127.0.0.1, serves pixelgate's pixel
// endpoint (production router, Redis store, metrics) and, as the reference,
// a minimal chi handler that does one Redis GET per request and answers the
// same GIF. It then drives both, alternately, with many distinct valid
// tokens over a fixed number of keep-alive connections, and prints req/s,
// p50, p99, errors and the ratio pixel/reference. Everything stays on
// 127.0.0.1 and every phase is bounded in time and request count.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/redisstore"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/internal/urlpath"
	"github.com/pixelgate/pixelgate/proxy/pixel"
	"github.com/pixelgate/pixelgate/web"
)

type options struct {
	conns       int
	duration    time.Duration
	maxRequests int64
	recipients  int
	granted     float64
	rounds      int
}

func main() {
	var o options
	flag.IntVar(&o.conns, "conns", 64, "concurrent connections")
	flag.DurationVar(&o.duration, "duration", 500*time.Millisecond, "length of one measured slice (bounded)")
	flag.Int64Var(&o.maxRequests, "max-requests", 500_000, "request cap of one phase")
	flag.IntVar(&o.recipients, "recipients", 20_000, "distinct recipients, one token each")
	flag.Float64Var(&o.granted, "granted", 0.5, "share of recipients who granted consent (the rest record nothing)")
	flag.IntVar(&o.rounds, "rounds", 12, "alternating slices of reference and pixel; the machine is shared, so short interleaved slices spread other load evenly over both")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "pixelbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(context.Background(), o, os.Stdout); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "pixelbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	if o.conns < 1 || o.duration <= 0 || o.duration > 2*time.Minute || o.recipients < 1 || o.rounds < 1 || o.granted < 0 || o.granted > 1 {
		return errors.New("bad flags: want conns >= 1, 0 < duration <= 2m, recipients >= 1, rounds >= 1, 0 <= granted <= 1")
	}
	srv, err := redistest.StartProcess()
	if err != nil {
		return err
	}
	defer srv.Stop()

	keysDir, err := os.MkdirTemp("", "pixelbench-keys-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(keysDir)
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: keysDir})
	if err != nil {
		return err
	}
	st, err := redisstore.Open(ctx, srv.URL(), redisstore.Options{StoreOptions: consent.StoreOptions{Audit: kr.AuditChain()}, PoolSize: o.conns})
	if err != nil {
		return err
	}
	defer st.Close()

	paths, err := makeTokens(ctx, st, kr, o)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	pixel, err := pixel.NewPixelHandler(pixel.PixelConfig{Store: st, Keyring: kr, Registerer: reg})
	if err != nil {
		return err
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: o.conns})
	defer rdb.Close()

	pixelURL, stopPixel, err := serve(web.NewRouter(web.Handlers{Pixel: pixel}))
	if err != nil {
		return err
	}
	defer stopPixel()
	refURL, stopRef, err := serve(referenceHandler(rdb))
	if err != nil {
		return err
	}
	defer stopRef()

	fmt.Fprintf(out, "pixelbench: %d connections, %d distinct tokens (%.0f%% granted), %d interleaved slices of %s per handler, redis-server on %s\n",
		o.conns, len(paths), o.granted*100, o.rounds, o.duration, srv.Addr())
	// Warm both up (connections, script cache) outside the measurement.
	warm := o
	warm.duration = o.duration / 2
	drive(ctx, refURL, paths, warm, nil)
	drive(ctx, pixelURL, paths, warm, nil)
	var ref, pix result
	for round := range o.rounds {
		// Alternate which goes first so neither always follows the other.
		if round%2 == 0 {
			ref.add(drive(ctx, refURL, paths, o, &ref.lat))
			pix.add(drive(ctx, pixelURL, paths, o, &pix.lat))
		} else {
			pix.add(drive(ctx, pixelURL, paths, o, &pix.lat))
			ref.add(drive(ctx, refURL, paths, o, &ref.lat))
		}
	}
	ref.finish()
	pix.finish()
	ratio := pix.rps() / ref.rps()
	fmt.Fprintf(out, "reference (chi + 1 Redis GET)  %s\npixel     (/o/{token}.gif)     %s\nratio pixel/reference req/s = %.2f (target >= 1.00), errors %d\n",
		ref, pix, ratio, ref.errors+pix.errors)
	// The pixel makes its store call after the answer: its req/s counts
	// only if those calls kept up. Drain, then say how many did not.
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_ = pixel.Close(dctx)
	cancel()
	done, lost := recordCounts(reg)
	fmt.Fprintf(out, "pixel store calls after the answer: %.0f made, %.0f dropped (queue full or not drained)\n", done, lost)
	// Where Redis spent its time: a script does more than a GET, and on a
	// shared machine Redis's single thread is often what saturates first.
	if info, err := rdb.Info(ctx, "commandstats").Result(); err == nil {
		for line := range strings.SplitSeq(info, "\n") {
			if strings.HasPrefix(line, "cmdstat_get:") || strings.HasPrefix(line, "cmdstat_evalsha:") {
				fmt.Fprintln(out, "redis", strings.TrimSpace(line))
			}
		}
	}
	if ref.errors+pix.errors > 0 {
		return fmt.Errorf("%d requests failed", ref.errors+pix.errors)
	}
	return nil
}

// makeTokens creates the recipients, grants consent to a share of them, and
// seals one open token each (distinct keys, so every hit is a different
// recipient, as in real traffic).
func makeTokens(ctx context.Context, st consent.Store, kr *consent.Keyring, o options) ([]string, error) {
	paths := make([]string, o.recipients)
	grantEvery := 0
	if o.granted > 0 {
		grantEvery = int(1 / o.granted)
	}
	for i := range paths {
		k, err := kr.RecipientKey(fmt.Sprintf("bench-%d@example.com", i))
		if err != nil {
			return nil, err
		}
		if grantEvery > 0 && i%grantEvery == 0 {
			if _, err := st.Grant(ctx, k, consent.Evidence{Source: consent.SourceImport, Actor: "pixelbench"}); err != nil {
				return nil, fmt.Errorf("grant: %w", err)
			}
		}
		tok, err := kr.Seal(consent.Token{Purpose: consent.PurposeOpen, Key: k, Campaign: fmt.Sprintf("bench-%d", i%20)})
		if err != nil {
			return nil, err
		}
		paths[i] = urlpath.Pixel("", tok)
	}
	return paths, nil
}

// gif is the same 43-byte answer as the pixel's, so both send equal bytes.
var gif = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

// referenceHandler is the smallest useful pixel: chi routing, one Redis
// GET, the GIF.
func referenceHandler(rdb *redis.Client) http.Handler {
	r := chi.NewRouter()
	r.Get("/o/{token}", func(w http.ResponseWriter, req *http.Request) {
		if err := rdb.Get(req.Context(), "ref:"+chi.URLParam(req, "token")).Err(); err != nil && !errors.Is(err, redis.Nil) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "image/gif")
		w.Header().Set("Cache-Control", "no-store, private")
		_, _ = w.Write(gif)
	})
	return r
}

func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = s.Close() }, nil
}

type result struct {
	n, errors int64
	elapsed   time.Duration
	p50, p99  time.Duration
	lat       []time.Duration
}

func (r *result) add(s result) {
	r.n += s.n
	r.errors += s.errors
	r.elapsed += s.elapsed
}

func (r *result) finish() {
	slices.Sort(r.lat)
	if len(r.lat) > 0 {
		r.p50 = r.lat[len(r.lat)/2]
		r.p99 = r.lat[len(r.lat)*99/100]
	}
}

func (r result) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.n) / r.elapsed.Seconds()
}

func (r result) String() string {
	return fmt.Sprintf("%9.0f req/s  p50 %7s  p99 %7s  requests %7d  errors %d",
		r.rps(), r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.n, r.errors)
}

// drive sends requests on o.conns keep-alive connections until the slice's
// time or request budget runs out, appending latencies to lat when not nil.
func drive(ctx context.Context, base string, paths []string, o options, lat *[]time.Duration) result {
	tr := &http.Transport{MaxIdleConnsPerHost: o.conns, MaxConnsPerHost: o.conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()

	var next, errs atomic.Int64
	perConn := make([][]time.Duration, o.conns)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range o.conns {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1)
				if i > o.maxRequests {
					return
				}
				t0 := time.Now()
				if !hit(client, base+paths[int(i)%len(paths)]) {
					errs.Add(1)
				}
				perConn[w] = append(perConn[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(perConn...)
	if lat != nil {
		*lat = append(*lat, all...)
	}
	return result{n: int64(len(all)), errors: errs.Load(), elapsed: elapsed}
}

func hit(c *http.Client, url string) bool {
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err == nil && resp.StatusCode == http.StatusOK && n == int64(len(gif))
}

// recordCounts sums the pixel's recorded outcomes (store calls made) and
// its lost records from the registry.
func recordCounts(reg *prometheus.Registry) (done, lost float64) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, 0
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "pixelgate_pixel_records_lost_total":
				lost += m.GetCounter().GetValue()
			case "pixelgate_pixel_hits_total":
				for _, l := range m.GetLabel() {
					switch l.GetValue() {
					case "recorded", "repeat", "not-granted", "store-error":
						done += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	return done, lost
}
