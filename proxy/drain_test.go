package proxy

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

// holdFinalReply makes the harness's upstream, a real go-smtp server, hold
// its answer to the end of data until release; arrived closes when the
// message is in.
func holdFinalReply(t *testing.T) (opt harnessOption, arrived <-chan struct{}, release chan<- struct{}) {
	t.Helper()
	arr, rel := make(chan struct{}), make(chan struct{})
	var once sync.Once
	opt = func(_ *Config, o *smtpsink.Options) {
		o.Behaviour = func(*smtpsink.Message) smtpsink.Action {
			once.Do(func() { close(arr) })
			<-rel
			return smtpsink.Action{}
		}
	}
	t.Cleanup(func() {
		select {
		case <-rel:
		default:
			close(rel)
		}
	})
	return opt, arr, rel
}

// TestRelayShutdownWaitsForDeliveryInFlight: SIGTERM while the upstream
// takes its time over a message. The grace ends, yet the relay waits for
// the upstream's answer and the client hears 250, instead of a cut
// connection that makes it resend a message the ESP delivered.
func TestRelayShutdownWaitsForDeliveryInFlight(t *testing.T) {
	hold, arrived, release := holdFinalReply(t)
	h := newHarness(t, hold)
	c := h.dial(false)
	done := make(chan error, 1)
	go func() { done <- send(c, "n@shop.example", "a@example.net", marketingMsg("x")) }()
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	shut := make(chan struct{})
	go func() { h.relay.Shutdown(ctx); close(shut) }()
	<-ctx.Done() // the grace is over
	select {
	case err := <-done:
		t.Fatalf("client answered before the upstream: %v", err)
	case <-shut:
		t.Fatal("shutdown finished before the delivery in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("client got %v, want 250", err)
	}
	<-shut
	if n := h.sink.Count(); n != 1 {
		t.Fatalf("upstream got %d messages", n)
	}
}
