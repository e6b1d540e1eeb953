package proxy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
