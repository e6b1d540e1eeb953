package consent_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/consent/storetest"
)

// TestRunPurgeEnforcesRetention: the server's purge loop, not a manual
// call, removes data whose retention ran out (R9), and stops with ctx.
func TestRunPurgeEnforcesRetention(t *testing.T) {
	clock := storetest.NewClock(storetest.Start())
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), boltstore.Options{StoreOptions: storetest.Options(clock)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k := consent.Key{7}
	if err := st.RecordDeliverabilityOpen(t.Context(), k, clock.Now()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		consent.RunPurge(ctx, st, 5*time.Millisecond, slog.New(slog.DiscardHandler))
		close(done)
	}()
	clock.Advance(4 * 365 * 24 * time.Hour)
	deadline := time.Now().Add(10 * time.Second)
	for {
		x, err := st.Export(t.Context(), k)
		if err != nil {
			t.Fatal(err)
		}
		if x.LastDeliverable == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliverability date still held 4 years on: %q", x.LastDeliverable)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}
