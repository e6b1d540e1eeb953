package consent

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
)

// Retention is how long each kind of data is kept (R9) and the R5 quiet
// period. Both stores take it; zero fields mean the default. Lengths are
// durations so tests and config can use any unit; the defaults round months
// and years up by at most two days, so nothing goes before the rule's date.
type Retention struct {
	// Opens: a recipient's open record of a campaign (unique-open
	// membership, its entry in the per-key campaign index with first open,
	// open and click counts) is kept this long after the FIRST open or click
	// that created it; later opens never extend it (R7). Hourly counters are
	// kept this long after their hour. Campaign totals are anonymous
	// aggregates and are kept.
	Opens time.Duration
	// Audit: audit entries are kept this long after they were written.
	Audit time.Duration
	// Evidence: the consent history of a key whose consent ended (refused
	// or withdrawn) is kept this long after it ended; then the key is
	// forgotten (state None). Granted consent is kept while it lasts. An
	// erasure tombstone is kept for ever.
	Evidence time.Duration
	// Deliverability: the last-open date is kept this long after that date.
	Deliverability time.Duration
	// AskQuiet: no new consent request within this long after a refusal or
	// an unanswered request (R5). The marker of an unanswered request is
	// dropped once its quiet period is over.
	AskQuiet time.Duration
	// Ledger: a delivery ledger mark (a message's copy for one recipient
	// was accepted upstream) is kept this long, the longest time an MTA
	// keeps retrying a message (Postfix maximal_queue_lifetime and Exim's
	// default retry rule: 5 days), so no retry within it sends a copy twice.
	Ledger time.Duration
}

const day = 24 * time.Hour

// DefaultRetention is R9 and R5: opens 13 months, audit 1 year, consent
// evidence 5 years after consent ended, deliverability date 3 years, quiet
// period 6 months, delivery ledger 5 days.
func DefaultRetention() Retention {
	return Retention{
		Opens:          396 * day,
		Audit:          366 * day,
		Evidence:       5*365*day + 2*day,
		Deliverability: 3*365*day + day,
		AskQuiet:       183 * day,
		Ledger:         5 * day,
	}
}

// WithDefaults fills zero fields from DefaultRetention.
func (r Retention) WithDefaults() Retention {
	d := DefaultRetention()
	for _, f := range []struct{ v, def *time.Duration }{
		{&r.Opens, &d.Opens}, {&r.Audit, &d.Audit}, {&r.Evidence, &d.Evidence},
		{&r.Deliverability, &d.Deliverability}, {&r.AskQuiet, &d.AskQuiet},
		{&r.Ledger, &d.Ledger},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return r
}

// StoreOptions is what every Store implementation takes besides its
// connection: the clock, retention, the audit chain and randomness.
type StoreOptions struct {
	// Now is the store's clock; nil means time.Now. Expiry of every kind
	// (retention, SharedKV TTLs, R5) is judged by it.
	Now       func() time.Time
	Retention Retention
	// Audit chains audit entries; from Keyring.AuditChain. Required.
	Audit AuditChain
	// Rand feeds event ids; nil means crypto/rand.
	Rand io.Reader
}

// WithDefaults fills nil and zero fields.
func (o StoreOptions) WithDefaults() StoreOptions {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	o.Retention = o.Retention.WithDefaults()
	return o
}

// NewEventID makes the UUIDv7 (RFC 9562 §5.7) of an evidence event at time
// at, so ids sort by the store's clock rather than the wall clock.
func NewEventID(at time.Time, r io.Reader) (uuid.UUID, error) {
	var u uuid.UUID
	if _, err := io.ReadFull(r, u[6:]); err != nil {
		return u, fmt.Errorf("event id: %w", err)
	}
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(at.UnixMilli()))
	copy(u[:6], ms[2:])
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // RFC 9562 variant
	return u, nil
}

// Day is the UTC date of t, as kept for the deliverability date (R4) and
// consent statistics.
func Day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
