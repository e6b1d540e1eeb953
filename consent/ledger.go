package consent

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"
)

// MessageID names one message as its sender submits it: the same bytes
// submitted again on a retry give the same MessageID. The relay derives it
// from a digest of the envelope sender, the Message-ID field and the
// content (see the relay's messageID); no address can be read from it.
type MessageID [16]byte

// String is the lower-case hex form used in storage keys.
func (m MessageID) String() string { return hex.EncodeToString(m[:]) }

// CopyState is what the delivery ledger knows of one recipient's copy of a
// message.
type CopyState uint8

const (
	// CopyFree: neither delivered nor held by a transaction (Check only).
	CopyFree CopyState = iota
	// CopyClaimed: the caller now holds the copy and may send it (Claim).
	CopyClaimed
	// CopyDelivered: the upstream accepted this copy earlier; it must not
	// be sent again.
	CopyDelivered
	// CopyBusy: another transaction holds the copy (a concurrent retry,
	// possibly on another replica); it must not be sent now.
	CopyBusy
)

func (c CopyState) String() string {
	switch c {
	case CopyFree:
		return "free"
	case CopyClaimed:
		return "claimed"
	case CopyDelivered:
		return "delivered"
	case CopyBusy:
		return "busy"
	}
	return fmt.Sprintf("CopyState(%d)", uint8(c))
}

// Ledger is the delivery ledger: which recipients' copies of a message the
// upstream has accepted, so that a client's retry of a message, through any
// replica, sends only the copies not yet accepted (RFC 5321 §4.5.3.1.10
// lets a relay take many recipients; its single reply after DATA makes a
// partial success a retry of the whole). Entries hold a MessageID and a
// recipient Key, never an address; a delivered mark is kept for
// Retention.Ledger, a claim only for the hold the caller asked.
type Ledger interface {
	// Check reports, for each key in order, CopyDelivered, CopyBusy or
	// CopyFree, and writes nothing.
	Check(ctx context.Context, m MessageID, keys []Key) ([]CopyState, error)
	// Claim takes, in one atomic step, every copy of keys that is neither
	// delivered nor held by another holder: those come back CopyClaimed
	// and are held by holder for hold (a claim already held by holder is
	// renewed). The others come back CopyDelivered or CopyBusy.
	Claim(ctx context.Context, m MessageID, keys []Key, holder string, hold time.Duration) ([]CopyState, error)
	// Delivered marks the copies as accepted upstream, whoever held them.
	Delivered(ctx context.Context, m MessageID, keys []Key) error
	// Release drops holder's claims on copies that were not delivered, so
	// a retry may send them; delivered marks and others' claims stay.
	Release(ctx context.Context, m MessageID, keys []Key, holder string) error
}

// CheckLedgerArgs is the argument check every Ledger implementation makes.
func CheckLedgerArgs(holder string, hold time.Duration, claim bool) error {
	if !claim {
		return nil
	}
	if holder == "" || len(holder) > 128 {
		return fmt.Errorf("%w: a ledger holder is 1-128 bytes", ErrInvalid)
	}
	if hold <= 0 {
		return fmt.Errorf("%w: a ledger claim needs a positive hold, got %s", ErrInvalid, hold)
	}
	return nil
}
