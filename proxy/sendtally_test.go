package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/consent/storetest"
	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

// withTally sets the send tally's bounds and drives its flushes from ticks.
// Unless tc says otherwise, a gap in the traffic writes nothing, so only
// ticks, the pending bound and Shutdown do.
func withTally(tc SendTallyConfig, ticks chan time.Time) harnessOption {
	return func(c *Config, _ *smtpsink.Options) {
		tc.Ticks = ticks
		if tc.Quiet == 0 {
			tc.Quiet = -1
		}
		c.SendTally = tc
	}
}

// withClock makes the relay's send times come from clock.
func withClock(clock *storetest.Clock) harnessOption {
	return func(c *Config, _ *smtpsink.Options) { c.Now = clock.Now }
}

// tick makes the tally flush and returns once that flush is over: the
// loop takes the second tick only after finishing the first flush (the
// second one then finds nothing, or only what a failure put back).
func tick(ticks chan time.Time) {
	ticks <- time.Time{}
	ticks <- time.Time{}
}

// waitMetric waits, boundedly, for a counter to reach want.
func waitMetric(t *testing.T, c prometheus.Collector, want float64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if metricValue(c) == want {
			return
		}
	}
	t.Fatalf("metric is %v, want %v", metricValue(c), want)
}

// sendsOf is a campaign's figures, or zero sends when it is unknown.
func sendsOf(t *testing.T, st consent.Store, id string) consent.CampaignStats {
	t.Helper()
	c, err := st.Campaign(context.Background(), id)
	if errors.Is(err, consent.ErrNotFound) {
		return consent.CampaignStats{ID: id}
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (h *harness) sendN(t *testing.T, campaign string, rcpts ...string) {
	t.Helper()
	c := h.dial(false)
	for _, rcpt := range rcpts {
		if err := send(c, "news@shop.example", rcpt, marketingMsg(campaign)); err != nil {
			t.Fatalf("send to %s: %v", rcpt, err)
		}
	}
}

func TestRelayTalliesSendsAndWritesThemInBulk(t *testing.T) {
	var srv *redistest.Server
	for name, st := range map[string]storeMaker{"bolt": boltStore, "redis": redisStore(&srv)} {
		t.Run(name, func(t *testing.T) { testTallyInBulk(t, st) })
	}
}

func testTallyInBulk(t *testing.T, store storeMaker) {
	ticks := make(chan time.Time)
	clock := storetest.NewClock(storetest.Start())
	h := newHarnessWith(t, store, withTally(SendTallyConfig{}, ticks), withClock(clock))
	granted := []string{"g1@example.net", "g2@example.net", "g3@example.net"}
	for _, a := range granted {
		h.grant(a)
	}
	first := clock.Now()
	h.sendN(t, "spring", granted[0], "n1@example.net")
	clock.Advance(10 * time.Minute)
	h.sendN(t, "spring", granted[1], granted[2], "n2@example.net", "n3@example.net", "n4@example.net")
	last := clock.Now()
	h.sendN(t, "autumn", "n5@example.net")

	// Every message was delivered, and nothing was written per message.
	if n := h.sink.Count(); n != 8 {
		t.Fatalf("upstream got %d messages, want 8", n)
	}
	if c := sendsOf(t, h.store, "spring"); c.SendsGranted+c.SendsNotGranted != 0 {
		t.Fatalf("sends written before the tally's flush: %+v", c)
	}

	tick(ticks)
	c := sendsOf(t, h.store, "spring")
	if c.SendsGranted != 3 || c.SendsNotGranted != 4 {
		t.Errorf("spring after a flush: %d granted, %d not; want 3 and 4", c.SendsGranted, c.SendsNotGranted)
	}
	// One write carries the latest send time: the first send is known to
	// the flush interval.
	if !c.LastSend.Equal(last) || c.FirstSend.Before(first) || c.FirstSend.After(last) {
		t.Errorf("spring send times %v .. %v, want within %v .. %v", c.FirstSend, c.LastSend, first, last)
	}
	if a := sendsOf(t, h.store, "autumn"); a.SendsGranted != 0 || a.SendsNotGranted != 1 {
		t.Errorf("autumn: %d granted, %d not; want 0 and 1", a.SendsGranted, a.SendsNotGranted)
	}
	if v := metricValue(h.metrics.SendTally.WithLabelValues("written")); v != 8 {
		t.Errorf("written sends metric %v, want 8", v)
	}

	// Counts already written are not written again.
	h.sendN(t, "spring", "n6@example.net")
	tick(ticks)
	if c := sendsOf(t, h.store, "spring"); c.SendsGranted != 3 || c.SendsNotGranted != 5 {
		t.Errorf("spring after a second flush: %d granted, %d not; want 3 and 5", c.SendsGranted, c.SendsNotGranted)
	}
}

func TestRelayWritesSendsWhenManyArePending(t *testing.T) {
	// Never ticked: only the pending bound makes it write.
	h := newHarness(t, withTally(SendTallyConfig{MaxPending: 3}, make(chan time.Time)))
	h.sendN(t, "spring", "a@example.net", "b@example.net", "c@example.net")
	waitMetric(t, h.metrics.SendTally.WithLabelValues("written"), 3)
	if c := sendsOf(t, h.store, "spring"); c.SendsNotGranted != 3 {
		t.Errorf("after reaching the bound: %d sends not granted, want 3", c.SendsNotGranted)
	}
}

func TestRelayWritesSendsWhenTrafficPauses(t *testing.T) {
	// An hour between flushes, default Quiet: the pause after the last
	// message writes them, so a trickle of mail shows on the dashboard at
	// once.
	h := newHarness(t, withTally(SendTallyConfig{FlushInterval: time.Hour, Quiet: 20 * time.Millisecond}, nil))
	h.grant("g@example.net")
	h.sendN(t, "spring", "g@example.net", "a@example.net")
	waitMetric(t, h.metrics.SendTally.WithLabelValues("written"), 2)
	if c := sendsOf(t, h.store, "spring"); c.SendsGranted != 1 || c.SendsNotGranted != 1 {
		t.Errorf("after a pause: %d granted, %d not; want 1 and 1", c.SendsGranted, c.SendsNotGranted)
	}
}

func TestRelayShutdownWritesPendingSends(t *testing.T) {
	// An hour between flushes: only Shutdown writes these sends.
	h := newHarness(t, withTally(SendTallyConfig{FlushInterval: time.Hour}, nil))
	h.grant("g@example.net")
	h.sendN(t, "spring", "g@example.net", "a@example.net", "b@example.net")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.relay.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if c := sendsOf(t, h.store, "spring"); c.SendsGranted != 1 || c.SendsNotGranted != 2 {
		t.Errorf("after shutdown: %d granted, %d not; want 1 and 2 (SIGTERM must lose no counts)", c.SendsGranted, c.SendsNotGranted)
	}
}

func TestRelayShutdownPastItsGraceStillWritesSends(t *testing.T) {
	h := newHarness(t, withTally(SendTallyConfig{}, make(chan time.Time)))
	h.sendN(t, "spring", "a@example.net", "b@example.net")
	// The grace period is already spent (slow transactions took it all):
	// the delivered messages' counts still get one store timeout.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.relay.Shutdown(ctx)
	if c := sendsOf(t, h.store, "spring"); c.SendsNotGranted != 2 {
		t.Errorf("after a shutdown past its grace: %d sends, want 2", c.SendsNotGranted)
	}
}

// sendFailures is the embedded store with RecordSend failing on demand, as
// a store that cannot take writes does; everything else is the real store.
type sendFailures struct {
	consent.Store
	failing atomic.Bool
}

func (s *sendFailures) RecordSend(ctx context.Context, sd consent.Send) error {
	if s.failing.Load() {
		return fmt.Errorf("record send: %w: disk full", consent.ErrUnavailable)
	}
	return s.Store.RecordSend(ctx, sd)
}

func TestRelayKeepsSendsWhileTheStoreFailsThenDropsThem(t *testing.T) {
	var st *sendFailures
	failing := func(t testing.TB, kr *consent.Keyring) consent.Store {
		st = &sendFailures{Store: boltStore(t, kr)}
		return st
	}
	ticks := make(chan time.Time)
	h := newHarnessWith(t, failing, withTally(SendTallyConfig{MaxFailures: 3, MaxCampaigns: 2}, ticks))
	m := h.metrics.SendTally
	written, failed, dropped := m.WithLabelValues("written"), m.WithLabelValues("write-failed"), m.WithLabelValues("dropped")

	// A failed write keeps the counts for the next one.
	st.failing.Store(true)
	h.sendN(t, "spring", "a@example.net", "b@example.net")
	ticks <- time.Time{} // one flush only: a second would fail again
	waitMetric(t, failed, 2)
	if c := sendsOf(t, h.store, "spring"); c.SendsNotGranted != 0 {
		t.Fatalf("a failed write counted %d sends", c.SendsNotGranted)
	}
	st.failing.Store(false)
	tick(ticks)
	if c := sendsOf(t, h.store, "spring"); c.SendsNotGranted != 2 {
		t.Fatalf("after the store recovered: %d sends, want the 2 kept", c.SendsNotGranted)
	}

	// After MaxFailures failed writes, the counts are dropped and counted.
	st.failing.Store(true)
	h.sendN(t, "spring", "c@example.net")
	for range 3 {
		ticks <- time.Time{}
	}
	waitMetric(t, dropped, 1)
	st.failing.Store(false)
	tick(ticks)
	if c := sendsOf(t, h.store, "spring"); c.SendsNotGranted != 2 {
		t.Errorf("a dropped send was written later: %d sends", c.SendsNotGranted)
	}
	if v := metricValue(failed); v != 5 {
		t.Errorf("write-failed metric %v, want 5 (2, then 1 three times)", v)
	}

	// The tally holds at most MaxCampaigns counts; a send beyond is dropped.
	h.sendN(t, "b", "d@example.net")
	h.sendN(t, "c", "e@example.net")
	h.sendN(t, "d", "f@example.net")
	if v := metricValue(dropped); v != 2 {
		t.Errorf("dropped metric %v, want 2 after a third campaign beyond the bound", v)
	}
	tick(ticks)
	for id, want := range map[string]int64{"b": 1, "c": 1, "d": 0} {
		if c := sendsOf(t, h.store, id); c.SendsNotGranted != want {
			t.Errorf("campaign %s: %d sends, want %d", id, c.SendsNotGranted, want)
		}
	}
	if v := metricValue(written); v != 4 {
		t.Errorf("written metric %v, want 4", v)
	}
	// Every delivered message was written or dropped, none counted twice.
	if v := metricValue(written) + metricValue(dropped); v != float64(h.sink.Count()) {
		t.Errorf("written+dropped %v, delivered %d", v, h.sink.Count())
	}
}

func TestRelayShutdownCountsSendsItCannotWrite(t *testing.T) {
	var st *sendFailures
	failing := func(t testing.TB, kr *consent.Keyring) consent.Store {
		st = &sendFailures{Store: boltStore(t, kr)}
		return st
	}
	h := newHarnessWith(t, failing, withTally(SendTallyConfig{}, make(chan time.Time)))
	st.failing.Store(true)
	h.sendN(t, "spring", "a@example.net", "b@example.net")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.relay.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if v := metricValue(h.metrics.SendTally.WithLabelValues("dropped")); v != 2 {
		t.Errorf("dropped metric %v after a failed last write of 2 sends", v)
	}
}

// TestSendTallyConcurrentSendsAllWritten: sends added from many sessions
// while writes run are each written exactly once.
func TestSendTallyConcurrentSendsAllWritten(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "store.db"),
		boltstore.Options{StoreOptions: consent.StoreOptions{Audit: consent.NewAuditChain([]byte(storetest.AuditKey))}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := NewRelayMetrics(prometheus.NewRegistry())
	tally := newSendTally(SendTallyConfig{MaxPending: 16, FlushInterval: time.Millisecond}, st, 5*time.Second,
		slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	at := storetest.Start()
	const sessions, each = 4, 300
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Go(func() {
			for j := range each {
				tally.add(consent.Send{Campaign: fmt.Sprintf("c%d", j%3), Granted: (i+j)%2 == 0, At: at.Add(time.Duration(j) * time.Second)})
			}
		})
	}
	wg.Wait()
	tally.close(context.Background())
	var total int64
	for i := range 3 {
		c := sendsOf(t, st, fmt.Sprintf("c%d", i))
		total += c.SendsGranted + c.SendsNotGranted
		if c.SendsGranted != c.SendsNotGranted {
			t.Errorf("c%d: %d granted, %d not; want equal halves", i, c.SendsGranted, c.SendsNotGranted)
		}
	}
	if total != sessions*each {
		t.Errorf("store counted %d sends, want %d", total, sessions*each)
	}
	if v := metricValue(m.SendTally.WithLabelValues("written")); v != sessions*each {
		t.Errorf("written metric %v", v)
	}
	// A send after close is written at once.
	tally.add(consent.Send{Campaign: "late", At: at})
	if c := sendsOf(t, st, "late"); c.SendsNotGranted != 1 {
		t.Errorf("send after close: %d", c.SendsNotGranted)
	}
}

// BenchmarkSendBookkeeping is the store cost of counting one delivered
// message, from storetest.Callers sessions at once: "per-message" is one
// RecordSend per message (the relay before the tally), "tally" adds to the
// tally with its default bounds, the writes it makes and its final write
// included. Same store kinds, same run: compare the ratios.
func BenchmarkSendBookkeeping(b *testing.B) {
	stores := map[string]storeMaker{"bolt": boltStore}
	var srv *redistest.Server
	stores["redis"] = redisStore(&srv)
	for _, name := range []string{"bolt", "redis"} {
		kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: filepath.Join(b.TempDir(), "keys")})
		if err != nil {
			b.Fatal(err)
		}
		st := stores[name](b, kr)
		b.Cleanup(func() { st.Close() })
		at := storetest.Start()
		sendOf := func(i uint64) consent.Send {
			return consent.Send{Campaign: "bench", CampaignName: "Bench", Granted: i%2 == 0, At: at}
		}
		b.Run(name+"/per-message", func(b *testing.B) {
			b.ReportAllocs()
			storetest.RunParallel(b, func(ctx context.Context, i uint64) error {
				return st.RecordSend(ctx, sendOf(i))
			})
		})
		b.Run(name+"/tally", func(b *testing.B) {
			b.ReportAllocs()
			tally := newSendTally(SendTallyConfig{}, st, 5*time.Second, slog.New(slog.DiscardHandler),
				NewRelayMetrics(prometheus.NewRegistry()))
			storetest.RunParallel(b, func(_ context.Context, i uint64) error {
				tally.add(sendOf(i))
				return nil
			})
			tally.close(context.Background())
		})
	}
}
