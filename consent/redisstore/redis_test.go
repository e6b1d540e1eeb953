package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/consent/storetest"
)

// These tests cover what the contract cannot see: how the data sits in
// Redis (keys, TTLs), several replicas on one Redis, and Redis going away.

type fixture struct {
	t     *testing.T
	ctx   context.Context
	srv   *redistest.Server
	raw   *redis.Client // inspects and tampers with what the store wrote
	clock *storetest.Clock
	st    *Store
}

func newFixture(t *testing.T, start time.Time) *fixture {
	srv := redistest.Start(t)
	f := &fixture{t: t, ctx: t.Context(), srv: srv, clock: storetest.NewClock(start)}
	f.raw = redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { f.raw.Close() })
	f.st = f.open()
	return f
}

// open connects another store (a replica) to the same Redis and clock.
func (f *fixture) open() *Store {
	st, err := Open(f.ctx, f.srv.URL(), Options{StoreOptions: storetest.Options(f.clock)})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { st.Close() })
	return st
}

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// pttl is the Redis TTL of key: -1 none, -2 no key.
func (f *fixture) pttl(key string) time.Duration {
	f.t.Helper()
	d, err := f.raw.PTTL(f.ctx, key).Result()
	f.must(err)
	return d
}

func testKey(i int) consent.Key {
	var k consent.Key
	k[0], k[1], k[2] = 0x5e, byte(i>>8), byte(i)
	return k
}

var page = consent.Evidence{Source: consent.SourceConsentPage, PolicyVersion: "v1"}

// near reports whether a Redis TTL is within a minute of want: the test's
// own run time is the only slack.
func near(got, want time.Duration) bool {
	return (got - want).Abs() < time.Minute
}

// TestRedisTTLsFollowRetention: the data expires in Redis itself, by TTLs
// computed from the store's clock (R9), even where nobody runs Purge.
func TestRedisTTLsFollowRetention(t *testing.T) {
	f := newFixture(t, time.Now().UTC())
	ret := consent.DefaultRetention()
	k := testKey(1)
	r := recipient(k)
	_, err := f.st.Grant(f.ctx, k, page)
	f.must(err)
	if f.pttl(r.state()) != -1 || f.pttl(r.history()) != -1 {
		t.Errorf("granted consent must be kept while it lasts: TTLs %v %v", f.pttl(r.state()), f.pttl(r.history()))
	}
	_, err = f.st.RecordOpen(f.ctx, consent.Open{Key: k, Campaign: "c1"})
	f.must(err)
	c := campaign("c1")
	if d := f.pttl(r.opens(c)); !near(d, ret.Opens) {
		t.Errorf("open record TTL %v, want %v", d, ret.Opens)
	}
	hour := f.clock.Now().Truncate(time.Hour)
	if d := f.pttl(c.hour(hour)); !near(d, time.Until(hour.Add(ret.Opens))) {
		t.Errorf("hourly counter TTL %v, want until %v", d, hour.Add(ret.Opens))
	}
	if d := f.pttl(c.meta()); d != -1 {
		t.Errorf("anonymous campaign totals have TTL %v, want none", d)
	}

	// A withdrawal collected elsewhere a year ago (an import): consent
	// ended then, so 4 of the 5 years are left.
	_, err = f.st.Withdraw(f.ctx, k, consent.Evidence{Source: consent.SourceImport, At: f.clock.Now().Add(-365 * 24 * time.Hour)})
	f.must(err)
	want := ret.Evidence - 365*24*time.Hour
	if d := f.pttl(r.state()); !near(d, want) {
		t.Errorf("withdrawn state TTL %v, want %v", d, want)
	}
	if d := f.pttl(r.history()); !near(d, want) {
		t.Errorf("evidence TTL %v, want %v", d, want)
	}

	f.clock.Set(time.Now().UTC())
	f.must(f.st.MarkAsked(f.ctx, testKey(2)))
	if d := f.pttl(recipient(testKey(2)).asked()); !near(d, ret.AskQuiet) {
		t.Errorf("request marker TTL %v, want %v", d, ret.AskQuiet)
	}
	day := consent.Day(f.clock.Now())
	f.must(f.st.RecordDeliverabilityOpen(f.ctx, testKey(3), f.clock.Now()))
	if d := f.pttl(recipient(testKey(3)).deliverability()); !near(d, time.Until(day.Add(ret.Deliverability))) {
		t.Errorf("deliverability TTL %v, want until %v", d, day.Add(ret.Deliverability))
	}
}

// TestOpenNeverExtendsRetention (R7): later opens leave the expiry where
// the first one put it, both Redis' TTL and the store-clock expiry index,
// and an open touches no consent key.
func TestOpenNeverExtendsRetention(t *testing.T) {
	f := newFixture(t, time.Now().UTC())
	ret := consent.DefaultRetention()
	k := testKey(1)
	r, c := recipient(k), campaign("c1")
	_, err := f.st.Grant(f.ctx, k, page)
	f.must(err)
	_, err = f.st.Refuse(f.ctx, testKey(2), page)
	f.must(err)
	refusedTTL := f.pttl(recipient(testKey(2)).state())

	// The first open happened 30 days ago (its hit is recorded at its own
	// time), so 366 of its 396 days are left.
	firstAt := f.clock.Now().Add(-30 * 24 * time.Hour)
	_, err = f.st.RecordOpen(f.ctx, consent.Open{Key: k, Campaign: "c1", At: firstAt})
	f.must(err)
	first := f.pttl(r.opens(c))
	if want := ret.Opens - 30*24*time.Hour; !near(first, want) {
		t.Fatalf("open record TTL %v, want %v", first, want)
	}

	// Now the same recipient opens again and clicks, and a refused
	// recipient's old email is opened.
	res, err := f.st.RecordOpen(f.ctx, consent.Open{Key: k, Campaign: "c1"})
	f.must(err)
	if res != consent.Repeat {
		t.Fatalf("second open: %v", res)
	}
	_, err = f.st.RecordClick(f.ctx, consent.Click{Key: k, Campaign: "c1"})
	f.must(err)
	res, err = f.st.RecordOpen(f.ctx, consent.Open{Key: testKey(2), Campaign: "c1"})
	f.must(err)
	if res != consent.NotRecorded {
		t.Fatalf("open by a refused recipient: %v", res)
	}
	if d := f.pttl(r.opens(c)); d > first {
		t.Errorf("a later open extended the open record: TTL %v after, %v before", d, first)
	}
	score, err := f.raw.ZScore(f.ctx, r.expiry(), openMember(c)).Result()
	f.must(err)
	if want := firstAt.Add(ret.Opens).UnixMilli(); int64(score) != want {
		t.Errorf("expiry index has the open record expiring at %v, want %v (first open + retention)", fromMS(int64(score)), fromMS(want))
	}
	if f.pttl(r.state()) != -1 || f.pttl(r.history()) != -1 {
		t.Errorf("an open put a TTL on granted consent: %v %v", f.pttl(r.state()), f.pttl(r.history()))
	}
	if d := f.pttl(recipient(testKey(2)).state()); d > refusedTTL {
		t.Errorf("an open attempt extended the refused state: %v after, %v before", d, refusedTTL)
	}
	n, err := f.raw.Exists(f.ctx, recipient(testKey(2)).opens(c)).Result()
	f.must(err)
	if n != 0 {
		t.Error("an open without consent wrote an open record")
	}
}

// TestKeysHoldNoAddress: whatever ids callers use, no key carries an
// address or a campaign id in clear (R6, R8), and every key is the store's.
func TestKeysHoldNoAddress(t *testing.T) {
	f := newFixture(t, storetest.Start())
	const camp = "spring-sale-for-alice@example.com"
	k := testKey(1)
	_, err := f.st.Grant(f.ctx, k, page)
	f.must(err)
	f.must(f.st.RecordSend(f.ctx, consent.Send{Campaign: camp, CampaignName: "Spring", Granted: true}))
	_, err = f.st.RecordOpen(f.ctx, consent.Open{Key: k, Campaign: camp})
	f.must(err)
	_, err = f.st.RecordOpen(f.ctx, consent.Open{Key: k, Campaign: camp, Machine: true})
	f.must(err)
	_, err = f.st.RecordClick(f.ctx, consent.Click{Key: k, Campaign: camp})
	f.must(err)
	f.must(f.st.RecordDeliverabilityOpen(f.ctx, k, f.clock.Now()))
	f.must(f.st.MarkAsked(f.ctx, testKey(2)))
	_, err = f.st.AppendAudit(f.ctx, consent.AuditEntry{Actor: "admin:a", Action: "dsar.export", Target: k.String(), Result: "ok"})
	f.must(err)
	f.must(f.st.SharedKV().Put(f.ctx, "sessions", "s1", []byte("x"), time.Hour))
	f.must(f.st.CheckFingerprint(f.ctx, "fp"))

	keys, err := f.raw.Keys(f.ctx, "*").Result()
	f.must(err)
	if len(keys) < 10 {
		t.Fatalf("only %d keys written: %v", len(keys), keys)
	}
	for _, key := range keys {
		if !strings.HasPrefix(key, "pg:") {
			t.Errorf("key %q is outside the pg: namespace", key)
		}
		if strings.Contains(key, "@") || strings.Contains(key, "alice") || strings.Contains(key, "spring") {
			t.Errorf("key %q holds an address or a campaign id in clear", key)
		}
	}
}

// TestPurgeAfterRedisExpired: in production Redis' TTL removes expired
// consent before Purge runs; Purge still corrects the per-state totals.
func TestPurgeAfterRedisExpired(t *testing.T) {
	f := newFixture(t, storetest.Start())
	k := testKey(1)
	_, err := f.st.Refuse(f.ctx, k, page)
	f.must(err)
	// What Redis' own expiry does when the time comes.
	f.must(f.raw.Del(f.ctx, recipient(k).state(), recipient(k).history()).Err())
	f.clock.Advance(consent.DefaultRetention().Evidence + time.Hour)
	f.must(f.st.Purge(f.ctx))
	cs, err := f.st.ConsentStats(f.ctx, storetest.Start(), f.clock.Now())
	f.must(err)
	if cs.Current[consent.Refused] != 0 {
		t.Errorf("expired refusal still counted: %v", cs.Current)
	}
	if n, _ := f.raw.ZCard(f.ctx, keyExpiryTags).Result(); n != 0 {
		t.Errorf("expiry index keeps %d tags with nothing left to expire", n)
	}
}

// TestAuditTamperDetected: changing, removing or moving an entry in Redis
// is found and located (R10).
func TestAuditTamperDetected(t *testing.T) {
	cases := []struct {
		name    string
		tamper  func(f *fixture, entries []redis.Z)
		problem string
		seq     uint64
	}{
		{"changed", func(f *fixture, entries []redis.Z) {
			var e consent.AuditEntry
			f.must(json.Unmarshal([]byte(entries[2].Member.(string)), &e))
			e.Actor = "admin:someone-else"
			b, _ := json.Marshal(e)
			f.must(f.raw.ZRem(f.ctx, keyAuditLog, entries[2].Member).Err())
			f.must(f.raw.ZAdd(f.ctx, keyAuditLog, redis.Z{Score: entries[2].Score, Member: string(b)}).Err())
		}, "changed", 3},
		{"removed", func(f *fixture, entries []redis.Z) {
			f.must(f.raw.ZRem(f.ctx, keyAuditLog, entries[1].Member).Err())
		}, "removed", 2},
		{"removed last", func(f *fixture, entries []redis.Z) {
			f.must(f.raw.ZRem(f.ctx, keyAuditLog, entries[4].Member).Err())
		}, "removed", 5},
		{"reordered", func(f *fixture, entries []redis.Z) {
			f.must(f.raw.ZAdd(f.ctx, keyAuditLog,
				redis.Z{Score: entries[2].Score, Member: entries[1].Member},
				redis.Z{Score: entries[1].Score, Member: entries[2].Member}).Err())
		}, "reordered", 2},
		{"garbage", func(f *fixture, entries []redis.Z) {
			f.must(f.raw.ZRem(f.ctx, keyAuditLog, entries[3].Member).Err())
			f.must(f.raw.ZAdd(f.ctx, keyAuditLog, redis.Z{Score: entries[3].Score, Member: "not json"}).Err())
		}, "changed", 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, storetest.Start())
			for i := range 5 {
				_, err := f.st.AppendAudit(f.ctx, consent.AuditEntry{Actor: "admin:a", Action: "consent.view", Target: testKey(i).String(), Result: "ok"})
				f.must(err)
			}
			entries, err := f.raw.ZRangeWithScores(f.ctx, keyAuditLog, 0, -1).Result()
			f.must(err)
			c.tamper(f, entries)
			v, err := f.st.VerifyAudit(f.ctx)
			f.must(err)
			if v.OK || v.Problem != c.problem || v.BadSeq != c.seq {
				t.Errorf("verify after %s: %+v, want %s at seq %d", c.name, v, c.problem, c.seq)
			}
		})
	}
}

// TestReplicasShareOneRedis: several stores (replicas, each with its own
// connection pool) grant, withdraw, open and audit at once on one Redis;
// the audit chain stays one verifiable sequence and the totals add up.
func TestReplicasShareOneRedis(t *testing.T) {
	f := newFixture(t, storetest.Start())
	const (
		replicas = 4
		workers  = 8 // per replica
		ops      = 40
		nkeys    = 8
	)
	stores := []*Store{f.st}
	for range replicas - 1 {
		stores = append(stores, f.open())
	}
	var (
		mu                     sync.Mutex
		audits, opens, uniques int
		decisions              = map[consent.Key]int{}
	)
	var wg sync.WaitGroup
	errs := make(chan error, replicas*workers)
	for r, st := range stores {
		for w := range workers {
			wg.Go(func() {
				for i := range ops {
					k := testKey((r*workers + w + i) % nkeys)
					var err error
					switch i % 5 {
					case 0:
						_, err = st.Grant(f.ctx, k, page)
					case 1:
						_, err = st.Withdraw(f.ctx, k, page)
					case 2:
						_, err = st.AppendAudit(f.ctx, consent.AuditEntry{Actor: fmt.Sprintf("admin:r%d", r), Action: "consent.view", Target: k.String(), Result: "ok"})
					default:
						var res consent.OpenResult
						res, err = st.RecordOpen(f.ctx, consent.Open{Key: k, Campaign: "shared"})
						mu.Lock()
						if res != consent.NotRecorded {
							opens++
						}
						if res == consent.Recorded {
							uniques++
						}
						mu.Unlock()
					}
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					switch i % 5 {
					case 0, 1:
						decisions[k]++
					case 2:
						audits++
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	v, err := f.st.VerifyAudit(f.ctx)
	f.must(err)
	if !v.OK || v.Checked != audits {
		t.Errorf("audit chain after %d concurrent appends from %d replicas: %+v", audits, replicas, v)
	}
	all, err := f.st.ReadAudit(f.ctx, consent.AuditQuery{Limit: audits + 10})
	f.must(err)
	for i, e := range all {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d: the chain must be gapless", i, e.Seq)
		}
	}
	c, err := f.st.Campaign(f.ctx, "shared")
	if err != nil && opens > 0 {
		t.Fatal(err)
	}
	if c.Opens != int64(opens) || c.UniqueOpens != int64(uniques) {
		t.Errorf("campaign counts %d opens / %d unique; calls reported %d / %d", c.Opens, c.UniqueOpens, opens, uniques)
	}
	var held int64
	cs, err := f.st.ConsentStats(f.ctx, storetest.Start(), storetest.Start().Add(time.Hour))
	f.must(err)
	for k, n := range decisions {
		h, err := f.st.History(f.ctx, k)
		f.must(err)
		if len(h) != n {
			t.Errorf("key %s: %d events for %d decisions", k, len(h), n)
		}
		x, err := f.st.Export(f.ctx, k)
		f.must(err)
		for _, o := range x.Opens {
			held += o.Opens
		}
		st, err := f.st.Lookup(f.ctx, []consent.Key{k})
		f.must(err)
		if st[0].State != h[len(h)-1].State {
			t.Errorf("key %s: state %v, last event %v", k, st[0].State, h[len(h)-1].State)
		}
	}
	if held != int64(opens) {
		t.Errorf("exports hold %d opens, %d were recorded", held, opens)
	}
	if got := cs.Current[consent.Granted] + cs.Current[consent.Withdrawn]; got != int64(len(decisions)) {
		t.Errorf("current totals %v for %d decided keys", cs.Current, len(decisions))
	}
}

// TestUnavailableFailsClosed: with Redis gone every call returns an error
// the relay recognises as ErrUnavailable, within the configured timeout.
func TestUnavailableFailsClosed(t *testing.T) {
	srv := redistest.Start(t)
	clock := storetest.NewClock(storetest.Start())
	st, err := Open(t.Context(), srv.URL(), Options{StoreOptions: storetest.Options(clock), Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k := testKey(1)
	if _, err := st.Grant(t.Context(), k, page); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Lookup(t.Context(), []consent.Key{k}); !errors.Is(err, consent.ErrUnavailable) {
		t.Errorf("Lookup with Redis down: %v, want ErrUnavailable", err)
	}
	if res, err := st.RecordOpen(t.Context(), consent.Open{Key: k, Campaign: "c"}); !errors.Is(err, consent.ErrUnavailable) || res != consent.NotRecorded {
		t.Errorf("RecordOpen with Redis down: %v %v, want NotRecorded and ErrUnavailable", res, err)
	}
	if _, err := Open(t.Context(), srv.URL(), Options{StoreOptions: storetest.Options(clock), Timeout: 300 * time.Millisecond}); !errors.Is(err, consent.ErrUnavailable) {
		t.Errorf("Open with Redis down: %v, want ErrUnavailable", err)
	}
}

// TestClusterSeedList: the bare "host:port,host:port" form reaches a
// Cluster (operator guide §6, --redis-url).
func TestClusterSeedList(t *testing.T) {
	srv := redistest.StartCluster(t)
	clock := storetest.NewClock(storetest.Start())
	st, err := Open(t.Context(), srv.Addr()+","+srv.Addr(), Options{StoreOptions: storetest.Options(clock)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !st.cluster {
		t.Fatal("seed list not opened as a Cluster")
	}
	k := testKey(1)
	if _, err := st.Grant(t.Context(), k, page); err != nil {
		t.Fatal(err)
	}
	if res, err := st.RecordOpen(t.Context(), consent.Open{Key: k, Campaign: "c"}); err != nil || res != consent.Recorded {
		t.Fatalf("RecordOpen on Cluster: %v %v", res, err)
	}
}

// TestSentinelForm: redis-sentinel:// finds the master through a real
// Sentinel and the store works on it.
func TestSentinelForm(t *testing.T) {
	master := redistest.Start(t)
	sen := redistest.StartSentinel(t, master, "pgmaster")
	clock := storetest.NewClock(storetest.Start())
	st, err := Open(t.Context(), "redis-sentinel://"+sen.Addr()+"/pgmaster/0", Options{StoreOptions: storetest.Options(clock)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k := testKey(1)
	if _, err := st.Grant(t.Context(), k, page); err != nil {
		t.Fatal(err)
	}
	if res, err := st.RecordOpen(t.Context(), consent.Open{Key: k, Campaign: "c"}); err != nil || res != consent.Recorded {
		t.Fatalf("RecordOpen through Sentinel: %v %v", res, err)
	}
	// The data is on the master Sentinel named.
	v, err := master.Query("GET", recipient(k).state())
	if err != nil || !strings.HasPrefix(v, "1|") {
		t.Fatalf("state on the master: %q %v", v, err)
	}
}
