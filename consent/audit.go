package consent

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
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
// anchor the first remaining entry chains from.
type AuditAnchor struct {
	Seq uint64 `json:"seq"`
	MAC string `json:"mac"`
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

func (c AuditChain) mac(prev string, e AuditEntry) string {
	m := hmac.New(sha256.New, c.key)
	field := func(s string) {
		m.Write(binary.BigEndian.AppendUint64(nil, uint64(len(s))))
		m.Write([]byte(s))
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
	return hmac.Equal([]byte(c.mac(prev, e)), []byte(e.MAC))
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
		case c.belongsLater(prev, want, entries[i+1:]):
			bad.Problem = "reordered"
		case e.Seq > want:
			bad.Problem = "removed"
		default:
			bad.Problem = "changed"
		}
		return bad
	}
	if head.Seq != want-1 || (head.Seq > start.Seq && head.MAC != prev) {
		if head.Seq >= want {
			return AuditVerification{Checked: len(entries), BadSeq: want, Problem: "removed"}
		}
		return AuditVerification{Checked: len(entries), BadSeq: head.Seq, Problem: "changed"}
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
