// Package testsupport holds the few helpers that tests of several packages
// share: a buffer that goroutines write while a test reads it, a trusted
// TLS certificate for loopback servers, and a reader of one Prometheus
// series. It depends on nothing of pixelgate's but internal/tlscert, so any
// package's tests may import it without an import cycle.
package testsupport

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/internal/tlscert"
	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

// SyncBuffer is a bytes.Buffer that server goroutines (loggers, process
// output copiers) write while a test reads it.
type SyncBuffer struct {
	// Max, when positive, bounds what is kept: a chatty process cannot grow
	// the test's memory without bound. Writes past it are counted as
	// written and dropped.
	Max int

	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Max > 0 && s.b.Len() >= s.Max {
		return len(p), nil
	}
	return s.b.Write(p)
}

// String returns everything kept so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TLS is a self-signed certificate for 127.0.0.1 (made by the relay's own
// tlscert.SelfSignedCertificate) and a client configuration that trusts it.
func TLS(t testing.TB) (*tlscert.Certificate, *tls.Config) {
	t.Helper()
	cert, err := tlscert.SelfSignedCertificate(t.TempDir(), "relay.test", time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := cert.TLSConfig().GetCertificate(nil)
	if err != nil || leaf.Leaf == nil {
		t.Fatalf("self-signed certificate without a parsed leaf: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf.Leaf)
	return cert, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// Gathered reads one series of a counter vector from reg.
func Gathered(t testing.TB, reg prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}

// StartSink starts a recording go-smtp server on loopback, closed when the
// test ends.
func StartSink(t testing.TB, opts smtpsink.Options) *smtpsink.Sink {
	t.Helper()
	s, err := smtpsink.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// goList runs go list with args in the test's directory.
func goList(t testing.TB, args ...string) []string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH: cannot list dependencies")
	}
	out, err := exec.Command(goBin, append([]string{"list"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.Fields(string(out))
}

// ForbidDeps fails the test for each package that the packages matching
// pattern (relative to the test's directory, e.g. "./...") build on, tests
// excluded, and that is one of forbidden or lies under one of them. The
// packages of pattern themselves are not counted, so a package may forbid
// its own parent ("proxy" from proxy/pixel).
func ForbidDeps(t testing.TB, pattern string, forbidden ...string) {
	t.Helper()
	ForbidDepsExcept(t, pattern, nil, forbidden...)
}

// ForbidDepsExcept is ForbidDeps with exceptions: the packages named in
// allowed (exactly, not what lies under them) pass even when they lie under
// a forbidden one, so a guard can let one small package of a forbidden tree
// through by name.
func ForbidDepsExcept(t testing.TB, pattern string, allowed []string, forbidden ...string) {
	t.Helper()
	self := map[string]bool{}
	for _, p := range goList(t, pattern) {
		self[p] = true
	}
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	deps := goList(t, "-deps", pattern)
	if len(deps) < len(self)+5 {
		t.Fatalf("go list -deps %s printed %d packages, fewer than the standard library alone: %q", pattern, len(deps), deps)
	}
	for _, d := range deps {
		if self[d] || ok[d] {
			continue
		}
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("%s depends on %s", pattern, d)
			}
		}
	}
}

// BoltStore is the embedded consent store in a temporary directory, its
// audit chain keyed by kr.
func BoltStore(t testing.TB, kr *consent.Keyring) consent.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "store.db"), boltstore.Options{StoreOptions: consent.StoreOptions{Audit: kr.AuditChain()}})
	if err != nil {
		t.Fatal(err)
	}
	return st
}
