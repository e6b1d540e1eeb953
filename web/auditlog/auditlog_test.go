package auditlog

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/consent/storetest"
)

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRecorder(t *testing.T) {
	clock := storetest.NewClock(storetest.Start())
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "s.db"), boltstore.Options{StoreOptions: storetest.Options(clock)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var siem strings.Builder
	reg := prometheus.NewRegistry()
	rec := New(st, &siem, nil, reg)
	got, err := rec.Record(ctx, consent.AuditEntry{Actor: "paul", Action: "dsar.export", Target: "abc"})
	if err != nil || got.Seq != 1 || got.Result != ResultOK || got.MAC == "" {
		t.Fatalf("%+v %v", got, err)
	}
	var line struct {
		Type string `json:"type"`
		consent.AuditEntry
	}
	if err := json.Unmarshal([]byte(strings.TrimSuffix(siem.String(), "\n")), &line); err != nil {
		t.Fatal(err)
	}
	if line.Type != "pixelgate.audit" || line.Seq != 1 || line.MAC != got.MAC || line.Action != "dsar.export" {
		t.Errorf("SIEM line %+v", line)
	}
	// A broken SIEM output does not lose the entry.
	rec = New(st, failingWriter{}, nil, nil)
	if _, err := rec.Record(ctx, consent.AuditEntry{Actor: "paul", Action: "audit.view", Target: "audit"}); err != nil {
		t.Fatal(err)
	}
	// The store refusing the entry is an error the caller sees.
	if _, err := New(st, nil, nil, nil).Record(ctx, consent.AuditEntry{Action: "x"}); err == nil {
		t.Error("an entry without actor was accepted")
	}
	_ = st.Close()
	reg = prometheus.NewRegistry()
	rec = New(st, &siem, nil, reg)
	if _, err := rec.Record(ctx, consent.AuditEntry{Actor: "paul", Action: "login", Target: "paul"}); err == nil {
		t.Error("closed store: no error")
	}
	fams, _ := reg.Gather()
	failed := 0.0
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			if f.GetName() == "pixelgate_audit_entries_total" && m.GetLabel()[0].GetValue() == "failed" {
				failed = m.GetCounter().GetValue()
			}
		}
	}
	if failed != 1 {
		t.Errorf("failed entries metric %v, want 1", failed)
	}
}
