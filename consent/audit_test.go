package consent

import (
	"testing"
	"time"
)

func chainOf(t *testing.T, c AuditChain, n int) ([]AuditEntry, AuditAnchor) {
	t.Helper()
	var head AuditAnchor
	var out []AuditEntry
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		e := c.Next(head, AuditEntry{Actor: "cli:root", Action: "consent.grant", Target: "k", Result: "ok"}, at.Add(time.Duration(i)*time.Minute))
		head = AuditAnchor{Seq: e.Seq, MAC: e.MAC}
		out = append(out, e)
	}
	return out, head
}

func TestAuditChainLocatesTampering(t *testing.T) {
	c := NewAuditChain([]byte("0123456789abcdef0123456789abcdef"))
	entries, head := chainOf(t, c, 6)
	if v := c.Verify(AuditAnchor{}, entries, head); !v.OK || v.Checked != 6 {
		t.Fatalf("intact chain: %+v", v)
	}
	clone := func() []AuditEntry { return append([]AuditEntry(nil), entries...) }

	changed := clone()
	changed[2].Actor = "admin:mallory"
	removed := append(clone()[:3], entries[4:]...)
	reordered := clone()
	reordered[3], reordered[4] = reordered[4], reordered[3]
	renumbered := clone()
	renumbered[3], renumbered[4] = renumbered[4], renumbered[3]
	renumbered[3].Seq, renumbered[4].Seq = 4, 5
	tailCut := clone()[:5]
	otherKey := NewAuditChain([]byte("another key, another chain......"))

	cases := []struct {
		name    string
		entries []AuditEntry
		chain   AuditChain
		seq     uint64
		problem string
	}{
		{"changed", changed, c, 3, "changed"},
		{"removed", removed, c, 4, "removed"},
		{"reordered", reordered, c, 4, "reordered"},
		{"reordered and renumbered", renumbered, c, 4, "reordered"},
		{"last removed", tailCut, c, 6, "removed"},
		{"wrong key", entries, otherKey, 1, "changed"},
	}
	for _, tc := range cases {
		v := tc.chain.Verify(AuditAnchor{}, tc.entries, head)
		if v.OK || v.BadSeq != tc.seq || v.Problem != tc.problem {
			t.Errorf("%s: got %+v, want seq %d %s", tc.name, v, tc.seq, tc.problem)
		}
	}
	// After purging the first two entries the rest verifies from an anchor.
	start := AuditAnchor{Seq: entries[1].Seq, MAC: entries[1].MAC}
	if v := c.Verify(start, entries[2:], head); !v.OK {
		t.Errorf("chain from an anchor: %+v", v)
	}
}

// TestAuditSealBindsKeyAndRole: a head or anchor record verifies only with
// the chain key and in the role it was sealed for, and changing any of its
// fields breaks the seal.
func TestAuditSealBindsKeyAndRole(t *testing.T) {
	c := NewAuditChain([]byte("0123456789abcdef0123456789abcdef"))
	other := NewAuditChain([]byte("another key, another chain......"))
	entries, _ := chainOf(t, c, 3)
	head := c.Seal(AuditHead, anchorOf(entries[2]))
	if !c.Sealed(AuditHead, head) {
		t.Fatalf("a sealed head does not verify: %+v", head)
	}
	moved := head
	moved.Seq, moved.MAC = entries[1].Seq, entries[1].MAC
	later := head
	later.At = later.At.Add(time.Second)
	for name, ok := range map[string]bool{
		"as the anchor":       c.Sealed(AuditStart, head),
		"with another key":    other.Sealed(AuditHead, head),
		"moved to an earlier": c.Sealed(AuditHead, moved),
		"with another time":   c.Sealed(AuditHead, later),
		"without a tag":       c.Sealed(AuditHead, anchorOf(entries[2])),
	} {
		if ok {
			t.Errorf("head record verifies %s", name)
		}
	}
}
