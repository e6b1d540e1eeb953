package learnstore

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/consent/redisstore"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/consent/storetest"
	"github.com/pixelgate/pixelgate/internal/testsupport"
	"github.com/pixelgate/pixelgate/mailrewrite/learn"
	"github.com/pixelgate/pixelgate/mailrewrite/learn/learntest"
	"github.com/prometheus/client_golang/prometheus"
)

// newRecipient and newsletter are the learner's test campaign.
func newRecipient(n int) learntest.Recipient { return learntest.NewRecipient(n) }

func newsletter(campaign string, r learntest.Recipient) []learn.Resource {
	return learntest.Newsletter[learn.Resource](campaign, r)
}

// storeKinds are the two real consent stores the learning state lives in.
var storeKinds = []struct {
	name string
	open func(t *testing.T, clk *storetest.Clock) consent.Store
}{
	{"bolt", func(t *testing.T, clk *storetest.Clock) consent.Store {
		kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		st, err := boltstore.Open(filepath.Join(t.TempDir(), "pixelgate.db"), boltstore.Options{StoreOptions: consent.StoreOptions{Audit: kr.AuditChain(), Now: clk.Now}})
		if err != nil {
			t.Fatalf("open bolt store: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
	{"redis", func(t *testing.T, clk *storetest.Clock) consent.Store {
		kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		srv := redistest.Start(t)
		st, err := redisstore.Open(t.Context(), srv.URL(), redisstore.Options{StoreOptions: consent.StoreOptions{Audit: kr.AuditChain(), Now: clk.Now}})
		if err != nil {
			t.Fatalf("open redis store: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
}

func newTestStore(t *testing.T, rec consent.SharedKV, clk *storetest.Clock, reg prometheus.Registerer) *Store {
	t.Helper()
	s, err := NewStore(rec, StoreOptions{Secret: []byte("k"), Now: clk.Now, Registerer: reg, CacheTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreLearnsAcrossReplicas(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			ctx := context.Background()
			clk := storetest.NewClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
			cs := kind.open(t, clk)
			// Two replicas: two learners over one shared store.
			r1 := newTestStore(t, cs.SharedKV(), clk, nil)
			r2 := newTestStore(t, cs.SharedKV(), clk, nil)
			if err := r1.Observe(ctx, "jan", newsletter("jan", newRecipient(1))); err != nil {
				t.Fatal(err)
			}
			if err := r2.Observe(ctx, "jan", newsletter("jan", newRecipient(2))); err != nil {
				t.Fatal(err)
			}
			sh, err := r2.Shapes(ctx, "jan")
			if err != nil {
				t.Fatal(err)
			}
			if sh.Len() != 5 {
				t.Fatalf("replica 2 knows %d shapes after copy 2, want 5", sh.Len())
			}
			// Replica 1 cached "nothing learnt" a moment ago; it sees the
			// shapes once its cache expires.
			clk.Advance(2 * time.Second)
			sh1, err := r1.Shapes(ctx, "jan")
			if err != nil {
				t.Fatal(err)
			}
			third := newsletter("jan", newRecipient(3))
			got, n := learntest.Cleaned(t, sh1.PerRecipient, learn.RemoveParts, third)
			if n != 6 || strings.Contains(strings.Join(got, " "), newRecipient(3).Token) {
				t.Fatalf("replica 1 cleaned %d URLs of the third copy: %v", n, got)
			}
			keys, err := cs.SharedKV().List(ctx, Namespace)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 1 || strings.Contains(keys[0], "jan") {
				t.Fatalf("record keys %v: want one hashed key", keys)
			}
		})
	}
}

func TestStoreKeepsCampaignsApart(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			ctx := context.Background()
			clk := storetest.NewClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
			s := newTestStore(t, kind.open(t, clk).SharedKV(), clk, nil)
			// Campaign "jan" is sent to recipients 1 and 2; campaign "feb",
			// the same template, to recipient 3 only.
			for i, c := range []string{"jan", "feb", "jan"} {
				if err := s.Observe(ctx, c, newsletter(c, newRecipient(i+1))); err != nil {
					t.Fatal(err)
				}
			}
			jan, _ := s.Shapes(ctx, "jan")
			feb, _ := s.Shapes(ctx, "feb")
			if jan.Len() == 0 {
				t.Fatal("jan learned nothing from its two copies")
			}
			if feb != nil {
				t.Fatalf("feb, one copy, knows %v: campaigns mixed", feb.List())
			}
			none, err := s.Shapes(ctx, "")
			if none != nil || err != nil {
				t.Fatal("a message without campaign got shapes")
			}
		})
	}
}

func TestStoreStateExpiresWithTheCampaign(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			ctx := context.Background()
			clk := storetest.NewClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
			cs := kind.open(t, clk)
			s, err := NewStore(cs.SharedKV(), StoreOptions{TTL: 48 * time.Hour, Now: clk.Now, CacheTTL: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				if err := s.Observe(ctx, "jan", newsletter("jan", newRecipient(i))); err != nil {
					t.Fatal(err)
				}
			}
			clk.Advance(47 * time.Hour)
			if sh, _ := s.Shapes(ctx, "jan"); sh.Len() == 0 {
				t.Fatal("state gone before its TTL")
			}
			clk.Advance(2 * time.Hour)
			if sh, _ := s.Shapes(ctx, "jan"); sh != nil {
				t.Fatal("state outlived the campaign's TTL")
			}
		})
	}
}

func TestStoreSkipsWhileAnotherReplicaUpdates(t *testing.T) {
	ctx := context.Background()
	clk := storetest.NewClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	cs := storeKinds[0].open(t, clk)
	reg := prometheus.NewRegistry()
	s := newTestStore(t, cs.SharedKV(), clk, reg)
	// Another replica holds the campaign's lease.
	if ok, err := cs.SharedKV().PutIfAbsent(ctx, lockNamespace, recordKey("jan"), []byte("other"), 5*time.Second); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := s.Observe(ctx, "jan", newsletter("jan", newRecipient(1))); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(t, reg, "pixelgate_learn_copies_total", "busy"); got != 1 {
		t.Fatalf("busy count %v, want 1", got)
	}
	if _, err := cs.SharedKV().Get(ctx, Namespace, recordKey("jan")); !errors.Is(err, consent.ErrNotFound) {
		t.Fatal("state written without the lease")
	}
	// The other replica's lease is still there: not ours to delete.
	if v, err := cs.SharedKV().Get(ctx, lockNamespace, recordKey("jan")); err != nil || string(v) != "other" {
		t.Fatalf("lease of the other replica: %q, %v", v, err)
	}
	// Once it expires, learning goes on.
	clk.Advance(6 * time.Second)
	if err := s.Observe(ctx, "jan", newsletter("jan", newRecipient(1))); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.SharedKV().Get(ctx, Namespace, recordKey("jan")); err != nil {
		t.Fatalf("state not written after the lease expired: %v", err)
	}
	if _, err := cs.SharedKV().Get(ctx, lockNamespace, recordKey("jan")); !errors.Is(err, consent.ErrNotFound) {
		t.Fatal("own lease not released")
	}
}

func TestStoreStartsOverOnACorruptState(t *testing.T) {
	ctx := context.Background()
	clk := storetest.NewClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	cs := storeKinds[0].open(t, clk)
	var logs bytes.Buffer
	s, err := NewStore(cs.SharedKV(), StoreOptions{Now: clk.Now, Logger: slogTo(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.SharedKV().Put(ctx, Namespace, recordKey("jan"), []byte("PGL\x01garbage"), time.Hour); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := s.Observe(ctx, "jan", newsletter("jan", newRecipient(i))); err != nil {
			t.Fatal(err)
		}
	}
	if sh, _ := s.Shapes(ctx, "jan"); sh.Len() == 0 {
		t.Fatal("did not start over after a corrupt state")
	}
	if !strings.Contains(logs.String(), "starting over") {
		t.Fatalf("corrupt state not logged: %s", logs.String())
	}
}

func TestStoreFrozenCampaignCostsNoWrite(t *testing.T) {
	ctx := context.Background()
	clk := storetest.NewClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	cs := storeKinds[0].open(t, clk)
	rec := &countingRecords{SharedKV: cs.SharedKV()}
	s, err := NewStore(rec, StoreOptions{Now: clk.Now, Limits: learn.Limits{Slots: 64, Values: 8, Shapes: 8, PartsPerShape: 4, Copies: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Learning("jan") || s.Learning("") {
		t.Fatal("a new campaign must be learning, no campaign never")
	}
	for i := range 3 {
		if err := s.Observe(ctx, "jan", newsletter("jan", newRecipient(i))); err != nil {
			t.Fatal(err)
		}
	}
	// Frozen: the relay need not collect the next copies' URLs.
	if s.Learning("jan") {
		t.Fatal("a frozen campaign still asks for its copies' URLs")
	}
	before := rec.calls()
	for i := range 50 {
		if err := s.Observe(ctx, "jan", newsletter("jan", newRecipient(10+i))); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Shapes(ctx, "jan"); err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.calls() - before; got != 0 {
		t.Fatalf("50 copies of a frozen campaign made %d store calls, want 0 (cached)", got)
	}
	// Half the TTL later the state is written again, so that it expires
	// TTL after the last send.
	clk.Advance(16 * 24 * time.Hour)
	if !s.Learning("jan") {
		t.Fatal("a copy is needed to refresh the frozen state, but Learning is false")
	}
	before = rec.puts
	if err := s.Observe(ctx, "jan", newsletter("jan", newRecipient(99))); err != nil {
		t.Fatal(err)
	}
	if rec.puts != before+1 {
		t.Fatalf("frozen state not refreshed after half its TTL")
	}
}

// countingRecords counts calls to the real SharedKV under it.
type countingRecords struct {
	consent.SharedKV
	mu   sync.Mutex
	n    int
	puts int
}

func (c *countingRecords) count(put bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if put {
		c.puts++
	}
}

func (c *countingRecords) calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *countingRecords) Get(ctx context.Context, ns, key string) ([]byte, error) {
	c.count(false)
	return c.SharedKV.Get(ctx, ns, key)
}

func (c *countingRecords) Put(ctx context.Context, ns, key string, val []byte, ttl time.Duration) error {
	c.count(ns == Namespace)
	return c.SharedKV.Put(ctx, ns, key, val, ttl)
}

func (c *countingRecords) PutIfAbsent(ctx context.Context, ns, key string, val []byte, ttl time.Duration) (bool, error) {
	c.count(false)
	return c.SharedKV.PutIfAbsent(ctx, ns, key, val, ttl)
}

func slogTo(b *bytes.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// counterValue reads one counter of a registry, as a scrape would.
func counterValue(t *testing.T, reg *prometheus.Registry, name, result string) float64 {
	t.Helper()
	return testsupport.Gathered(t, reg, name, "result", result)
}

// Copies that reach one replica at the same time take turns: none is
// skipped, so the first two copies of a burst are enough to learn.
func TestStoreSameReplicaTakesTurns(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			ctx := context.Background()
			clk := storetest.NewClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
			cs := kind.open(t, clk)
			reg := prometheus.NewRegistry()
			s := newTestStore(t, cs.SharedKV(), clk, reg)
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := s.Observe(ctx, "jan", newsletter("jan", newRecipient(i))); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if busy := counterValue(t, reg, "pixelgate_learn_copies_total", "busy"); busy != 0 {
				t.Fatalf("%v copies skipped on one replica", busy)
			}
			b, err := cs.SharedKV().Get(ctx, Namespace, recordKey("jan"))
			if err != nil {
				t.Fatal(err)
			}
			st, err := s.learner.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if st.Copies() != 8 || st.Shapes().Len() != 5 {
				t.Fatalf("stored state saw %d copies and learnt %d shapes, want 8 and 5", st.Copies(), st.Shapes().Len())
			}
		})
	}
}

// A campaign of one copy lives a day, not a month; a second copy gives it
// the full TTL.
func TestStoreSingleCopyExpiresSooner(t *testing.T) {
	ctx := context.Background()
	clk := storetest.NewClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	cs := storeKinds[0].open(t, clk)
	s, err := NewStore(cs.SharedKV(), StoreOptions{Now: clk.Now, CacheTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"once", "twice", "twice"} {
		if err := s.Observe(ctx, c, newsletter(c, newRecipient(len(c)))); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(25 * time.Hour)
	if _, err := cs.SharedKV().Get(ctx, Namespace, recordKey("once")); !errors.Is(err, consent.ErrNotFound) {
		t.Errorf("a one-copy campaign's state outlived a day: %v", err)
	}
	if _, err := cs.SharedKV().Get(ctx, Namespace, recordKey("twice")); err != nil {
		t.Errorf("a two-copy campaign's state is gone after a day: %v", err)
	}
}

// New campaign states per day are bounded across replicas, so campaigns
// of one message each cannot fill the store.
func TestStoreCapsNewCampaignsPerDay(t *testing.T) {
	ctx := context.Background()
	clk := storetest.NewClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	cs := storeKinds[0].open(t, clk)
	reg := prometheus.NewRegistry()
	opts := StoreOptions{Now: clk.Now, NewPerDay: 2, Registerer: reg}
	r1, err := NewStore(cs.SharedKV(), opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Registerer = nil
	r2, err := NewStore(cs.SharedKV(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []string{"a", "b", "c"} {
		if err := []*Store{r1, r2, r1}[i].Observe(ctx, c, newsletter(c, newRecipient(1))); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := cs.SharedKV().List(ctx, Namespace)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("%d campaign states stored, cap 2", len(keys))
	}
	if got := counterValue(t, reg, "pixelgate_learn_copies_total", "capped"); got != 1 {
		t.Fatalf("capped count %v, want 1", got)
	}
	// Copies of campaigns already started are still learnt from.
	if err := r2.Observe(ctx, "a", newsletter("a", newRecipient(2))); err != nil {
		t.Fatal(err)
	}
	if sh, _ := r2.Shapes(ctx, "a"); sh.Len() == 0 {
		t.Fatal("a started campaign stopped learning at the cap")
	}
	clk.Advance(24 * time.Hour)
	if err := r1.Observe(ctx, "c", newsletter("c", newRecipient(1))); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.SharedKV().Get(ctx, Namespace, recordKey("c")); err != nil {
		t.Fatalf("the next day's allowance did not apply: %v", err)
	}
}

// While the store cannot be read, a copy's rewrite gets the campaign's last
// known shapes however old the cached read, and the strict rules for a
// campaign of which none are known (R12, fail closed); both are counted.
func TestStoreForCopyFailsClosed(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			ctx := context.Background()
			clk := storetest.NewClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
			cs := kind.open(t, clk)
			reg := prometheus.NewRegistry()
			s := newTestStore(t, cs.SharedKV(), clk, reg)
			for i := 1; i <= 2; i++ {
				if err := s.Observe(ctx, "jan", newsletter("jan", newRecipient(i))); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Observe(ctx, "feb", newsletter("feb", newRecipient(1))); err != nil {
				t.Fatal(err)
			}
			if m := s.ForCopy(ctx, "feb"); m != nil {
				t.Fatalf("one copy of feb: got %T, want nothing learnt", m)
			}
			learnt, ok := s.ForCopy(ctx, "jan").(*learn.Shapes)
			if !ok || learnt.Len() == 0 {
				t.Fatal("nothing learnt from two copies")
			}

			if err := cs.Close(); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Hour) // every cached read expired
			if _, err := s.Shapes(ctx, "jan"); err == nil {
				t.Fatal("a closed store still answers: the test shows no outage")
			}
			if got := s.ForCopy(ctx, "jan"); got != learn.Matcher(learnt) {
				t.Errorf("jan during the outage: got %T, want its last known shapes", got)
			}
			third := newsletter("jan", newRecipient(3))
			if got, _ := learntest.Cleaned(t, s.ForCopy(ctx, "jan").(*learn.Shapes).PerRecipient, learn.RemoveParts, third); strings.Contains(strings.Join(got, " "), newRecipient(3).Token) {
				t.Errorf("the last known shapes leave the token: %v", got)
			}
			for _, c := range []string{"feb", "mar"} { // nothing learnt yet; never seen
				if got := s.ForCopy(ctx, c); got != learn.Matcher(learn.Strict{}) {
					t.Errorf("%s during the outage: got %T, want Strict", c, got)
				}
			}
			for rules, want := range map[string]float64{"last-known": 2, "strict": 2} {
				if v := testsupport.Gathered(t, reg, "pixelgate_learn_store_unreadable_copies_total", "rules", rules); v != want {
					t.Errorf("copies under %s rules counted %v, want %v", rules, v, want)
				}
			}
		})
	}
}
