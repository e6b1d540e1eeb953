package proxy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

// TestUpstreamReady: ready while the ESP answers, without a new connection
// per probe; not ready, with the cause, once it is gone.
func TestUpstreamReady(t *testing.T) {
	ctx := context.Background()
	sink := startSink(t, smtpsink.Options{})
	up, err := ParseUpstream(UpstreamConfig{URL: "smtp://" + sink.Addr + "?tls=none", Timeout: time.Second, MaxIdle: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	for range 5 {
		if err := up.Ready(ctx); err != nil {
			t.Fatalf("upstream up: %v", err)
		}
	}
	if n := sink.Connections(); n != 1 {
		t.Errorf("5 probes opened %d connections, want 1 (pooled)", n)
	}
	if err := up.Deliver(ctx, Envelope{From: "a@x.example", To: "b@y.example"}, []byte(plainMsg)); err != nil {
		t.Fatalf("deliver after probes: %v", err)
	}
	sink.Close()
	up.Close()
	if err := up.Ready(ctx); err == nil || !strings.Contains(err.Error(), sink.Addr) {
		t.Errorf("upstream down: %v, want an error naming it", err)
	}
}

func TestOutboxReady(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	o, err := NewOutbox(dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Ready(context.Background()); err != nil {
		t.Fatalf("fresh outbox: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("probe left files: %v", left)
	}
	if os.Geteuid() == 0 {
		// root writes through permissions; take the directory away instead.
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	} else if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	if err := o.Ready(context.Background()); err == nil {
		t.Error("outbox that cannot take a file reported ready")
	}
}
