package consent

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"
)

// AuditChain computes and checks the HMAC chain of the audit log (R10): each
// entry's MAC covers the previous entry's MAC and every field of the entry,
// so changing, removing or reordering entries breaks the chain at that point.
type AuditChain struct{ key []byte }

// NewAuditChain keys a chain; use Keyring.AuditChain.
func NewAuditChain(key []byte) AuditChain { return AuditChain{key: key} }

// Valid reports whether the chain has a key.
func (c AuditChain) Valid() bool { return len(c.key) > 0 }

// AuditAnchor is one point of the chain: an entry's sequence number and MAC.
// A store keeps the head (last entry) and, once old entries are purged, the
// anchor the first remaining entry chains from. Both are sealed (Tag) with
// the chain key, so that someone who can edit the store but has no key
// cannot cut entries off either end and point a record at the new end (R10).
type AuditAnchor struct {
	Seq uint64 `json:"seq"`
	MAC string `json:"mac"`
	// At is the time of the entry at Seq. The purge anchor keeps it so that
	// verification can tell a retention purge (R9) from a cut; it is zero
	// in an anchor sealed on upgrade from a version that did not keep it.
	At time.Time `json:"at,omitzero"`
	// Tag is the HMAC of the record in its role (see Seal); empty in a
	// record written by a version before records were sealed.
	Tag string `json:"tag,omitempty"`
}

// AuditRole is what a sealed AuditAnchor stands for. It is part of the
// seal, so a store's head cannot be passed off as its purge anchor or the
// other way round.
type AuditRole string

const (
	// AuditHead is the record naming the last entry appended.
	AuditHead AuditRole = "head"
	// AuditStart is the purge anchor the first kept entry chains from.
	AuditStart AuditRole = "anchor"
)

// Actions of the entries pixelgate itself appends to the chain.
const (
	// AuditActorSystem is the actor of those entries.
	AuditActorSystem = "system:pixelgate"
	// AuditActionSealed records that a head and anchor written by a
	// version before records were sealed were checked and sealed.
	AuditActionSealed = "audit.seal"
	// AuditActionHeadReplaced records that an append found no valid head
	// and continued the chain from the last stored entry. Verification
	// reports it for as long as the entry is kept: entries after the head
	// may have been removed.
	AuditActionHeadReplaced = "audit.head-replaced"
)

// anchorOf is the anchor naming e.
func anchorOf(e AuditEntry) AuditAnchor { return AuditAnchor{Seq: e.Seq, MAC: e.MAC, At: e.At} }

// Seal returns a with its Tag for role.
func (c AuditChain) Seal(role AuditRole, a AuditAnchor) AuditAnchor {
	a.Tag = c.tag(role, a)
	return a
}

// Sealed reports whether a carries a valid Tag for role.
func (c AuditChain) Sealed(role AuditRole, a AuditAnchor) bool {
	return a.Tag != "" && hmac.Equal([]byte(c.tag(role, a)), []byte(a.Tag))
}

func (c AuditChain) tag(role AuditRole, a AuditAnchor) string {
	m := hmac.New(sha256.New, c.key)
	field := func(s string) {
		m.Write(binary.BigEndian.AppendUint64(nil, uint64(len(s))))
		m.Write([]byte(s))
	}
	// An entry's MAC input starts with the length of the previous MAC (0
	// or 64); this label's length is neither, so no record's tag can ever
	// equal an entry's MAC or the other role's tag.
	field("pixelgate audit " + string(role) + " v1")
	m.Write(binary.BigEndian.AppendUint64(nil, a.Seq))
	field(a.MAC)
	var at uint64
	if !a.At.IsZero() {
		at = uint64(a.At.UnixMicro())
	}
	m.Write(binary.BigEndian.AppendUint64(nil, at))
	return hex.EncodeToString(m.Sum(nil))
}

// Next fills in Seq, At (now when zero, truncated to microseconds so every
// store keeps it exactly) and MAC for an entry appended after prev.
func (c AuditChain) Next(prev AuditAnchor, e AuditEntry, now time.Time) AuditEntry {
	if e.At.IsZero() {
		e.At = now
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	e.Seq = prev.Seq + 1
	e.MAC = c.mac(prev.MAC, e)
	return e
}

// Entries carry one of two MAC formats. Entries written since heads and
// anchors are sealed start their MAC input with entryLabel; entries of
// earlier versions do not. Both verify, but only a log holding no entry of
// the current format can be an earlier version's, whose unsealed head and
// anchor SealLegacy may adopt: an intruder cannot turn current entries into
// old ones without the key.
const entryLabel = "pixelgate audit entry v2"

func (c AuditChain) mac(prev string, e AuditEntry) string { return c.macAs(true, prev, e) }

func (c AuditChain) macAs(current bool, prev string, e AuditEntry) string {
	m := hmac.New(sha256.New, c.key)
	field := func(s string) {
		m.Write(binary.BigEndian.AppendUint64(nil, uint64(len(s))))
		m.Write([]byte(s))
	}
	if current {
		// The previous MAC, the first field of the earlier format, is 0
		// or 64 characters long; this label is neither, so the formats
		// cannot be confused.
		field(entryLabel)
	}
	field(prev)
	m.Write(binary.BigEndian.AppendUint64(nil, e.Seq))
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(e.At.UnixMicro())))
	for _, s := range []string{e.Actor, e.Action, e.Target, e.Result, e.Detail} {
		field(s)
	}
	return hex.EncodeToString(m.Sum(nil))
}

func (c AuditChain) verifies(prev string, e AuditEntry) bool {
	return c.verifiesAs(true, prev, e) || c.verifiesAs(false, prev, e)
}

func (c AuditChain) verifiesAs(current bool, prev string, e AuditEntry) bool {
	return hmac.Equal([]byte(c.macAs(current, prev, e)), []byte(e.MAC))
}

// Verify checks entries, in stored order, chaining from start (the zero
// anchor when nothing was purged) up to head (the last entry the store
// appended). It reports the first entry that does not verify and why:
// "changed" (its fields or MAC differ), "removed" (a sequence number is
// missing, including at the end), "reordered" (an entry sits at another
// entry's place).
func (c AuditChain) Verify(start AuditAnchor, entries []AuditEntry, head AuditAnchor) AuditVerification {
	prev, want := start.MAC, start.Seq+1
	for i, e := range entries {
		if e.Seq == want && c.verifies(prev, e) {
			prev, want = e.MAC, want+1
			continue
		}
		bad := AuditVerification{Checked: i, BadSeq: want}
		switch {
		case e.Seq < want:
			bad.Problem, bad.BadSeq = "reordered", e.Seq
			bad.Detail = fmt.Sprintf("entry #%d sits after entry #%d", e.Seq, want-1)
		case c.belongsLater(prev, want, entries[i+1:]):
			bad.Problem = "reordered"
			bad.Detail = fmt.Sprintf("entry #%d sits further down the log", want)
		case e.Seq > want:
			bad.Problem = "removed"
			bad.Detail = fmt.Sprintf("entries #%d to #%d are missing", want, e.Seq-1)
		default:
			bad.Problem = "changed"
			bad.Detail = fmt.Sprintf("entry #%d does not match its MAC", want)
		}
		return bad
	}
	if head.Seq != want-1 || (head.Seq > start.Seq && head.MAC != prev) {
		if head.Seq >= want {
			return AuditVerification{Checked: len(entries), BadSeq: want, Problem: "removed",
				Detail: fmt.Sprintf("the head names entry #%d but the log ends at #%d", head.Seq, want-1)}
		}
		detail := fmt.Sprintf("the head names entry #%d, which is not the last entry (#%d)", head.Seq, want-1)
		if head.Seq == want-1 {
			detail = fmt.Sprintf("the head does not match entry #%d", head.Seq)
		}
		return AuditVerification{Checked: len(entries), BadSeq: head.Seq, Problem: "changed", Detail: detail}
	}
	return AuditVerification{OK: true, Checked: len(entries)}
}

// belongsLater reports whether the entry that should come next (sequence
// want, chaining from prev) sits further down the list, even renumbered.
func (c AuditChain) belongsLater(prev string, want uint64, rest []AuditEntry) bool {
	for _, e := range rest {
		e.Seq = want
		if c.verifies(prev, e) {
			return true
		}
	}
	return false
}

// StoredAudit is the audit log as a store holds it: the purge anchor and
// the head (nil when the store holds no such record) and the entries in
// stored order.
type StoredAudit struct {
	Start   *AuditAnchor
	Entries []AuditEntry
	Head    *AuditAnchor
}

// VerifyStored checks a store's audit log (R10) at now, the store's clock:
// the chain of entries; that the head exists while anything was appended;
// that head and purge anchor carry valid seals for their roles; that the
// anchor only dropped entries past retention (R9); and that no append had
// to replace a missing or forged head.
func (c AuditChain) VerifyStored(s StoredAudit, now time.Time, retention time.Duration) AuditVerification {
	last := uint64(0)
	if s.Start != nil {
		last = s.Start.Seq
	}
	if n := len(s.Entries); n > 0 {
		last = max(last, s.Entries[n-1].Seq)
	}
	if s.Head == nil && last > 0 {
		return AuditVerification{BadSeq: last + 1, Problem: "removed",
			Detail: fmt.Sprintf("the head record, which names the last entry appended, is missing; entries after #%d may have been removed", last)}
	}
	start, head := AuditAnchor{}, AuditAnchor{}
	if s.Start != nil {
		start = *s.Start
	}
	if s.Head != nil {
		head = *s.Head
	}
	if v := c.Verify(start, s.Entries, head); !v.OK {
		return v
	}
	if s.Start != nil && !c.Sealed(AuditStart, start) {
		return AuditVerification{Checked: len(s.Entries), BadSeq: start.Seq, Problem: "removed",
			Detail: fmt.Sprintf("entries #1 to #%d are missing and the anchor that says they were purged has no valid MAC: it was not written by the retention purge", start.Seq)}
	}
	if s.Head != nil && !c.Sealed(AuditHead, head) {
		return AuditVerification{Checked: len(s.Entries), BadSeq: head.Seq + 1, Problem: "removed",
			Detail: fmt.Sprintf("the head record (naming entry #%d) has no valid MAC: it was not written by pixelgate, so entries after #%d may have been removed", head.Seq, head.Seq)}
	}
	if s.Start != nil && !start.At.IsZero() && now.Before(start.At.Add(retention)) {
		return AuditVerification{Checked: len(s.Entries), BadSeq: start.Seq, Problem: "removed",
			Detail: fmt.Sprintf("entries up to #%d were removed before their time: #%d was written at %s and the audit retention (%s) keeps it until %s; the anchor is newer than retention allows",
				start.Seq, start.Seq, start.At.UTC().Format(time.RFC3339), days(retention), start.At.Add(retention).UTC().Format(time.RFC3339))}
	}
	for _, e := range s.Entries {
		if e.Actor == AuditActorSystem && e.Action == AuditActionHeadReplaced {
			return AuditVerification{Checked: len(s.Entries), BadSeq: e.Seq, Problem: "removed",
				Detail: fmt.Sprintf("entry #%d records that the chain had to be continued past a bad head: %s", e.Seq, e.Detail)}
		}
	}
	return AuditVerification{OK: true, Checked: len(s.Entries)}
}

// days writes a retention the way operators set it.
func days(d time.Duration) string {
	const day = 24 * time.Hour
	if d%day == 0 {
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}

// Append chains e after what a store holds: its head record (nil when
// absent) and its last stored entry (nil when none). It returns the
// entries to store, in order, and the sealed new head. A head that is
// missing or fails its seal is not chained from, since it may be one an
// intruder pointed at a shortened log: the chain continues from the last
// stored entry, after an entry recording what was found, which
// verification reports for as long as it is kept (R10). Neither head nor
// entries is an empty log, which starts at the zero anchor.
func (c AuditChain) Append(head, tail *AuditAnchor, e AuditEntry, now time.Time) ([]AuditEntry, AuditAnchor) {
	if (head != nil && c.Sealed(AuditHead, *head)) || (head == nil && tail == nil) {
		var prev AuditAnchor
		if head != nil {
			prev = *head
		}
		e = c.Next(prev, e, now)
		return []AuditEntry{e}, c.Seal(AuditHead, anchorOf(e))
	}
	var prev AuditAnchor
	found := "no head record"
	if head != nil {
		found = fmt.Sprintf("a head record without a valid MAC naming entry #%d", head.Seq)
	}
	if tail != nil {
		prev = *tail
	} else {
		prev = *head
	}
	note := c.Next(prev, AuditEntry{Actor: AuditActorSystem, Action: AuditActionHeadReplaced, Result: "broken",
		Detail: fmt.Sprintf("found %s; the chain continues from the last stored entry #%d", found, prev.Seq)}, now)
	e = c.Next(anchorOf(note), e, now)
	return []AuditEntry{note, e}, c.Seal(AuditHead, anchorOf(e))
}

// Trim is the sealed purge anchor after a retention purge (R9) that
// removed entries up to and including last.
func (c AuditChain) Trim(last AuditEntry) AuditAnchor { return c.Seal(AuditStart, anchorOf(last)) }

// NeedsSeal reports whether s holds a head or anchor written by a version
// before records were sealed (no Tag at all), which SealLegacy may adopt.
func NeedsSeal(head, start *AuditAnchor) bool {
	return (head != nil && head.Tag == "") || (start != nil && start.Tag == "")
}

// SealLegacy upgrades a log whose head and anchor were written, without a
// seal, by an earlier version. They are adopted only when the whole chain
// verifies against them and holds no entry in the current format (a record
// without a seal next to such entries is a forgery, not an old version's).
// It returns the sealed anchor (nil when there is none), the entry that
// records the upgrade in the chain and the sealed head naming that entry.
func (c AuditChain) SealLegacy(s StoredAudit, now time.Time) (*AuditAnchor, AuditEntry, AuditAnchor, error) {
	if s.Head == nil || s.Head.Tag != "" || (s.Start != nil && s.Start.Tag != "") {
		return nil, AuditEntry{}, AuditAnchor{}, fmt.Errorf("seal audit log: its head and anchor are not both from an earlier version")
	}
	start := AuditAnchor{}
	if s.Start != nil {
		start = *s.Start
	}
	if v := c.Verify(start, s.Entries, *s.Head); !v.OK {
		return nil, AuditEntry{}, AuditAnchor{}, fmt.Errorf("seal audit log: the chain does not verify against its unsealed head and anchor, which are left as they are: %s at entry #%d (%s)", v.Problem, v.BadSeq, v.Detail)
	}
	prev := start.MAC
	for _, e := range s.Entries {
		if c.verifiesAs(true, prev, e) {
			return nil, AuditEntry{}, AuditAnchor{}, fmt.Errorf("seal audit log: entry #%d was written by this version, so the unsealed head or anchor was not written by an earlier one; left as it is", e.Seq)
		}
		prev = e.MAC
	}
	detail := fmt.Sprintf("head (#%d) written without a MAC by an earlier version, checked against the chain and sealed", s.Head.Seq)
	var sealed *AuditAnchor
	if s.Start != nil {
		a := c.Seal(AuditStart, start)
		sealed = &a
		detail = fmt.Sprintf("head (#%d) and purge anchor (#%d) written without a MAC by an earlier version, checked against the chain and sealed", s.Head.Seq, start.Seq)
	}
	note := c.Next(*s.Head, AuditEntry{Actor: AuditActorSystem, Action: AuditActionSealed, Result: "ok", Detail: detail}, now)
	return sealed, note, c.Seal(AuditHead, anchorOf(note)), nil
}

// LogAuditSeal logs what a store's SealLegacy did when it was opened. A
// refusal does not stop the store: mail keeps flowing, and "Verify
// integrity" reports what is wrong with the log.
func LogAuditSeal(log *slog.Logger, sealed bool, err error) {
	switch {
	case err != nil:
		log.Error("audit log head or anchor written without a MAC left unsealed; verification reports it", "err", err)
	case sealed:
		log.Warn("audit log head and anchor written by an earlier version without a MAC were checked against the chain and sealed; the audit log records it (audit.seal)")
	}
}
