package meteredstore

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/consent/storetest"
)

func openBolt(t testing.TB, o consent.StoreOptions) consent.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "pixelgate.db"), boltstore.Options{StoreOptions: o})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// TestContract: measuring changes nothing a caller can see.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t testing.TB, o consent.StoreOptions) consent.Store {
		m, err := Wrap(openBolt(t, o), prometheus.NewRegistry(), time.Now)
		if err != nil {
			t.Fatal(err)
		}
		return m
	})
}

// TestLatencyByOperationAndOutcome: each call is one observation under its
// operation and outcome, a closed store shows as unavailable, and each
// successful consent change is counted by state and source.
func TestLatencyByOperationAndOutcome(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	// A clock that advances 3 ms per reading: each call lasts 3 ms.
	var tick time.Time
	clock := func() time.Time { tick = tick.Add(3 * time.Millisecond); return tick }
	inner := openBolt(t, storetest.Options(storetest.NewClock(storetest.Start())))
	m, err := Wrap(inner, reg, clock)
	if err != nil {
		t.Fatal(err)
	}
	k := consent.Key{1}
	if _, err := m.Grant(ctx, k, consent.Evidence{Source: consent.SourceCLI}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := m.Lookup(ctx, []consent.Key{k}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.SharedKV().Get(ctx, "sessions", "absent"); !errors.Is(err, consent.ErrNotFound) {
		t.Fatalf("records get of a missing key: %v", err)
	}
	if _, err := m.Withdraw(ctx, k, consent.Evidence{Source: consent.SourceConsentPage}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Grant(ctx, consent.Key{2}, consent.Evidence{Source: consent.SourceAPI}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Grant(ctx, k, consent.Evidence{}); !errors.Is(err, consent.ErrInvalid) {
		t.Fatalf("grant without a source: %v, want ErrInvalid", err)
	}
	_ = inner.Close()
	if err := m.Ping(ctx); err == nil {
		t.Fatal("ping on a closed store succeeded")
	}

	want := map[string]uint64{
		`op="grant",outcome="ok"`:                 2,
		`op="grant",outcome="invalid"`:            1,
		`op="withdraw",outcome="ok"`:              1,
		`source="cli",state="granted"`:            1,
		`source="api",state="granted"`:            1,
		`source="consent-page",state="withdrawn"`: 1,
		`op="lookup",outcome="ok"`:                3,
		`op="records_get",outcome="not-found"`:    1,
		`op="ping",outcome="unavailable"`:         1,
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			var labels []string
			for _, l := range mt.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			if c := mt.GetCounter(); c != nil {
				got[strings.Join(labels, ",")] = uint64(c.GetValue())
				continue
			}
			h := mt.GetHistogram()
			got[strings.Join(labels, ",")] = h.GetSampleCount()
			if h.GetSampleCount() > 0 && h.GetSampleSum() != 0.003*float64(h.GetSampleCount()) {
				t.Errorf("%v: sum %v s for %d calls of 3 ms", labels, h.GetSampleSum(), h.GetSampleCount())
			}
		}
	}
	for l, n := range want {
		if got[l] != n {
			t.Errorf("pixelgate_store_seconds{%s}: %d observations, want %d (all: %v)", l, got[l], n, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d series, want %d: %v", len(got), len(want), got)
	}
	if _, err := Wrap(inner, reg, clock); err == nil {
		t.Error("registering twice on one registry succeeded")
	}
}

// BenchmarkLookup compares a consent lookup (the relay's per-message store
// call) on the embedded store with and without the meter; the reference is
// the raw store in the same run.
func BenchmarkLookup(b *testing.B) {
	ctx := context.Background()
	inner := openBolt(b, storetest.Options(storetest.NewClock(storetest.Start())))
	keys := []consent.Key{{1}}
	if _, err := inner.Grant(ctx, keys[0], consent.Evidence{Source: consent.SourceCLI}); err != nil {
		b.Fatal(err)
	}
	m, err := Wrap(inner, prometheus.NewRegistry(), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		st   consent.Store
	}{{"raw", inner}, {"metered", m}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.st.Lookup(ctx, keys); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
