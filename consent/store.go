// Package consent is pixelgate's consent domain and its storage: recipient
// keys, tokens, consent records and their evidence, opens, campaign counters,
// the audit log and retention (docs/architecture.md, "The store contract").
//
// The Store interface is the stable contract; boltstore (embedded, the
// zero-setup default) and redisstore (production, shared by replicas)
// implement it, and storetest proves both behave the same.
package consent

import (
	"context"
	"time"
)

// Store is everything pixelgate keeps. Every method takes a context and
// returns wrapped, typed errors (see errors.go) so that callers can fail
// closed: the relay treats any Lookup error as "not granted" (R1).
//
// No method takes or stores a plain email address (R6, R8): callers derive a
// Key with a Keyring first.
type Store interface {
	// Lookup returns the current consent status of each key, in order, in one
	// round trip. Unknown keys have State None.
	Lookup(ctx context.Context, keys []Key) ([]Status, error)

	// Grant, Refuse and Withdraw change the current state and append an
	// evidence event to the key's history (R2). They return the event.
	Grant(ctx context.Context, k Key, ev Evidence) (Event, error)
	Refuse(ctx context.Context, k Key, ev Evidence) (Event, error)
	Withdraw(ctx context.Context, k Key, ev Evidence) (Event, error)
	// History is the evidence trail of a key, oldest first.
	History(ctx context.Context, k Key) ([]Event, error)

	// EligibleToAsk reports whether a consent request may be shown: never
	// to a recipient who granted or withdrew (they have the footer link),
	// and not within Retention.AskQuiet (6 months) of a refusal or of an
	// unanswered request (R5).
	EligibleToAsk(ctx context.Context, k Key) (bool, error)
	// MarkAsked records that a consent request was put in an email, starting
	// the R5 quiet period if it stays unanswered.
	MarkAsked(ctx context.Context, k Key) error

	// RecordOpen checks consent and records the open in one atomic step:
	// nothing at all is written unless consent is granted at that moment
	// (R1, R3). A granted open updates the campaign totals (created if
	// needed), the hourly counter, the unique set and the key's campaign
	// index. Machine opens (prefetching image proxies) only count the
	// campaign's machine opens (total and hourly) and return Recorded.
	// A zero At means the store's clock.
	RecordOpen(ctx context.Context, o Open) (OpenResult, error)
	// RecordDeliverabilityOpen overwrites the date (no time) of the key's
	// last open; exempt purpose, no consent needed (R4).
	RecordDeliverabilityOpen(ctx context.Context, k Key, day time.Time) error
	// RecordClick is RecordOpen for pixelgate's own click redirect (R12).
	RecordClick(ctx context.Context, c Click) (OpenResult, error)
	// RecordSend counts the messages of s (Send.Count, 0 meaning 1) sent
	// for a campaign, split by whether the recipient had granted consent.
	// No per-recipient send log.
	RecordSend(ctx context.Context, s Send) error

	// Campaigns lists campaign statistics, most recent last send first.
	Campaigns(ctx context.Context) ([]CampaignStats, error)
	// Campaign returns one campaign's statistics with its hourly series.
	Campaign(ctx context.Context, id string) (CampaignStats, error)
	// ConsentStats returns consent changes per day and source in [from, to),
	// and the current counts per state.
	ConsentStats(ctx context.Context, from, to time.Time) (ConsentStats, error)

	// AppendAudit appends an entry to the HMAC-chained audit log (R10) and
	// returns it with its sequence number, time and MAC filled in.
	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	ReadAudit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
	// VerifyAudit walks the chain and locates the first changed, removed or
	// reordered entry.
	VerifyAudit(ctx context.Context) (AuditVerification, error)

	// Export is everything held about one key (R11 access/portability).
	Export(ctx context.Context, k Key) (Export, error)
	// Erase removes opens, indexes, history, the deliverability date and
	// the request marker of a key, keeping only a minimal "withdrawn"
	// tombstone (never purged) so the address is never tracked again.
	// Anonymous campaign totals are kept.
	Erase(ctx context.Context, k Key, ev Evidence) error

	// SharedKV is a small shared keyed space for the parts of pixelgate that
	// must agree across replicas: dashboard accounts and sessions, relay
	// credentials, API tokens, throttling counters, learned URL shapes.
	// Never recipients' personal data.
	SharedKV() SharedKV

	// Ledger is the delivery ledger shared by replicas: which copies of a
	// multi-recipient message the upstream already accepted.
	Ledger() Ledger

	// Purge enforces retention (R9, see Retention for what expires when)
	// now. Redis relies on TTLs and may do little; the embedded store
	// deletes what has expired. Either way, expired data is never returned
	// once Purge has run.
	Purge(ctx context.Context) error

	// Fingerprint returns the secrets fingerprint stored on first use, or
	// stores fp when none is stored yet. A mismatch is ErrSecretsMismatch:
	// replicas and CLI calls must share the same secrets (operator guide §6).
	CheckFingerprint(ctx context.Context, fp string) error

	Ping(ctx context.Context) error
	Close() error
}

// SharedKV is a namespaced key/value space with optional expiry. Namespaces
// and keys are chosen by the caller and must not contain email addresses.
type SharedKV interface {
	// Get returns ErrNotFound when the key does not exist or has expired.
	Get(ctx context.Context, ns, key string) ([]byte, error)
	// Put stores val; ttl 0 means no expiry.
	Put(ctx context.Context, ns, key string, val []byte, ttl time.Duration) error
	// PutIfAbsent stores val only when key does not exist and reports
	// whether it did.
	PutIfAbsent(ctx context.Context, ns, key string, val []byte, ttl time.Duration) (bool, error)
	Delete(ctx context.Context, ns, key string) error
	// List returns the keys of a namespace, sorted.
	List(ctx context.Context, ns string) ([]string, error)
	// Incr adds delta to a counter, creating it with ttl when absent (the
	// ttl is not extended afterwards), and returns the new value. Used for
	// throttling.
	Incr(ctx context.Context, ns, key string, delta int64, ttl time.Duration) (int64, error)
}
