package pixel

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// onlyLoopback127001 is the test guard: it lets the forwarder reach the
// test's own servers on 127.0.0.1 and nothing else, so the forwarding path
// itself can be exercised without ever touching another address.
func onlyLoopback127001(a netip.Addr) bool { return a.Unmap() == netip.MustParseAddr("127.0.0.1") }

// hitServer counts requests and keeps the last one's headers.
type hitServer struct {
	*httptest.Server
	hits    atomic.Int64
	headers atomic.Value
}

func newHitServer(t *testing.T, h http.HandlerFunc) *hitServer {
	t.Helper()
	hs := &hitServer{}
	hs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hs.hits.Add(1)
		hs.headers.Store(r.Header.Clone())
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/gif")
		_, _ = w.Write(transparentGIF)
	}))
	t.Cleanup(hs.Close)
	return hs
}

func newTestForwarder(t *testing.T, cfg ForwardConfig) *Forwarder {
	t.Helper()
	f, err := NewForwarder(cfg, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func closeForwarder(t *testing.T, f *Forwarder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestForwardReachesAllowedTargetWithoutClientHeaders(t *testing.T) {
	srv := newHitServer(t, nil)
	f := newTestForwarder(t, ForwardConfig{Allow: onlyLoopback127001})
	if !f.Forward(srv.URL + "/open/abc.gif?u=1") {
		t.Fatal("Forward did not start")
	}
	closeForwarder(t, f)
	if srv.hits.Load() != 1 {
		t.Fatalf("upstream got %d hits, want 1", srv.hits.Load())
	}
	h := srv.headers.Load().(http.Header)
	if h.Get("User-Agent") != "pixelgate-forwarder" {
		t.Errorf("User-Agent %q: the recipient's client must not be passed on", h.Get("User-Agent"))
	}
	for _, name := range []string{"Cookie", "X-Forwarded-For", "Forwarded", "Referer", "Accept-Language"} {
		if h.Get(name) != "" {
			t.Errorf("forwarded request carries %s", name)
		}
	}
	if got := counterValue(t, f.results.WithLabelValues(forwardOK)); got != 1 {
		t.Errorf("ok count %v, want 1", got)
	}
}

// The real guard must refuse loopback targets, whether named by address or
// by a host name that resolves to loopback (checked at dial time, so DNS
// rebinding cannot get around it).
func TestForwardDefaultGuardRefusesLoopback(t *testing.T) {
	srv := newHitServer(t, nil)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	f := newTestForwarder(t, ForwardConfig{})
	for _, u := range []string{
		srv.URL + "/p.gif",
		"http://localhost:" + port + "/p.gif",
		"http://[::ffff:127.0.0.1]:" + port + "/p.gif",
	} {
		if !f.Forward(u) {
			t.Fatalf("Forward(%s) not started", u)
		}
	}
	closeForwarder(t, f)
	if srv.hits.Load() != 0 {
		t.Fatalf("loopback server got %d hits through the default guard", srv.hits.Load())
	}
	if got := counterValue(t, f.results.WithLabelValues(forwardRefused)); got != 3 {
		t.Errorf("refused count %v, want 3", got)
	}
}

func TestForwardRedirectsAreRechecked(t *testing.T) {
	// The second target listens on 127.0.0.2, which the test guard does
	// not allow: it stands for a private address reached by redirect.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	inner := &hitServer{}
	inner.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner.hits.Add(1) }))
	inner.Listener.Close()
	inner.Listener = ln
	inner.Start()
	defer inner.Close()

	toPrivate := newHitServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner.URL+"/p.gif", http.StatusFound)
	})
	toFTP := newHitServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://127.0.0.1/p.gif", http.StatusFound)
	})
	var loop *hitServer
	loop = newHitServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, loop.URL+"/again", http.StatusFound)
	})
	okChain := newHitServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/first" {
			http.Redirect(w, r, "/final.gif", http.StatusFound)
		}
	})

	f := newTestForwarder(t, ForwardConfig{Allow: onlyLoopback127001, MaxRedirects: 2})
	for _, u := range []string{toPrivate.URL + "/r", toFTP.URL + "/r", loop.URL + "/r", okChain.URL + "/first"} {
		if !f.Forward(u) {
			t.Fatalf("Forward(%s) not started", u)
		}
	}
	closeForwarder(t, f)
	if inner.hits.Load() != 0 {
		t.Error("redirect reached a target the guard does not allow")
	}
	if got := counterValue(t, f.results.WithLabelValues(forwardRefused)); got != 2 {
		t.Errorf("refused %v, want 2 (private redirect, ftp redirect)", got)
	}
	if got := counterValue(t, f.results.WithLabelValues(forwardRedirect)); got != 1 {
		t.Errorf("too-many-redirects %v, want 1", got)
	}
	if loop.hits.Load() != 3 {
		t.Errorf("redirect loop followed %d times, want 3 (first + 2 redirects)", loop.hits.Load())
	}
	if got := counterValue(t, f.results.WithLabelValues(forwardOK)); got != 1 || okChain.hits.Load() != 2 {
		t.Errorf("allowed redirect chain: ok=%v hits=%d, want 1 and 2", got, okChain.hits.Load())
	}
}

func TestForwardRejectsBadURLs(t *testing.T) {
	f := newTestForwarder(t, ForwardConfig{Allow: onlyLoopback127001})
	defer closeForwarder(t, f)
	for _, u := range []string{"", "ftp://127.0.0.1/x", "file:///etc/passwd", "/relative.gif", "http://", "http://:80/x", "gopher://127.0.0.1:70/", "%zz"} {
		if f.Forward(u) {
			t.Errorf("Forward(%q) started", u)
		}
	}
	if got := counterValue(t, f.results.WithLabelValues(forwardBadURL)); got != 8 {
		t.Errorf("bad-url count %v, want 8", got)
	}
}

func TestForwardDropsWhenFullAndTimesOut(t *testing.T) {
	release := make(chan struct{})
	slow := newHitServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	f := newTestForwarder(t, ForwardConfig{Allow: onlyLoopback127001, Concurrency: 1, Timeout: 300 * time.Millisecond})
	if !f.Forward(slow.URL) {
		t.Fatal("first Forward not started")
	}
	if f.Forward(slow.URL) {
		t.Fatal("second Forward started beyond the concurrency limit")
	}
	closeForwarder(t, f)
	if got := counterValue(t, f.results.WithLabelValues(forwardDropped)); got != 1 {
		t.Errorf("dropped %v, want 1", got)
	}
	if got := counterValue(t, f.results.WithLabelValues(forwardError)); got != 1 {
		t.Errorf("error (timeout or cancel) %v, want 1", got)
	}
	if f.Forward(slow.URL) {
		t.Error("Forward started after Close")
	}
}

func TestIsPublicAddr(t *testing.T) {
	for s, want := range map[string]bool{
		"93.184.215.14":         true,
		"2606:2800:21f:cb07::1": true,
		"127.0.0.1":             false,
		"127.9.9.9":             false,
		"::1":                   false,
		"::ffff:127.0.0.1":      false,
		"10.1.2.3":              false,
		"172.16.0.1":            false,
		"192.168.1.1":           false,
		"169.254.169.254":       false, // cloud metadata
		"100.64.0.1":            false, // CGNAT
		"0.0.0.0":               false,
		"::":                    false,
		"224.0.0.1":             false,
		"255.255.255.255":       false,
		"198.18.0.1":            false,
		"192.0.2.1":             false,
		"fc00::1":               false,
		"fd12:3456::1":          false,
		"fe80::1":               false,
		"ff02::1":               false,
		"64:ff9b::a00:1":        false, // NAT64 of 10.0.0.1
		"2002:a00:1::1":         false, // 6to4 of 10.0.0.1
		"2001:db8::1":           false,
		"fec0::1":               false,
	} {
		if got := IsPublicAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("IsPublicAddr(%s) = %v, want %v", s, got, want)
		}
	}
	if IsPublicAddr(netip.Addr{}) {
		t.Error("zero Addr is public")
	}
}
