package proxy

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

// holdFinalReply is a scripted upstream whose answer to the end of data
// waits for release; it reports when the message has arrived.
func holdFinalReply(t *testing.T) (s *scriptServer, arrived <-chan struct{}, release chan<- struct{}) {
	t.Helper()
	arr, rel := make(chan struct{}), make(chan struct{})
	base := esmtp("PIPELINING")
	var once sync.Once
	s = startScript(t, func(cmd string) string {
		if cmd != "." {
			return base(cmd)
		}
		once.Do(func() { close(arr) })
		<-rel
		return "250 2.0.0 queued\r\n"
	})
	t.Cleanup(func() {
		select {
		case <-rel:
		default:
			close(rel)
		}
	})
	return s, arr, rel
}

// TestRelayShutdownWaitsForDeliveryInFlight: SIGTERM while the upstream
// takes its time over a message. The grace ends, yet the relay waits for
// the upstream's answer and the client hears 250, instead of a cut
// connection that makes it resend a message the ESP delivered.
func TestRelayShutdownWaitsForDeliveryInFlight(t *testing.T) {
	script, arrived, release := holdFinalReply(t)
	up, err := ParseUpstream(UpstreamConfig{URL: "smtp://" + script.addr + "?tls=none", Timeout: 5 * time.Second, DataTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config, _ *smtpsink.Options) { c.Delivery = up })
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
	if _, msgs := script.received(); len(msgs) != 1 {
		t.Fatalf("upstream got %d messages", len(msgs))
	}
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestUpstreamLogsLateFinalReply: an upstream that accepts a message after
// the final-reply timeout has delivered it while the client was told to
// retry; the relay says so in its log.
func TestUpstreamLogsLateFinalReply(t *testing.T) {
	script, arrived, release := holdFinalReply(t)
	var logs lockedBuffer
	up, err := ParseUpstream(UpstreamConfig{URL: "smtp://" + script.addr + "?tls=none", Timeout: 5 * time.Second,
		DataTimeout: 200 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	err = up.Deliver(context.Background(), Envelope{From: "n@shop.example", To: "a@example.net"}, []byte(plainMsg))
	<-arrived
	assertReply(t, err, 451, [3]int{4, 4, 1})
	close(release)
	// Eventually logged: the bound only keeps a failure from hanging.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(logs.String(), "upstream accepted a message after the delivery timeout") {
			if strings.Contains(logs.String(), "a@example.net") {
				t.Error("log names the recipient")
			}
			return
		}
	}
	t.Fatalf("late acceptance not logged: %q", logs.String())
}
