package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

// Opener returns a new, empty store configured with o and registers its
// Close with t.Cleanup.
type Opener func(t testing.TB, o consent.StoreOptions) consent.Store

// Start is where every suite clock starts: a fixed time, so failures repeat.
func Start() time.Time { return time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC) }

// AuditKey keys the audit chain of stores under test.
const AuditKey = "storetest audit chain key, 32 b"

// Options are the store options the suite uses with clock.
func Options(clock *Clock) consent.StoreOptions {
	return consent.StoreOptions{Now: clock.Now, Audit: consent.NewAuditChain([]byte(AuditKey))}
}

// env is one subtest's store and clock.
type env struct {
	t     *testing.T
	ctx   context.Context
	clock *Clock
	st    consent.Store
	open  Opener
	opts  consent.StoreOptions
}

func newEnv(t *testing.T, open Opener) *env {
	clock := NewClock(Start())
	opts := Options(clock)
	return &env{t: t, ctx: t.Context(), clock: clock, st: open(t, opts), open: open, opts: opts}
}

// Run runs the whole contract against stores made by open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(e *env)
	}{
		{"LookupUnknownAndBatch", testLookup},
		{"DecisionsAndEvidence", testDecisions},
		{"EligibleToAsk", testEligibleToAsk},
		{"RecordOpenNeedsConsentNow", testRecordOpen},
		{"MachineOpensApart", testMachineOpens},
		{"RecordClick", testRecordClick},
		{"DeliverabilityDateOnly", testDeliverability},
		{"RecordSendAndCampaigns", testRecordSend},
		{"RecordSendCount", testRecordSendCount},
		{"ConsentStats", testConsentStats},
		{"AuditAppendReadVerify", testAudit},
		{"ExportAndErase", testExportErase},
		{"Records", testRecords},
		{"RecordsExpiry", testRecordsExpiry},
		{"RetentionOpens", testRetentionOpens},
		{"RetentionAuditEvidenceDeliverability", testRetentionOther},
		{"RetentionConfigurable", testRetentionConfigurable},
		{"Fingerprint", testFingerprint},
		{"CancelledContextFailsClosed", testCancelled},
		{"BadInput", testBadInput},
		{"Concurrency", testConcurrency},
		{"Ledger", testLedger},
		{"LedgerConcurrentClaims", testLedgerConcurrentClaims},
		{"LedgerModel", testLedgerModel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(newEnv(t, open)) })
	}
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// key makes a distinct recipient key.
func key(i int) consent.Key {
	var k consent.Key
	k[0], k[1], k[15] = byte(i>>8), byte(i), 0xa5
	return k
}

func (e *env) state(k consent.Key) consent.Status {
	e.t.Helper()
	st, err := e.st.Lookup(e.ctx, []consent.Key{k})
	e.must(err)
	if len(st) != 1 {
		e.t.Fatalf("Lookup of 1 key returned %d statuses", len(st))
	}
	return st[0]
}

func (e *env) grant(k consent.Key) consent.Event {
	e.t.Helper()
	ev, err := e.st.Grant(e.ctx, k, consent.Evidence{Source: consent.SourceConsentPage, PolicyVersion: "v1", TextHash: textHash})
	e.must(err)
	return ev
}

func (e *env) withdraw(k consent.Key) consent.Event {
	e.t.Helper()
	ev, err := e.st.Withdraw(e.ctx, k, consent.Evidence{Source: consent.SourceConsentPage, PolicyVersion: "v1", TextHash: textHash})
	e.must(err)
	return ev
}

func (e *env) open1(k consent.Key, campaign string) consent.OpenResult {
	e.t.Helper()
	r, err := e.st.RecordOpen(e.ctx, consent.Open{Key: k, Campaign: campaign, At: e.clock.Now()})
	e.must(err)
	return r
}

func (e *env) campaign(id string) consent.CampaignStats {
	e.t.Helper()
	c, err := e.st.Campaign(e.ctx, id)
	e.must(err)
	return c
}

func (e *env) export(k consent.Key) consent.Export {
	e.t.Helper()
	x, err := e.st.Export(e.ctx, k)
	e.must(err)
	return x
}

func (e *env) purge() {
	e.t.Helper()
	e.must(e.st.Purge(e.ctx))
}

const textHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

const (
	hour  = time.Hour
	day   = 24 * time.Hour
	month = 30 * day
	year  = 365 * day
)

func describe(c consent.CampaignStats) string {
	return fmt.Sprintf("sends %d/%d, unique %d, opens %d, machine %d, unique clicks %d, clicks %d",
		c.SendsGranted, c.SendsNotGranted, c.UniqueOpens, c.Opens, c.MachineOpens, c.UniqueClicks, c.Clicks)
}

func isNotFound(err error) bool { return errors.Is(err, consent.ErrNotFound) }

func isErr(err, target error) bool { return errors.Is(err, target) }

func contextCancelled(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}
