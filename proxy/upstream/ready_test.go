package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/internal/testsupport"
	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

// TestUpstreamReady: ready while the ESP answers, without a new connection
// per probe; not ready, with the cause, once it is gone.
func TestUpstreamReady(t *testing.T) {
	ctx := context.Background()
	sink := testsupport.StartSink(t, smtpsink.Options{})
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

// TestDiskRoom: a filesystem with less room than one largest message is not
// ready, whatever an empty-file probe says; the real statfs of a normal
// temporary directory has room for a small need and none for an absurd one.
func TestDiskRoom(t *testing.T) {
	ctx := context.Background()
	const need = 25<<20 + uint64(StoreHeadroom)
	free := func(n uint64) func(string) (uint64, error) {
		return func(string) (uint64, error) { return n, nil }
	}
	if err := (DiskRoom{Dir: "/data", Need: int64(need), Avail: free(need)}).Ready(ctx); err != nil {
		t.Errorf("exactly enough room: %v", err)
	}
	err := (DiskRoom{Dir: "/data", Need: int64(need), Avail: free(need - 1)}).Ready(ctx)
	if err == nil || !strings.Contains(err.Error(), "/data") {
		t.Errorf("one byte short: %v, want an error naming the directory", err)
	}
	if err := (DiskRoom{Dir: "/data", Need: int64(need), Avail: free(0)}).Ready(ctx); err == nil {
		t.Error("full disk reported ready")
	}
	broken := func(string) (uint64, error) { return 0, os.ErrNotExist }
	if err := (DiskRoom{Dir: "/data", Need: int64(need), Avail: broken}).Ready(ctx); err == nil {
		t.Error("a filesystem that cannot be asked reported ready")
	}

	dir := t.TempDir()
	if err := (DiskRoom{Dir: dir, Need: 1 << 20}).Ready(ctx); err != nil {
		t.Errorf("real statfs of %s with 1 MiB needed: %v", dir, err)
	}
	if err := (DiskRoom{Dir: dir, Need: 1 << 62}).Ready(ctx); err == nil {
		t.Errorf("real statfs of %s claims 4 EiB free", dir)
	}
	if err := (DiskRoom{Dir: filepath.Join(dir, "missing"), Need: 1}).Ready(ctx); err == nil {
		t.Error("missing directory reported ready")
	}
}

// TestReadinessReportsEveryCauseAndLogsChanges: all failing checks are
// named at once, and the log gets one line per change of outcome, not one
// per probe.
func TestReadinessReportsEveryCauseAndLogsChanges(t *testing.T) {
	ctx := context.Background()
	var storeErr, diskErr error
	var logs strings.Builder
	r := NewReadiness(slog.New(slog.NewTextHandler(&logs, nil)),
		ReadyCheck{Name: "store", Check: func(context.Context) error { return storeErr }},
		ReadyCheck{Name: "disk", Check: func(context.Context) error { return diskErr }})
	if err := r.Ready(ctx); err != nil {
		t.Fatalf("all checks pass: %v", err)
	}
	storeErr, diskErr = errors.New("dial 10.0.0.7:6379: refused"), errors.New("/data has 0.0 MiB free")
	for range 3 {
		err := r.Ready(ctx)
		if err == nil || !strings.Contains(err.Error(), "store: dial 10.0.0.7:6379") || !strings.Contains(err.Error(), "disk: /data") {
			t.Fatalf("two failing checks: %v, want both named", err)
		}
	}
	storeErr, diskErr = nil, nil
	if err := r.Ready(ctx); err != nil {
		t.Fatalf("recovered: %v", err)
	}
	if n := strings.Count(logs.String(), "not ready"); n != 1 {
		t.Errorf("%d 'not ready' lines for one outage, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "10.0.0.7:6379") || !strings.Contains(logs.String(), "ready again") {
		t.Errorf("log lacks the cause or the recovery:\n%s", logs.String())
	}
}

// TestUpstreamReadyWithinProbeDeadline: an upstream that stops answering
// makes the probe fail when the probe's context ends, not after the
// 5-minute command timeout of RFC 5321 §4.5.3.2.
func TestUpstreamReadyWithinProbeDeadline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		fmt.Fprint(c, "220 esp.test ESMTP\r\n")
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(strings.ToUpper(line), "EHLO") {
				fmt.Fprint(c, "250 esp.test\r\n")
			}
			// NOOP gets no answer: the upstream hangs.
		}
	}()
	up, err := ParseUpstream(UpstreamConfig{URL: "smtp://" + l.Addr().String() + "?tls=none", Timeout: 10 * time.Minute, MaxIdle: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	if err := up.Ready(context.Background()); err != nil {
		t.Fatalf("first probe (new session): %v", err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		done <- up.Ready(ctx)
	}()
	// Eventually: the bound only keeps a failure from hanging the test.
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("probe of a hanging upstream: ready")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("probe still waiting 20s after its 200ms deadline")
	}
}
