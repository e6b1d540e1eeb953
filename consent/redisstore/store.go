// Package redisstore is the production consent.Store: Redis shared by every
// pixelgate replica (operator guide §6), through go-redis' UniversalClient so a
// single server, Sentinel or Cluster all work.
//
// Layout. Every key starts with "pg:". Keys of one recipient share the hash
// tag {<recipient key hex>}, keys of one campaign the tag {c:<campaign
// hash>}, so each atomic script touches one Cluster slot. No key holds an
// email address or a campaign id in clear (R6, R8).
//
// Retention (R9). Each key that must expire gets two things computed from
// the injected clock: a Redis TTL of the remaining time (what deletes it in
// production) and an entry in its tag's expiry index (the "x" sorted set)
// scored by the expiry instant, with the tag itself listed in a global index
// scored by its earliest expiry. Purge deletes whatever the injected clock
// says is due, so retention is enforced and testable even though Redis' own
// TTL runs on Redis' clock.
//
// Atomicity. Every operation that must be atomic is one Lua script on one
// slot: a decision with its evidence, an open with its consent check, an
// erasure, a record update; the audit chain is a compare-and-set on its
// head. Campaign counters and consent statistics live on other slots: on a
// single server or Sentinel RecordOpen/RecordClick update the campaign in
// the same script, on Cluster in a second step that runs only when the open
// was recorded; consent totals are increments sent right after a
// decision's script, so concurrent decisions still add up.
//
// Speed. The hot paths (Lookup of one key, RecordOpen, RecordClick) share
// round trips between concurrent callers through go-redis autopipelining;
// go-redis never retries (a retried script could count an open twice).
package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pixelgate/pixelgate/consent"
)

// Options configure Open. The embedded StoreOptions are the ones every
// consent store takes (clock, retention, audit chain, randomness).
type Options struct {
	consent.StoreOptions
	// Timeout bounds each step of a round trip to Redis (dial, wait for a
	// pooled connection, write, read); 0 means DefaultTimeout. A deadline on
	// the caller's context applies too. The relay fails closed when either
	// is exceeded (R1).
	Timeout time.Duration
	// PoolSize is the number of connections per Redis node; 0 means
	// DefaultPoolSize. Keep it at least the number of concurrent callers.
	PoolSize int
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// NoAutoPipeline sends every command on its own round trip. By default
	// the hot paths (Lookup of one key, RecordOpen, RecordClick) share
	// pipelined round trips between concurrent callers (go-redis
	// autopipelining), which multiplies throughput at the relay's and the
	// pixel endpoint's concurrency.
	NoAutoPipeline bool
}

const (
	// DefaultTimeout bounds each step of a round trip (Options.Timeout).
	DefaultTimeout = 2 * time.Second
	// DefaultPoolSize leaves room above the 64 concurrent callers of a busy
	// relay and pixel endpoint (storetest.Callers).
	DefaultPoolSize = 128
	// expiryGrace keeps a tag's expiry index this long after its last member
	// is due, so a Purge that runs late still learns which consent state
	// expired (to keep the per-state totals right) even after Redis' TTL has
	// deleted the data itself.
	expiryGrace = 7 * 24 * time.Hour
)

// Store is a consent.Store on Redis. It is safe for concurrent use.
type Store struct {
	rdb redis.UniversalClient
	// hot carries the hot paths: rdb's autopipeliner, or rdb itself.
	hot     hotClient
	cluster bool
	o       consent.StoreOptions
	log     *slog.Logger
}

var _ consent.Store = (*Store)(nil)

// hotClient is what the hot paths use of a client.
type hotClient interface {
	redis.Scripter
	Get(ctx context.Context, key string) *redis.StringCmd
	HMGet(ctx context.Context, key string, fields ...string) *redis.SliceCmd
}

// autoPipeline returns rdb's shared autopipeliner. go-redis marks the API
// experimental; its caveats are met here: the client never retries
// (noRetries), so a batch is never sent twice, and the per-command context
// is checked before queuing (queued commands run under the client's
// timeouts, not the caller's deadline).
func autoPipeline(rdb redis.UniversalClient) (hotClient, error) {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.AutoPipeline()
	case *redis.ClusterClient:
		return c.AutoPipeline()
	}
	return rdb, nil
}

// Open connects to the Redis named by rawURL (see parseURL for the forms)
// and checks that it answers. The store keeps no state of its own besides
// the connection pool: any number of replicas may open the same Redis.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	if !opts.Audit.Valid() {
		return nil, fmt.Errorf("open redis store: %w", invalid("an audit chain key is required (Options.Audit)"))
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = DefaultPoolSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	t, err := parseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open redis store: %w", err)
	}
	rdb := t.client(opts.PoolSize, opts.Timeout)
	hot := hotClient(rdb)
	if !opts.NoAutoPipeline {
		if hot, err = autoPipeline(rdb); err != nil {
			rdb.Close()
			return nil, fmt.Errorf("open redis store: autopipelining: %w", err)
		}
	}
	s := &Store{
		rdb:     rdb,
		hot:     hot,
		cluster: t.kind == kindCluster,
		o:       opts.StoreOptions.WithDefaults(),
		log:     opts.Logger,
	}
	if err := s.Ping(ctx); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("open redis store %s: %w", t.redacted, err)
	}
	sealed, err := s.sealLegacyAudit(ctx)
	consent.LogAuditSeal(s.log, sealed, err)
	return s, nil
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w", wrapErr(err))
	}
	return nil
}

// Close releases the connections (and stops the autopipeliner).
func (s *Store) Close() error { return s.rdb.Close() }

func (s *Store) now() time.Time { return s.o.Now().UTC() }
