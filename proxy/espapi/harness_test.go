package espapi

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/throttle"
	"github.com/pixelgate/pixelgate/internal/testsupport"
	"github.com/pixelgate/pixelgate/mailrewrite"
	"github.com/pixelgate/pixelgate/proxy"
	"github.com/pixelgate/pixelgate/proxy/upstream"
)

const testPublicURL = "https://track.pixelgate.test"

// harness is the front wired to real parts: the embedded store, the
// keyring, the rewrite engine and a relay, serving on loopback, with its
// upstreams pointed at upstreamURL.
type harness struct {
	t       testing.TB
	srv     *Server
	url     string
	store   consent.Store
	kr      *consent.Keyring
	relay   *proxy.Relay
	metrics *Metrics
}

type harnessOption func(*Config)

// storeOpener opens a replica's store with its keyring.
type storeOpener func(t testing.TB, kr *consent.Keyring) consent.Store

func newHarness(t testing.TB, upstreamURL string, opts ...harnessOption) *harness {
	t.Helper()
	return newReplica(t, upstreamURL, t.TempDir(), testsupport.BoltStore, opts...)
}

// newReplica is one replica of the front: its keys in keyDir (replicas
// share them) and its store from open.
func newReplica(t testing.TB, upstreamURL, keyDir string, open storeOpener, opts ...harnessOption) *harness {
	t.Helper()
	dir := t.TempDir()
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: keyDir})
	if err != nil {
		t.Fatal(err)
	}
	st := open(t, kr)
	t.Cleanup(func() { st.Close() })
	rw, err := mailrewrite.New(mailrewrite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := upstream.NewOutbox(filepath.Join(dir, "outbox"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	relay, err := proxy.NewRelay(proxy.Config{
		Store:        st,
		RecipientKey: kr.RecipientKey,
		Rewrite:      proxy.MailRewrite(rw),
		URLs:         proxy.URLFactoryFor(kr, testPublicURL),
		Delivery:     out,
		Metrics:      proxy.NewRelayMetrics(prometheus.NewRegistry()),
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		relay.Shutdown(ctx)
	})
	ups, err := ParseUpstreams("sendgrid=" + upstreamURL + ",mailgun=" + upstreamURL + ",postmark=" + upstreamURL)
	if err != nil {
		t.Fatal(err)
	}
	creds := proxy.NewCredentials(st.SharedKV(), rand.Reader)
	if creds.Throttle, err = proxy.NewCredentialsThrottle(st.SharedKV(), kr.ThrottleKey(), throttle.Config{}, time.Now); err != nil {
		t.Fatal(err)
	}
	metrics := NewMetrics(prometheus.NewRegistry())
	cfg := Config{
		Relay:           relay,
		Upstreams:       ups,
		RelayNetworks:   []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Credentials:     creds,
		UpstreamTimeout: 5 * time.Second,
		Rand:            rand.Reader,
		Metrics:         metrics,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &harness{t: t, srv: srv, url: hs.URL, store: st, kr: kr, relay: relay, metrics: metrics}
}

// grant records consent for addr as the consent page would.
func (h *harness) grant(addr string) {
	h.t.Helper()
	k, err := h.kr.RecipientKey(addr)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.store.Grant(context.Background(), k, consent.Evidence{Source: consent.SourceAdmin, Actor: "test"}); err != nil {
		h.t.Fatal(err)
	}
}

// deadUpstream is the URL of a loopback port nothing listens on: an ESP
// that cannot be reached.
func deadUpstream(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}
