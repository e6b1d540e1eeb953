// Package dashtest assembles a real dashboard and API for tests: a real
// store (the embedded bbolt file, or a throw-away redis-server), a keyring in
// a temporary directory, the account service and the audit recorder, all on
// one injected clock, mounted on pixelgate's router and served on
// 127.0.0.1.
package dashtest

import (
	"context"
	"crypto/rand"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/consent/redisstore"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/consent/storetest"
	"github.com/pixelgate/pixelgate/internal/testsupport"
	"github.com/pixelgate/pixelgate/web"
	"github.com/pixelgate/pixelgate/web/admin"
	"github.com/pixelgate/pixelgate/web/api"
	"github.com/pixelgate/pixelgate/web/auditlog"
	"github.com/pixelgate/pixelgate/web/auth"
	"github.com/pixelgate/pixelgate/web/static"
	"github.com/pixelgate/pixelgate/web/webdeps"
)

// Backend selects the store.
type Backend string

const (
	Bolt  Backend = "bolt"
	Redis Backend = "redis"
)

// Backends are the stores HTTP tests run against.
var Backends = []Backend{Bolt, Redis}

// Env is one running dashboard.
type Env struct {
	Store   consent.Store
	Keyring *consent.Keyring
	Users   *auth.Service
	Audit   *auditlog.Recorder
	Clock   *storetest.Clock
	// SIEM receives the audit entries as JSON lines.
	SIEM *SyncBuffer
	// Server serves the router; URL is its base.
	Server *httptest.Server
	URL    string
	// BoltPath is the store file (Bolt backend), for tests that edit it.
	BoltPath string
	// Redis is the server of the Redis backend.
	Redis *redistest.Server
	// Metrics is the registry the dashboard, API and audit recorder use.
	Metrics *prometheus.Registry

	storeOpts consent.StoreOptions
	swap      *swapStore
}

// swapStore lets ReopenBolt replace the store under the running handlers;
// SharedKV views are looked up on every call for the same reason. Swaps happen
// only between requests.
type swapStore struct{ consent.Store }

func (s *swapStore) SharedKV() consent.SharedKV { return swapRecords{s} }

type swapRecords struct{ s *swapStore }

func (r swapRecords) Get(ctx context.Context, ns, key string) ([]byte, error) {
	return r.s.Store.SharedKV().Get(ctx, ns, key)
}

func (r swapRecords) Put(ctx context.Context, ns, key string, val []byte, ttl time.Duration) error {
	return r.s.Store.SharedKV().Put(ctx, ns, key, val, ttl)
}

func (r swapRecords) PutIfAbsent(ctx context.Context, ns, key string, val []byte, ttl time.Duration) (bool, error) {
	return r.s.Store.SharedKV().PutIfAbsent(ctx, ns, key, val, ttl)
}

func (r swapRecords) Delete(ctx context.Context, ns, key string) error {
	return r.s.Store.SharedKV().Delete(ctx, ns, key)
}

func (r swapRecords) List(ctx context.Context, ns string) ([]string, error) {
	return r.s.Store.SharedKV().List(ctx, ns)
}

func (r swapRecords) Incr(ctx context.Context, ns, key string, delta int64, ttl time.Duration) (int64, error) {
	return r.s.Store.SharedKV().Incr(ctx, ns, key, delta, ttl)
}

// SyncBuffer is testsupport.SyncBuffer, kept under this name for the
// dashboard and consent-page tests that already say dashtest.SyncBuffer.
type SyncBuffer = testsupport.SyncBuffer

// FastHash keeps argon2id but at a cost that lets tests log in often.
var FastHash = auth.HashParams{MemoryKiB: 1024, Time: 1, Threads: 1}

// New starts a dashboard on backend b. Extra handlers (pixel endpoint,
// consent pages) may be given in h; Admin, API and Static are filled in,
// and h.Ready is also the readiness the settings page shows admins.
func New(t testing.TB, b Backend, h web.Handlers) *Env {
	t.Helper()
	e := &Env{Clock: storetest.NewClock(time.Now().UTC().Truncate(time.Second)), SIEM: &SyncBuffer{}, swap: &swapStore{},
		Metrics: prometheus.NewRegistry()}
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: filepath.Join(t.TempDir(), "keys"), Now: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.Keyring = kr
	e.storeOpts = consent.StoreOptions{Now: e.Clock.Now, Audit: kr.AuditChain()}
	switch b {
	case Bolt:
		e.BoltPath = filepath.Join(t.TempDir(), "pixelgate.db")
		e.openBolt(t)
	case Redis:
		e.Redis = redistest.Start(t)
		e.openRedis(t)
	default:
		t.Fatalf("unknown backend %q", b)
	}
	e.start(t, h)
	return e
}

// Replica starts a second dashboard, as another pixelgate replica would
// run it: its own store client, account service, recorder and listener,
// sharing only the Redis server, the secrets and the clock.
func (e *Env) Replica(t testing.TB) *Env {
	t.Helper()
	if e.Redis == nil {
		t.Fatal("replicas share a Redis store; start the first one with Backend Redis")
	}
	r := &Env{Clock: e.Clock, Keyring: e.Keyring, Redis: e.Redis, SIEM: &SyncBuffer{}, swap: &swapStore{},
		Metrics: prometheus.NewRegistry(), storeOpts: e.storeOpts}
	r.openRedis(t)
	r.start(t, web.Handlers{})
	return r
}

func (e *Env) openRedis(t testing.TB) {
	t.Helper()
	st, err := redisstore.Open(context.Background(), e.Redis.URL(), redisstore.Options{StoreOptions: e.storeOpts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e.swap.Store = st
}

// start builds the account service, recorder and handlers over e's store
// and serves them on 127.0.0.1.
func (e *Env) start(t testing.TB, h web.Handlers) {
	t.Helper()
	e.Store = e.swap
	var err error
	e.Users, err = auth.New(e.Store.SharedKV(), auth.Config{Hash: FastHash, ThrottleKey: e.Keyring.ThrottleKey()}, e.Clock.Now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e.Audit = auditlog.New(e.Store, e.SIEM, nil, e.Metrics)

	srv := httptest.NewUnstartedServer(nil)
	e.URL = "http://" + srv.Listener.Addr().String()
	deps := webdeps.Deps{Store: e.Store, Keyring: e.Keyring, Users: e.Users, Audit: e.Audit, Now: e.Clock.Now, Registerer: e.Metrics}
	adm, err := admin.New(admin.Config{PublicURL: e.URL, Ready: h.Ready}, deps)
	if err != nil {
		t.Fatal(err)
	}
	ap, err := api.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	h.Admin, h.API, h.Static = adm, ap, static.Handler()
	srv.Config.Handler = web.NewRouter(h)
	srv.Start()
	t.Cleanup(srv.Close)
	e.Server = srv
}

func (e *Env) openBolt(t testing.TB) {
	st, err := boltstore.Open(e.BoltPath, boltstore.Options{StoreOptions: e.storeOpts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e.swap.Store = st
}

// ReopenBolt closes the store file, runs edit while nothing holds it (an
// attacker with disk access), and opens it again under the running server.
func (e *Env) ReopenBolt(t testing.TB, edit func(path string)) {
	t.Helper()
	if err := e.swap.Store.Close(); err != nil {
		t.Fatal(err)
	}
	edit(e.BoltPath)
	e.openBolt(t)
}

var auditAll = consent.AuditQuery{Limit: 100000}

// Counter is the value of counter name with the given label value (""
// for a counter without labels), 0 when it was never counted.
func (e *Env) Counter(t testing.TB, name, label string) float64 {
	t.Helper()
	fams, err := e.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if label == "" || len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
