// Package learnstore keeps what the learner (mailrewrite/learn) learns of
// each campaign in consent.SharedKV, shared by every replica, with the TTL
// that ends it with the campaign (R9), and answers each copy's rewrite with
// the campaign's learnt shapes, failing closed when the store cannot be
// read (R12). The learner itself stays pure; this package is where its
// state meets the store, metrics and leases.
package learnstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/mailrewrite/learn"
	"github.com/prometheus/client_golang/prometheus"
)

// Record namespaces: the learned state of a campaign, and the short lease
// that serialises its updates across replicas.
const (
	Namespace     = "learn"
	lockNamespace = "learn-lock"
	newNamespace  = "learn-new" // new campaign states per day
)

// StoreOptions configure a Store. Zero values take the defaults.
type StoreOptions struct {
	// TTL: a campaign's state expires this long after its last observed
	// copy (default 30 days): learnt shapes live as long as the campaign
	// sends, and no longer.
	TTL time.Duration
	// FirstTTL: a state that has seen one copy only expires sooner
	// (default 24 h). A "campaign" of one message (a personalised subject
	// makes each message its own campaign when no campaign header is
	// set) then costs the store a day, not a month.
	FirstTTL time.Duration
	// NewPerDay bounds the campaign states started per day across all
	// replicas (default 2000), and with it what learning may hold in the
	// store: at most about TTL/day × NewPerDay × MaxEncodedSize(Limits),
	// in practice a few KiB per campaign.
	NewPerDay int
	// Secret keys the value fingerprints (a key derived from pixelgate's
	// secrets, the same on every replica).
	Secret []byte
	Limits learn.Limits // default DefaultLimits
	// LockTTL bounds how long a crashed replica blocks a campaign's
	// learning (default 5 s).
	LockTTL time.Duration
	// LeaseWait is how long, in all, a copy waits for another replica's
	// lease before it is skipped (default 100 ms).
	LeaseWait time.Duration
	// CacheTTL: how long a replica reuses a campaign's state read from the
	// store (default 15 s). Copies of one campaign arrive in bursts; one
	// read serves many of them.
	CacheTTL time.Duration
	// CacheSize: campaigns cached (default 256).
	CacheSize int
	Now       func() time.Time
	Rand      io.Reader
	Logger    *slog.Logger
	// Registerer receives the metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Store keeps each campaign's learning state in consent.SharedKV, shared by
// every replica (both store implementations provide SharedKV).
//
// Concurrency: SharedKV has no compare-and-swap, so an update is a
// read-merge-write under a per-campaign lease taken with PutIfAbsent
// (expiring after LockTTL). Within one replica, copies of a campaign take
// turns (a striped mutex), so the lease is only ever contended between
// replicas; a replica that finds it taken tries again briefly (LeaseWait),
// then skips learning from that copy. Learning needs only two copies that
// differ and a campaign sends many, so a skipped copy delays nothing that
// matters, while waiting longer would hold up the relay's bookkeeping. A
// lease that expires mid-update (a stalled replica) can at worst lose one
// observation.
type Store struct {
	rec     consent.SharedKV
	learner *learn.Learner
	o       StoreOptions
	m       *storeMetrics

	mu    sync.Mutex
	cache map[string]cached
	// turns serialise one replica's updates of a campaign: copies hash to
	// one of a fixed number of mutexes.
	turns [32]sync.Mutex
}

type cached struct {
	st *learn.State
	sh *learn.Shapes
	at time.Time
}

// NewStore returns a Store over rec.
func NewStore(rec consent.SharedKV, o StoreOptions) (*Store, error) {
	if rec == nil {
		return nil, errors.New("learn store: SharedKV is nil")
	}
	if o.TTL <= 0 {
		o.TTL = 30 * 24 * time.Hour
	}
	if o.FirstTTL <= 0 {
		o.FirstTTL = 24 * time.Hour
	}
	if o.NewPerDay <= 0 {
		o.NewPerDay = 2000
	}
	if o.Limits == (learn.Limits{}) {
		o.Limits = learn.DefaultLimits
	}
	if o.LockTTL <= 0 {
		o.LockTTL = 5 * time.Second
	}
	if o.LeaseWait <= 0 {
		o.LeaseWait = 100 * time.Millisecond
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = 15 * time.Second
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 256
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := learn.NewLearner(o.Secret, o.Limits)
	if err != nil {
		return nil, err
	}
	m, err := newStoreMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	return &Store{rec: rec, learner: l, o: o, m: m, cache: map[string]cached{}}, nil
}

// recordKey names a campaign's records: a hash, so that whatever the
// campaign id holds never becomes a store key.
func recordKey(campaign string) string {
	h := sha256.Sum256([]byte("pixelgate-learn\x00" + campaign))
	return hex.EncodeToString(h[:16])
}

// Shapes returns what is learnt for a campaign (nil when nothing is, or
// campaign is ""). A store error is returned with nil Shapes; a rewrite
// asks ForCopy, which then falls back on what is known.
func (s *Store) Shapes(ctx context.Context, campaign string) (*learn.Shapes, error) {
	if campaign == "" {
		return nil, nil
	}
	if c, ok := s.fresh(campaign); ok {
		return c.sh, nil
	}
	st, err := s.load(ctx, campaign)
	if err != nil {
		return nil, err
	}
	if st == nil {
		s.remember(campaign, nil)
		return nil, nil
	}
	return s.remember(campaign, st).sh, nil
}

// ForCopy returns what the rewrite of one copy of a campaign takes out,
// and never fails (R12, fail closed): the learnt shapes as Shapes reads
// them; nil when the store says nothing is learnt. When the store cannot
// be read, the last shapes this replica knew of the campaign, however old
// its cached read, rather than none; and Strict when it knew none (nothing
// read, or nothing learnt yet: learning cannot go on while the store is
// down, so every copy of the outage would leak what a second copy would
// have shown). Each such copy is counted and logged.
func (s *Store) ForCopy(ctx context.Context, campaign string) learn.Matcher {
	sh, err := s.Shapes(ctx, campaign)
	if err == nil {
		if sh == nil {
			return nil // a nil *Shapes in the interface would read as "something learnt"
		}
		return sh
	}
	s.mu.Lock()
	last := s.cache[campaign].sh
	s.mu.Unlock()
	if last != nil {
		s.m.outage.WithLabelValues("last-known").Inc()
		s.o.Logger.Warn("learn: store unreadable; the campaign's last known shapes apply", "err", err)
		return last
	}
	s.m.outage.WithLabelValues("strict").Inc()
	s.o.Logger.Warn("learn: store unreadable and no shapes known; strict rules apply", "err", err)
	return learn.Strict{}
}

// Observe learns from one original copy of a campaign (before any rewrite:
// the learner must see the values the rewrite takes out). c lists its
// remote resources and links in document order.
func (s *Store) Observe(ctx context.Context, campaign string, c []learn.Resource) error {
	if campaign == "" {
		return nil
	}
	if s.frozen(campaign) {
		s.m.observed.WithLabelValues("frozen").Inc()
		return nil
	}
	key := recordKey(campaign)
	turn := &s.turns[crc32.ChecksumIEEE([]byte(key))%uint32(len(s.turns))]
	turn.Lock()
	defer turn.Unlock()
	if s.frozen(campaign) { // learnt enough while this copy waited its turn
		s.m.observed.WithLabelValues("frozen").Inc()
		return nil
	}
	lease := make([]byte, 16)
	if _, err := io.ReadFull(s.o.Rand, lease); err != nil {
		return s.failed(fmt.Errorf("learn: read lease id: %w", err))
	}
	got, err := s.takeLease(ctx, key, lease)
	if err != nil {
		return s.failed(fmt.Errorf("learn: take campaign lease: %w", err))
	}
	if !got {
		s.m.observed.WithLabelValues("busy").Inc()
		return nil
	}
	defer func() {
		// A lease that expired and was taken by another replica meanwhile
		// is not ours to delete.
		if cur, err := s.rec.Get(ctx, lockNamespace, key); err == nil && string(cur) == string(lease) {
			if err := s.rec.Delete(ctx, lockNamespace, key); err != nil {
				s.o.Logger.Warn("learn: release campaign lease", "err", err)
			}
		}
	}()
	st, err := s.load(ctx, campaign)
	if err != nil {
		return s.failed(err)
	}
	if st == nil {
		ok, err := s.mayStart(ctx)
		if err != nil {
			return s.failed(err)
		}
		if !ok {
			s.m.observed.WithLabelValues("capped").Inc()
			return nil
		}
		if st, err = learn.NewState(s.o.Rand); err != nil {
			return s.failed(err)
		}
	}
	res := s.learner.Observe(st, c)
	if res.Frozen && !s.touchDue(st) {
		s.m.observed.WithLabelValues("frozen").Inc()
		s.remember(campaign, st)
		return nil
	}
	st.Touch(s.today())
	ttl := s.o.TTL
	if st.Copies() < 2 {
		ttl = min(ttl, s.o.FirstTTL)
	}
	if err := s.rec.Put(ctx, Namespace, key, st.Encode(), ttl); err != nil {
		return s.failed(fmt.Errorf("learn: save campaign state: %w", err))
	}
	s.remember(campaign, st)
	// Counted once saved and cached: what the metric says is learnt, the
	// next copy's rewrite uses.
	if res.Learned > 0 {
		s.m.observed.WithLabelValues("learned").Inc()
		s.m.learned.Add(float64(res.Learned))
	} else {
		s.m.observed.WithLabelValues("unchanged").Inc()
	}
	return nil
}

// mayStart counts a new campaign state against today's allowance
// (NewPerDay, shared by the replicas through SharedKV.Incr).
func (s *Store) mayStart(ctx context.Context) (bool, error) {
	day := strconv.FormatInt(s.o.Now().Unix()/86400, 10)
	n, err := s.rec.Incr(ctx, newNamespace, day, 1, 48*time.Hour)
	if err != nil {
		return false, fmt.Errorf("learn: count new campaigns: %w", err)
	}
	return n <= int64(s.o.NewPerDay), nil
}

// frozen: the cached state has seen enough copies and needs no refresh.
// Learning reports whether the campaign's next copy could still teach
// anything: false once what is learnt is frozen, so a caller need not
// collect the copy's URLs for Observe (most of a campaign's copies come
// after that).
func (s *Store) Learning(campaign string) bool {
	return campaign != "" && !s.frozen(campaign)
}

func (s *Store) frozen(campaign string) bool {
	e, ok := s.fresh(campaign)
	return ok && e.st != nil && e.st.Frozen(s.o.Limits) && !s.touchDue(e.st)
}

// takeLease takes the campaign's lease, trying a few times within
// LeaseWait when another replica holds it.
func (s *Store) takeLease(ctx context.Context, key string, lease []byte) (bool, error) {
	const tries = 4
	for i := 0; ; i++ {
		got, err := s.rec.PutIfAbsent(ctx, lockNamespace, key, lease, s.o.LockTTL)
		if err != nil || got || i == tries-1 {
			return got, err
		}
		t := time.NewTimer(s.o.LeaseWait / (tries - 1))
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Store) failed(err error) error {
	s.m.observed.WithLabelValues("error").Inc()
	return err
}

func (s *Store) today() uint32 { return uint32(s.o.Now().Unix() / 86400) }

// touchDue: a frozen state is rewritten once half its TTL has passed since
// the last write, so that it expires TTL after the campaign's last send
// rather than TTL after learning stopped.
func (s *Store) touchDue(st *learn.State) bool {
	half := uint32(s.o.TTL / (2 * 24 * time.Hour))
	return s.today() >= st.Touched()+max(half, 1)
}

// load reads and decodes a campaign's state; nil when there is none. A
// state that does not decode (a format change, corruption) is dropped and
// learning starts over: it holds nothing that cannot be learnt again.
func (s *Store) load(ctx context.Context, campaign string) (*learn.State, error) {
	b, err := s.rec.Get(ctx, Namespace, recordKey(campaign))
	if errors.Is(err, consent.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("learn: read campaign state: %w", err)
	}
	st, err := s.learner.Decode(b)
	if err != nil {
		s.o.Logger.Warn("learn: campaign state unreadable, starting over", "err", err)
		s.m.observed.WithLabelValues("corrupt").Inc()
		return nil, nil
	}
	return st, nil
}

func (s *Store) fresh(campaign string) (cached, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cache[campaign]
	if !ok || s.o.Now().Sub(c.at) >= s.o.CacheTTL {
		return cached{}, false
	}
	return c, true
}

func (s *Store) remember(campaign string, st *learn.State) cached {
	c := cached{st: st, at: s.o.Now()}
	if st != nil {
		c.sh = st.Shapes()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cache[campaign]; !ok && len(s.cache) >= s.o.CacheSize {
		now := s.o.Now()
		for k, e := range s.cache {
			if now.Sub(e.at) >= s.o.CacheTTL {
				delete(s.cache, k)
			}
		}
		for k := range s.cache {
			if len(s.cache) < s.o.CacheSize {
				break
			}
			delete(s.cache, k)
		}
	}
	s.cache[campaign] = c
	return c
}

type storeMetrics struct {
	observed *prometheus.CounterVec
	learned  prometheus.Counter
	outage   *prometheus.CounterVec
}

func newStoreMetrics(reg prometheus.Registerer) (*storeMetrics, error) {
	m := &storeMetrics{
		observed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pixelgate_learn_copies_total",
			Help: "Copies offered to the per-campaign learner, by result: learned (a new per-recipient part), unchanged, frozen (enough copies seen), busy (another replica was updating the campaign), capped (too many new campaigns today), corrupt (stored state dropped), error.",
		}, []string{"result"}),
		learned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pixelgate_learn_parts_learned_total",
			Help: "URL parts learnt as per-recipient from differences between copies of a campaign.",
		}),
		outage: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pixelgate_learn_store_unreadable_copies_total",
			Help: "Copies rewritten while the campaign's learnt shapes could not be read, by the rules applied: last-known (this replica's last read of the campaign) or strict (none known: every query item that may hold a value goes).",
		}, []string{"rules"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.observed, m.learned, m.outage} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register learning metrics: %w", err)
			}
		}
	}
	for _, r := range []string{"learned", "unchanged", "frozen", "busy", "capped", "corrupt", "error"} {
		m.observed.WithLabelValues(r)
	}
	for _, r := range []string{"last-known", "strict"} {
		m.outage.WithLabelValues(r)
	}
	return m, nil
}
