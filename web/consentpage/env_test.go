package consentpage

import (
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/consent/redisstore"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/web"
	"github.com/pixelgate/pixelgate/web/dashtest"
	"github.com/pixelgate/pixelgate/web/static"
	"github.com/prometheus/client_golang/prometheus"
)

// storeKinds are the two real stores every HTTP test runs against: the
// embedded one and Redis (a real redis-server).
var storeKinds = []struct {
	name string
	open func(t *testing.T, kr *consent.Keyring) consent.Store
}{
	{"bolt", func(t *testing.T, kr *consent.Keyring) consent.Store {
		st, err := boltstore.Open(filepath.Join(t.TempDir(), "pixelgate.db"), boltstore.Options{StoreOptions: consent.StoreOptions{Audit: kr.AuditChain()}})
		if err != nil {
			t.Fatalf("open bolt store: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
	{"redis", func(t *testing.T, kr *consent.Keyring) consent.Store {
		srv := redistest.Start(t)
		st, err := redisstore.Open(t.Context(), srv.URL(), redisstore.Options{StoreOptions: consent.StoreOptions{Audit: kr.AuditChain()}})
		if err != nil {
			t.Fatalf("open redis store: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
}

// env is a consent page served by a real HTTP server on 127.0.0.1, with the
// static stylesheet mounted as in pixelgate serve.
type env struct {
	st   consent.Store
	kr   *consent.Keyring
	srv  *httptest.Server
	logs *dashtest.SyncBuffer
}

func newEnv(t *testing.T, open func(*testing.T, *consent.Keyring) consent.Store) *env {
	t.Helper()
	return newEnvTexts(t, open, nil)
}

// newEnvTexts is newEnv showing texts (nil: the embedded ones).
func newEnvTexts(t *testing.T, open func(*testing.T, *consent.Keyring) consent.Store, texts *Texts) *env {
	t.Helper()
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{kr: kr, st: open(t, kr), logs: &dashtest.SyncBuffer{}}
	h, err := New(Config{
		Texts:      texts,
		Logger:     slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer: prometheus.NewRegistry(),
	}, e.st, kr)
	if err != nil {
		t.Fatal(err)
	}
	// The production router, as pixelgate serve mounts it.
	e.srv = httptest.NewServer(web.NewRouter(web.Handlers{Consent: h, Static: static.Handler()}))
	t.Cleanup(e.srv.Close)
	return e
}

// pageToken seals a consent-page token for addr as the relay would.
func (e *env) pageToken(t *testing.T, addr string) (string, consent.Key) {
	t.Helper()
	tok, err := SealPageToken(e.kr, addr, "spring-sale", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.kr.RecipientKey(addr)
	if err != nil {
		t.Fatal(err)
	}
	return tok, k
}

func (e *env) state(t *testing.T, k consent.Key) consent.State {
	t.Helper()
	sts, err := e.st.Lookup(t.Context(), []consent.Key{k})
	if err != nil {
		t.Fatal(err)
	}
	return sts[0].State
}
