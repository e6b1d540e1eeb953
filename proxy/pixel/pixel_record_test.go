package pixel

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/internal/testsupport"
	"github.com/pixelgate/pixelgate/web"
)

// gatedStore is a real store whose RecordOpen and RecordClick wait for
// the test to open the gate (or for their context to end): it shows what
// the answer does not wait for.
type gatedStore struct {
	consent.Store
	gate    chan struct{}
	entered chan struct{} // one value per call that reached the gate
}

func newGatedStore(st consent.Store) *gatedStore {
	return &gatedStore{Store: st, gate: make(chan struct{}), entered: make(chan struct{}, 64)}
}

func (g *gatedStore) wait(ctx context.Context) error {
	g.entered <- struct{}{}
	select {
	case <-g.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gatedStore) RecordOpen(ctx context.Context, o consent.Open) (consent.OpenResult, error) {
	if err := g.wait(ctx); err != nil {
		return consent.NotRecorded, err
	}
	return g.Store.RecordOpen(ctx, o)
}

func (g *gatedStore) RecordClick(ctx context.Context, c consent.Click) (consent.OpenResult, error) {
	if err := g.wait(ctx); err != nil {
		return consent.NotRecorded, err
	}
	return g.Store.RecordClick(ctx, c)
}

// gatedEnv serves the pixel and the click redirect over a gated real
// store, with the recorder settings given.
type gatedEnv struct {
	*pixelEnv
	g *gatedStore
}

func newGatedEnv(t *testing.T, open func(*testing.T, *consent.Keyring) pixelStore, queue, workers int) *gatedEnv {
	t.Helper()
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	st := open(t, kr)
	g := newGatedStore(st)
	reg := prometheus.NewRegistry()
	ph, err := NewPixelHandler(PixelConfig{Store: g, Keyring: kr, Registerer: reg, RecordQueue: queue, RecordWorkers: workers})
	if err != nil {
		t.Fatal(err)
	}
	lh, err := NewLinkHandler(LinkConfig{Store: g, Keyring: kr, Registerer: reg, RecordQueue: queue, RecordWorkers: workers})
	if err != nil {
		t.Fatal(err)
	}
	e := &pixelEnv{ph: ph, lh: lh, st: st, kr: kr, reg: reg}
	e.srv = httptest.NewServer(web.NewRouter(web.Handlers{Pixel: ph, Link: lh}))
	t.Cleanup(func() {
		e.srv.Close()
		g.release()
		closeHandlers(t, ph, lh)
	})
	return &gatedEnv{pixelEnv: e, g: g}
}

// release opens the gate once.
func (g *gatedStore) release() {
	select {
	case <-g.gate:
	default:
		close(g.gate)
	}
}

// get answers without waiting for the store (no settle).
func (e *gatedEnv) get(t *testing.T, path string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// lostCount reads pixelgate_<endpoint>_records_lost_total{reason}.
func lostCount(t *testing.T, reg *prometheus.Registry, endpoint, reason string) float64 {
	t.Helper()
	return testsupport.Gathered(t, reg, "pixelgate_"+endpoint+"_records_lost_total", "reason", reason)
}

// The answer goes before the store is asked anything: a granted open and
// a click are answered while their store calls cannot proceed, and are
// recorded once they can. Before, the answer waited for the store call (its
// timing told a withdrawal), and a store that did not answer cost the open.
func TestPixelAnswersBeforeRecording(t *testing.T) {
	for _, sk := range pixelStoreKinds {
		t.Run(sk.name, func(t *testing.T) {
			e := newGatedEnv(t, sk.open, 16, 2)
			yes := e.key(t, "yes@example.com")
			grant(t, e.st, yes)
			if s := e.get(t, "/o/"+e.token(t, consent.PurposeOpen, yes, "c-first", "")+".gif"); s != http.StatusOK {
				t.Fatalf("pixel status %d", s)
			}
			if s := e.get(t, "/l/"+e.token(t, consent.PurposeLink, yes, "c-first", "https://shop.example/")); s != http.StatusFound {
				t.Fatalf("link status %d", s)
			}
			// Both answers are in; their store calls are still held.
			if c := campaignStats(t, e.st, "c-first"); c.Opens != 0 || c.Clicks != 0 {
				t.Fatalf("recorded before the gate opened: %+v", c)
			}
			e.g.release()
			e.settle(t)
			if c := campaignStats(t, e.st, "c-first"); c.Opens != 1 || c.Clicks != 1 {
				t.Fatalf("after the answers: opens %d, clicks %d, want 1 and 1", c.Opens, c.Clicks)
			}
		})
	}
}

// A full queue never makes a hit wait: it is answered, not recorded, and
// counted.
func TestPixelQueueFullDropsAndCounts(t *testing.T) {
	for _, sk := range pixelStoreKinds {
		t.Run(sk.name, func(t *testing.T) {
			e := newGatedEnv(t, sk.open, 1, 1)
			yes := e.key(t, "yes@example.com")
			grant(t, e.st, yes)
			path := "/o/" + e.token(t, consent.PurposeOpen, yes, "c-full", "") + ".gif"
			e.get(t, path)
			<-e.g.entered // the one worker holds the first open
			for range 4 { // one fits the queue, three do not
				if s := e.get(t, path); s != http.StatusOK {
					t.Fatalf("status %d", s)
				}
			}
			if n := lostCount(t, e.reg, "pixel", lostQueueFull); n != 3 {
				t.Fatalf("dropped %v, want 3", n)
			}
			e.g.release()
			e.settle(t)
			if c := campaignStats(t, e.st, "c-full"); c.Opens != 2 {
				t.Fatalf("opens %d, want the 2 that were queued", c.Opens)
			}
		})
	}
}

// Close records what was answered before it; given too little time, it
// counts what it could not record.
func TestPixelCloseDrainsTheQueue(t *testing.T) {
	for _, sk := range pixelStoreKinds {
		t.Run(sk.name, func(t *testing.T) {
			e := newGatedEnv(t, sk.open, 16, 1)
			yes := e.key(t, "yes@example.com")
			grant(t, e.st, yes)
			for range 3 {
				e.get(t, "/o/"+e.token(t, consent.PurposeOpen, yes, "c-drain", "")+".gif")
			}
			<-e.g.entered
			e.srv.Close() // as serve does: no more hits, then drain
			closed := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				closed <- e.ph.Close(ctx)
			}()
			e.g.release()
			if err := <-closed; err != nil {
				t.Fatal(err)
			}
			if c := campaignStats(t, e.st, "c-drain"); c.Opens != 3 {
				t.Fatalf("opens after Close: %d, want 3", c.Opens)
			}
			if n := lostCount(t, e.reg, "pixel", lostShutdown); n != 0 {
				t.Fatalf("lost at shutdown %v, want 0", n)
			}

			// Given no time: the click in its store call ends, the two
			// queued are counted, nothing waits.
			e2 := newGatedEnv(t, sk.open, 16, 1)
			grant(t, e2.st, yes)
			for range 3 {
				e2.get(t, "/l/"+e2.token(t, consent.PurposeLink, yes, "c-drain", "https://shop.example/"))
			}
			<-e2.g.entered
			e2.srv.Close()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := e2.lh.Close(ctx); err == nil {
				t.Fatal("Close with no time left reported nothing lost")
			}
			if n := lostCount(t, e2.reg, "link", lostShutdown); n != 2 {
				t.Fatalf("lost at shutdown %v, want the 2 still queued", n)
			}
			if c := campaignStats(t, e2.st, "c-drain"); c.Clicks != 0 {
				t.Fatalf("clicks %d after a cancelled drain", c.Clicks)
			}
		})
	}
}
