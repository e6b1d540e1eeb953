package upstream

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/internal/atomicfile"
)

func TestOutboxWritesWholeFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	o, err := NewOutbox(dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := o.Deliver(context.Background(), Envelope{To: "bob@example.net"}, []byte(plainMsg)); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("outbox has %d entries", len(entries))
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".eml") || strings.Contains(e.Name(), "bob") {
			t.Errorf("bad outbox file name %q", e.Name())
		}
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if string(b) != plainMsg {
			t.Errorf("outbox file content %q", b)
		}
	}
}

// TestOutboxRemovesCrashLeftovers: a temporary file a crash left (a whole
// message, addresses included) is gone once the outbox opens again; the
// delivered messages stay.
func TestOutboxRemovesCrashLeftovers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	o, err := NewOutbox(dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Deliver(context.Background(), Envelope{To: "bob@example.net"}, []byte(plainMsg)); err != nil {
		t.Fatal(err)
	}
	// What writeFileAtomic leaves when the process dies before the rename.
	f, err := os.CreateTemp(dir, atomicfile.TempPattern)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("To: bob@example.net\r\n\r\nhalf a message")
	f.Close()
	if _, err := NewOutbox(dir, time.Now); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.Name()); !os.IsNotExist(err) {
		t.Errorf("leftover %s still there: %v", filepath.Base(f.Name()), err)
	}
	emls, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(emls) != 1 {
		t.Errorf("delivered messages: %v", emls)
	}
}
