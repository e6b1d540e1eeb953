package storetest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

func testAudit(e *env) {
	app := func(actor, action, target string) consent.AuditEntry {
		e.t.Helper()
		got, err := e.st.AppendAudit(e.ctx, consent.AuditEntry{Actor: actor, Action: action, Target: target, Result: "ok"})
		e.must(err)
		e.clock.Advance(time.Minute)
		return got
	}
	first := app("admin:alice", "login", "alice")
	if first.Seq != 1 || first.MAC == "" || !first.At.Equal(Start()) {
		e.t.Errorf("first entry: %+v, want seq 1, a MAC and the store's time", first)
	}
	app("cli:root", "consent.grant", key(1).String())
	app("admin:alice", "dsar.export", key(1).String())
	app("admin:bob", "consent.withdraw", key(2).String())
	last := app("api:crm", "consent.grant", key(3).String())
	if last.Seq != 5 {
		e.t.Errorf("fifth entry has seq %d", last.Seq)
	}

	read := func(q consent.AuditQuery) []uint64 {
		e.t.Helper()
		got, err := e.st.ReadAudit(e.ctx, q)
		e.must(err)
		var seqs []uint64
		for _, a := range got {
			seqs = append(seqs, a.Seq)
		}
		return seqs
	}
	cases := []struct {
		name string
		q    consent.AuditQuery
		want []uint64
	}{
		{"all, oldest first", consent.AuditQuery{}, []uint64{1, 2, 3, 4, 5}},
		{"newest first", consent.AuditQuery{Newest: true}, []uint64{5, 4, 3, 2, 1}},
		{"newest two", consent.AuditQuery{Newest: true, Limit: 2}, []uint64{5, 4}},
		{"oldest two", consent.AuditQuery{Limit: 2}, []uint64{1, 2}},
		{"actor", consent.AuditQuery{Actor: "admin:alice"}, []uint64{1, 3}},
		{"action prefix", consent.AuditQuery{Action: "consent."}, []uint64{2, 4, 5}},
		{"target", consent.AuditQuery{Target: key(1).String()}, []uint64{2, 3}},
		{"after seq", consent.AuditQuery{AfterSeq: 3}, []uint64{4, 5}},
		{"time window [since, until)", consent.AuditQuery{Since: Start().Add(time.Minute), Until: Start().Add(3 * time.Minute)}, []uint64{2, 3}},
	}
	for _, c := range cases {
		got := read(c.q)
		if len(got) != len(c.want) {
			e.t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				e.t.Errorf("%s: got %v, want %v", c.name, got, c.want)
				break
			}
		}
	}
	all, err := e.st.ReadAudit(e.ctx, consent.AuditQuery{})
	e.must(err)
	if all[1].Actor != "cli:root" || all[1].Result != "ok" || all[1].Target != key(1).String() {
		e.t.Errorf("entry fields not kept: %+v", all[1])
	}
	v, err := e.st.VerifyAudit(e.ctx)
	e.must(err)
	if !v.OK || v.Checked != 5 {
		e.t.Errorf("verify of an intact log: %+v", v)
	}
	// The entries verify with the chain key itself, not only by the store's
	// own say-so.
	if v := e.opts.Audit.Verify(consent.AuditAnchor{}, all, consent.AuditAnchor{Seq: last.Seq, MAC: last.MAC}); !v.OK {
		e.t.Errorf("entries do not verify with the audit key: %+v", v)
	}
	// Default limit is 100.
	for range 105 {
		_, err := e.st.AppendAudit(e.ctx, consent.AuditEntry{Actor: "admin:alice", Action: "campaign.view", Result: "ok"})
		e.must(err)
	}
	if n := len(read(consent.AuditQuery{})); n != 100 {
		e.t.Errorf("default limit returned %d entries, want 100", n)
	}
	v, err = e.st.VerifyAudit(e.ctx)
	e.must(err)
	if !v.OK || v.Checked != 110 {
		e.t.Errorf("verify of 110 entries: %+v", v)
	}
}

func testExportErase(e *env) {
	k, other := key(1), key(2)
	e.must(e.st.MarkAsked(e.ctx, k))
	e.clock.Advance(time.Hour)
	e.grant(k)
	e.grant(other)
	e.must(e.st.RecordSend(e.ctx, consent.Send{Campaign: "c1", Granted: true, At: e.clock.Now()}))
	e.open1(k, "c1")
	e.open1(other, "c1")
	_, err := e.st.RecordClick(e.ctx, consent.Click{Key: k, Campaign: "c1", At: e.clock.Now()})
	e.must(err)
	e.must(e.st.RecordDeliverabilityOpen(e.ctx, k, e.clock.Now()))

	x := e.export(k)
	if x.Key != k.String() || x.State != "granted" || len(x.History) != 1 || x.History[0].StateName != "granted" {
		e.t.Errorf("export: %+v", x)
	}
	if len(x.Opens) != 1 || x.Opens[0].Opens != 1 || x.Opens[0].Clicks != 1 || x.LastDeliverable == "" || x.LastAskedConsent.IsZero() {
		e.t.Errorf("export misses data held: %+v", x)
	}
	before := e.campaign("c1")

	e.clock.Advance(time.Hour)
	e.must(e.st.Erase(e.ctx, k, consent.Evidence{Source: consent.SourceErasure, Actor: "admin:dpo"}))
	if s := e.state(k); s.State != consent.Withdrawn {
		e.t.Errorf("after erasure the state is %v; the tombstone must keep withdrawn", s.State)
	}
	h, err := e.st.History(e.ctx, k)
	e.must(err)
	if len(h) != 0 {
		e.t.Errorf("history survives erasure: %+v", h)
	}
	x = e.export(k)
	if len(x.History) != 0 || len(x.Opens) != 0 || x.LastDeliverable != "" || !x.LastAskedConsent.IsZero() || x.State != "withdrawn" {
		e.t.Errorf("export after erasure: %+v", x)
	}
	// Never tracked again, never asked again.
	if r := e.open1(k, "c1"); r != consent.NotRecorded {
		e.t.Errorf("open after erasure: %v", r)
	}
	if ok, err := e.st.EligibleToAsk(e.ctx, k); err != nil || ok {
		e.t.Errorf("erased recipient eligible to ask: %v %v", ok, err)
	}
	// Anonymous campaign totals stay; the other recipient is untouched.
	if after := e.campaign("c1"); describe(after) != describe(before) {
		e.t.Errorf("erasure changed campaign totals: %s -> %s", describe(before), describe(after))
	}
	if xo := e.export(other); len(xo.Opens) != 1 || xo.State != "granted" || len(xo.History) != 1 {
		e.t.Errorf("erasure touched another recipient: %+v", xo)
	}
	// The erased recipient may later grant again, by a positive act.
	e.grant(k)
	if r := e.open1(k, "c1"); r != consent.Recorded {
		e.t.Errorf("open after a new grant following erasure: %v, want recorded (old opens erased)", r)
	}
}

// RawAudit edits a store's audit records where the store keeps them (the
// bbolt file, the Redis keys), as someone with access to the storage but
// without the audit key would.
type RawAudit interface {
	// Record returns the head (consent.AuditHead) or purge anchor
	// (consent.AuditStart) record as stored; nil when there is none.
	Record(t testing.TB, role consent.AuditRole) []byte
	// SetRecord overwrites that record; nil deletes it.
	SetRecord(t testing.TB, role consent.AuditRole, raw []byte)
	// PutEntry stores raw as the entry with sequence number seq.
	PutEntry(t testing.TB, seq uint64, raw []byte)
	// DeleteEntries removes the entries numbered from to to, inclusive.
	DeleteEntries(t testing.TB, from, to uint64)
	// Reopen opens the store again on the same data, as a restart does,
	// and returns it; the edits above then apply to it.
	Reopen(t testing.TB) consent.Store
}

// RawOpener is an Opener that also gives raw access to the audit records.
type RawOpener func(t testing.TB, o consent.StoreOptions) (consent.Store, RawAudit)

// RunAuditTamper runs the attacks on the audit log's ends against stores
// made by open: cutting the newest entries and pointing the head at the new
// end, cutting the oldest and writing an anchor, deleting the head, swapping
// head and anchor, and the upgrade of a log an earlier version wrote
// without sealing its head and anchor (R9, R10).
func RunAuditTamper(t *testing.T, open RawOpener) {
	tests := []struct {
		name string
		fn   func(e *tamperEnv)
	}{
		{"CutNewestAndRewriteHead", testCutNewest},
		{"CutNewestKeepingStaleHeadTag", testCutNewestStaleTag},
		{"HeadDeleted", testHeadDeleted},
		{"AnchorPassedOffAsHead", testAnchorAsHead},
		{"CutOldestAndWriteAnchor", testCutOldest},
		{"AnchorInsideRetention", testAnchorInsideRetention},
		{"UpgradeSealsEarlierVersionsLog", testUpgradeLegacy},
		{"UpgradeLeavesBrokenLegacyLog", testUpgradeBrokenLegacy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewClock(Start())
			opts := Options(clock)
			st, raw := open(t, opts)
			tc.fn(&tamperEnv{env: &env{t: t, ctx: t.Context(), clock: clock, st: st, opts: opts}, raw: raw})
		})
	}
}

type tamperEnv struct {
	*env
	raw RawAudit
}

// appendN appends n entries a minute apart.
func (e *tamperEnv) appendN(n int) []consent.AuditEntry {
	e.t.Helper()
	var out []consent.AuditEntry
	for i := range n {
		got, err := e.st.AppendAudit(e.ctx, consent.AuditEntry{Actor: "admin:alice", Action: "dsar.export", Target: key(i).String(), Result: "ok"})
		e.must(err)
		out = append(out, got)
		e.clock.Advance(time.Minute)
	}
	return out
}

// broken verifies and wants a break at seq whose detail says each of words.
func (e *tamperEnv) broken(what string, seq uint64, words ...string) consent.AuditVerification {
	e.t.Helper()
	v, err := e.st.VerifyAudit(e.ctx)
	e.must(err)
	if v.OK || v.BadSeq != seq || v.Problem != "removed" {
		e.t.Errorf("%s: verification %+v, want entries removed at #%d", what, v, seq)
	}
	for _, w := range words {
		if !strings.Contains(v.Detail, w) {
			e.t.Errorf("%s: detail %q does not say %q", what, v.Detail, w)
		}
	}
	return v
}

func (e *tamperEnv) intact(what string, checked int) {
	e.t.Helper()
	v, err := e.st.VerifyAudit(e.ctx)
	e.must(err)
	if !v.OK || v.Checked != checked {
		e.t.Errorf("%s: verification %+v, want intact with %d entries", what, v, checked)
	}
}

// unsealed is the record an intruder writes: the seq and MAC of an entry,
// copied from the entry itself, as an earlier version wrote records.
func unsealed(en consent.AuditEntry) []byte {
	b, _ := json.Marshal(map[string]any{"seq": en.Seq, "mac": en.MAC})
	return b
}

func (e *tamperEnv) reopen() {
	e.st = e.raw.Reopen(e.t)
}

func (e *tamperEnv) seqs() []uint64 {
	e.t.Helper()
	got, err := e.st.ReadAudit(e.ctx, consent.AuditQuery{Limit: 1000})
	e.must(err)
	var out []uint64
	for _, en := range got {
		out = append(out, en.Seq)
	}
	return out
}

// testCutNewest: the newest two entries are deleted and the head pointed at
// the new last entry. Neither a restart nor the next append may make that
// verify, and the append must not overwrite anything.
func testCutNewest(e *tamperEnv) {
	en := e.appendN(6)
	e.intact("untouched", 6)
	e.raw.DeleteEntries(e.t, 5, 6)
	e.raw.SetRecord(e.t, consent.AuditHead, unsealed(en[3]))
	e.broken("after cutting #5-#6 and rewriting the head", 5, "head record", "#4", "no valid MAC")
	e.reopen()
	e.broken("after a restart", 5, "head record", "#4", "no valid MAC")
	if _, err := e.st.AppendAudit(e.ctx, consent.AuditEntry{Actor: "admin:bob", Action: "login", Result: "ok"}); err != nil {
		e.t.Fatalf("append after the cut: %v", err)
	}
	if got := fmt.Sprint(e.seqs()); got != "[1 2 3 4 5 6]" {
		e.t.Errorf("entries after the append: %s, want 1-4, the note and the new entry", got)
	}
	e.broken("after the next append", 5, "#4", "bad head")
}

// testCutNewestStaleTag: as testCutNewest, keeping the old head's tag.
func testCutNewestStaleTag(e *tamperEnv) {
	en := e.appendN(5)
	var head consent.AuditAnchor
	e.must(json.Unmarshal(e.raw.Record(e.t, consent.AuditHead), &head))
	if head.Tag == "" || head.Seq != 5 {
		e.t.Fatalf("stored head %+v, want #5 with a tag", head)
	}
	e.raw.DeleteEntries(e.t, 5, 5)
	head.Seq, head.MAC, head.At = en[3].Seq, en[3].MAC, en[3].At
	b, _ := json.Marshal(head)
	e.raw.SetRecord(e.t, consent.AuditHead, b)
	e.broken("after cutting #5 and moving the sealed head", 5, "no valid MAC")
}

// testHeadDeleted: the head record is deleted while entries remain. The next
// append continues after the last entry instead of starting over at #1.
func testHeadDeleted(e *tamperEnv) {
	en := e.appendN(4)
	e.raw.SetRecord(e.t, consent.AuditHead, nil)
	e.broken("without a head", 5, "head record", "missing")
	e.raw.DeleteEntries(e.t, 4, 4)
	e.broken("without a head and the last entry", 4, "head record", "missing", "#3")
	got, err := e.st.AppendAudit(e.ctx, consent.AuditEntry{Actor: "admin:bob", Action: "login", Result: "ok"})
	e.must(err)
	if got.Seq != 5 {
		e.t.Errorf("append without a head got #%d, want #5 (after the last entry and a note)", got.Seq)
	}
	all, err := e.st.ReadAudit(e.ctx, consent.AuditQuery{})
	e.must(err)
	if len(all) != 5 || all[0].MAC != en[0].MAC || all[3].Action != consent.AuditActionHeadReplaced {
		e.t.Errorf("log after appending without a head: %+v", all)
	}
	e.broken("after the next append", 4, "bad head", "no head record")
}

// testAnchorAsHead: a sealed purge anchor copied over the head (with the
// entries after it deleted) is refused: the seal binds the role.
func testAnchorAsHead(e *tamperEnv) {
	e.appendN(3)
	e.clock.Advance(e.opts.Retention.WithDefaults().Audit)
	e.appendN(2)
	e.purge()
	e.intact("after a retention purge", 2)
	anchor := e.raw.Record(e.t, consent.AuditStart)
	if anchor == nil {
		e.t.Fatal("no anchor after the purge")
	}
	e.raw.DeleteEntries(e.t, 4, 5)
	e.raw.SetRecord(e.t, consent.AuditHead, anchor)
	e.broken("with the anchor as head", 4, "head record", "no valid MAC")
}

// testCutOldest: the oldest entries, minutes old, are deleted and an anchor
// written where the retention purge would write one.
func testCutOldest(e *tamperEnv) {
	en := e.appendN(6)
	e.raw.DeleteEntries(e.t, 1, 3)
	b, _ := json.Marshal(consent.AuditAnchor{Seq: en[2].Seq, MAC: en[2].MAC, At: en[2].At})
	e.raw.SetRecord(e.t, consent.AuditStart, b)
	e.broken("after cutting #1-#3 and writing an anchor", 3, "#1 to #3", "no valid MAC")
	e.reopen()
	e.broken("after a restart", 3, "#1 to #3", "no valid MAC")
}

// testAnchorInsideRetention: even a sealed anchor (written with the key, as
// a purge with a wrong retention or a clock far ahead would) that dropped
// entries younger than the retention fails, until those entries would have
// expired anyway (R9).
func testAnchorInsideRetention(e *tamperEnv) {
	en := e.appendN(6)
	e.raw.DeleteEntries(e.t, 1, 3)
	b, _ := json.Marshal(e.opts.Audit.Trim(en[2]))
	e.raw.SetRecord(e.t, consent.AuditStart, b)
	e.broken("with an anchor minutes old", 3, "entries up to #3", "366 days", "newer than retention allows")
	e.clock.Set(en[2].At.Add(consent.DefaultRetention().Audit))
	e.intact("once #3 is a year old", 3)
}

// legacyMAC is the entry MAC of versions before heads and anchors were
// sealed, written out here so that their logs stay verifiable.
func legacyMAC(prev string, en consent.AuditEntry) string {
	m := hmac.New(sha256.New, []byte(AuditKey))
	field := func(s string) {
		m.Write(binary.BigEndian.AppendUint64(nil, uint64(len(s))))
		m.Write([]byte(s))
	}
	field(prev)
	m.Write(binary.BigEndian.AppendUint64(nil, en.Seq))
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(en.At.UnixMicro())))
	for _, s := range []string{en.Actor, en.Action, en.Target, en.Result, en.Detail} {
		field(s)
	}
	return hex.EncodeToString(m.Sum(nil))
}

// writeLegacy stores a log of n entries as an earlier version left it after
// purging the first two: entries, anchor and head, the last two unsealed.
func (e *tamperEnv) writeLegacy(n int) []consent.AuditEntry {
	var out []consent.AuditEntry
	prev := ""
	for i := range n {
		en := consent.AuditEntry{Seq: uint64(i + 1), At: Start().Add(time.Duration(i) * time.Minute), Actor: "admin:alice", Action: "consent.view", Target: key(i).String(), Result: "ok"}
		en.MAC = legacyMAC(prev, en)
		prev = en.MAC
		out = append(out, en)
		if i >= 2 {
			b, _ := json.Marshal(en)
			e.raw.PutEntry(e.t, en.Seq, b)
		}
	}
	e.raw.SetRecord(e.t, consent.AuditStart, unsealed(out[1]))
	e.raw.SetRecord(e.t, consent.AuditHead, unsealed(out[n-1]))
	e.clock.Set(Start().Add(time.Duration(n) * time.Minute))
	return out
}

// testUpgradeLegacy: opening a log an earlier version wrote checks the chain
// against its unsealed head and anchor, seals both and records that in the
// chain; everything then verifies and appends go on.
func testUpgradeLegacy(e *tamperEnv) {
	e.writeLegacy(5)
	e.reopen()
	e.intact("after the upgrade", 4)
	all, err := e.st.ReadAudit(e.ctx, consent.AuditQuery{Newest: true, Limit: 1})
	e.must(err)
	if len(all) != 1 || all[0].Seq != 6 || all[0].Action != consent.AuditActionSealed || all[0].Actor != consent.AuditActorSystem {
		e.t.Errorf("the upgrade is not recorded in the chain: %+v", all)
	}
	for _, role := range []consent.AuditRole{consent.AuditHead, consent.AuditStart} {
		var a consent.AuditAnchor
		e.must(json.Unmarshal(e.raw.Record(e.t, role), &a))
		if !e.opts.Audit.Sealed(role, a) {
			e.t.Errorf("%s not sealed by the upgrade: %+v", role, a)
		}
	}
	e.appendN(1)
	e.reopen()
	e.intact("after appending past the upgrade and a restart", 5)
	// Unsealing the head again is not taken for an earlier version's.
	last, err := e.st.ReadAudit(e.ctx, consent.AuditQuery{Newest: true, Limit: 1})
	e.must(err)
	e.raw.SetRecord(e.t, consent.AuditHead, unsealed(last[0]))
	e.reopen()
	e.broken("with the head unsealed after the upgrade", 8, "no valid MAC")
	// Nor both head and anchor: the entries since the upgrade are in the
	// current format, which an earlier version never wrote.
	var anchor consent.AuditAnchor
	e.must(json.Unmarshal(e.raw.Record(e.t, consent.AuditStart), &anchor))
	e.raw.SetRecord(e.t, consent.AuditStart, unsealed(consent.AuditEntry{Seq: anchor.Seq, MAC: anchor.MAC}))
	e.reopen()
	if strings.Contains(string(e.raw.Record(e.t, consent.AuditHead)), "tag") {
		e.t.Errorf("a head unsealed after the upgrade was sealed again on restart")
	}
	e.broken("with head and anchor unsealed after the upgrade", 2, "#1 to #2", "no valid MAC")
}

// testUpgradeBrokenLegacy: a log that does not verify against its unsealed
// records is left as it is, and verification says where it breaks.
func testUpgradeBrokenLegacy(e *tamperEnv) {
	en := e.writeLegacy(5)
	en[3].Actor = "admin:mallory"
	b, _ := json.Marshal(en[3])
	e.raw.PutEntry(e.t, en[3].Seq, b)
	e.reopen()
	if e.raw.Record(e.t, consent.AuditHead) == nil || strings.Contains(string(e.raw.Record(e.t, consent.AuditHead)), "tag") {
		e.t.Errorf("a broken log's head was sealed: %s", e.raw.Record(e.t, consent.AuditHead))
	}
	v, err := e.st.VerifyAudit(e.ctx)
	e.must(err)
	if v.OK || v.BadSeq != 4 || v.Problem != "changed" {
		e.t.Errorf("verification of a broken earlier log: %+v, want #4 changed", v)
	}
}
